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
