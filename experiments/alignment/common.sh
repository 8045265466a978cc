# Sourced by the chain scripts: the shared setup (the repo root, OMP policy, the skip-if-done helper) and the data
# every chain needs: the 8k-token WikiText-2 for pretraining, the arith task and its harder test split.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export OMP_WAIT_POLICY=PASSIVE
once() { [ -f "$1" ] && echo "== $1 exists, skipping" || { shift; echo "== $*"; "$@"; }; }
HARD=(--min_steps=3 --max_steps=5 --distractors=3)  # the harder split: 3-5 steps and up to 3 distractors
once data/wikitext2_8k/meta.json python3 data/wikitext2/prepare.py --tokenizer=gpt2_8k
python3 data/arith/prepare.py
# its val problems choose the verifier's strategy, its 1,000 test problems score the stage tables
python3 data/arith/prepare.py "${HARD[@]}" --n_train=0 --n_val=200 --n_heldout=0 --seed=4321 --out_dir=data/arith_hard
# rich_draws: the draws of the rich-wording chains (chain_rich_cpu.sh, chain_greedy_cpu.sh, gpu/chain.sh), the same
# seeds everywhere: ~3x our wordings (data/arith_rich); a rich 1-5-step draw with up to 3 distractors, where the
# model errs without giving up the short problems (DPO's pool, data/arith_rich_mix); open-class names and objects
# (data/arith_open); invented names (data/arith_made_up); the separately written generator (data/arith_other)
rich_draws() {
  python3 data/arith/prepare.py --wordings=rich --avoid=data/arith --seed=99 --n_heldout=0 --out_dir=data/arith_rich
  python3 data/arith/prepare.py --wordings=rich --min_steps=1 --max_steps=5 --distractors=3 --n_train=4000 \
    --n_val=300 --n_test=0 --n_heldout=0 --seed=555 --avoid=data/arith,data/arith_hard,data/arith_rich \
    --out_dir=data/arith_rich_mix
  python3 data/arith/prepare.py --wordings=open --avoid=data/arith --seed=98 --n_heldout=0 --out_dir=data/arith_open
  python3 data/arith/prepare.py --wordings=made_up --avoid=data/arith --seed=97 --n_heldout=0 \
    --out_dir=data/arith_made_up
  python3 data/arith_other/prepare.py
}
# mix_pool OUT N_TRAIN N_VAL: DPO's "both" pool, the first N_TRAIN training (N_VAL val) problems of the open and the
# rich 1-5-step draws (data/arith_open, data/arith_rich_mix), shuffled together
mix_pool() {
  mkdir -p "$1" && python3 - "$@" <<'PY'
import random, sys
out, n_train, n_val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(0)
for split, n in (('train', n_train), ('val', n_val)):
    rows = [l for d in ('data/arith_open', 'data/arith_rich_mix') for l in open(f'{d}/{split}.jsonl').readlines()[:n]]
    rng.shuffle(rows)
    open(f'{out}/{split}.jsonl', 'w').writelines(rows)
open(f'{out}/test.jsonl', 'w').close()
PY
}
# score SUFFIX STAGES SET...: the stage table of STAGES (greedy, no sampling) on each test SET, written to
# experiments/alignment/arith_cpu[_SET]_SUFFIX.json. SET: test (data/arith), heldout (its held-out wordings), hard,
# richtest, opentest, madeup, other (the separately written generator)
score() {
  local suffix=$1 E=(--stages=$2 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0) set dir
  shift 2
  for set in "$@"; do
    case $set in
      test) python3 eval.py alignment "${E[@]}" --name=arith_cpu_$suffix; continue ;;
      heldout) python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_$suffix; continue ;;
      hard) dir=arith_hard ;; richtest) dir=arith_rich ;; opentest) dir=arith_open ;; madeup) dir=arith_made_up ;;
      other) dir=arith_other ;;
      *) echo "score: unknown test set '$set'" >&2; return 1 ;;
    esac
    python3 eval.py alignment "${E[@]}" --task_dir=data/$dir --name=arith_cpu_${set}_$suffix
  done
}
