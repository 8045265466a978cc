#!/usr/bin/env bash
# Which pool of problems gives the CPU speedrun's DPO round enough pairs (experiments/speedrun/NOTES.md). From the
# speedrun's own pretraining and SFT commands, one SFT model; then DPO + NLL (config/dpo_arith.py at the speedrun's
# budget: 100 steps) on four pools, each scored, paired, on 500 problems of our test set, the longer problems, the
# open draw and the separately written generator. ~25 min on a 450 GFLOP/s 2-core host. Results in
# experiments/speedrun/dpo_pool/ (copied there from the run's experiments/alignment/ and --results_dir).
#   DATA_DIR=../shared/data bash experiments/speedrun/dpo_pool.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
eval "$(grep '^export MALLOC_' speedrun.sh)"  # the speedrun's malloc thresholds, from the one place they are set
R=out/dpo_pool; RES=$R/results
python3 data/wikitext2/prepare.py --tokenizer=gpt2_8k
python3 data/arith/prepare.py
python3 data/arith/prepare.py --wordings=open --avoid=data/arith --seed=98 --n_heldout=0 --out_dir=data/arith_open
python3 data/arith_other/prepare.py
# the longer problems (speedrun.sh's data/arith_long; named arith_mix in the result files)
python3 data/arith/prepare.py --min_steps=1 --max_steps=5 --distractors=3 --n_train=4000 --n_val=300 --n_test=1000 \
  --n_heldout=0 --seed=555 --avoid=data/arith --out_dir=data/arith_mix
# "both": the first 2,000 training (150 val) problems of the open draw and of the longer problems, shuffled
mkdir -p data/arith_both && python3 - <<'PY'
import random
rng = random.Random(0)
for split, n in (('train', 2000), ('val', 150)):
    rows = [l for d in ('data/arith_open', 'data/arith_mix') for l in open(f'{d}/{split}.jsonl').readlines()[:n]]
    rng.shuffle(rows)
    open(f'data/arith_both/{split}.jsonl', 'w').writelines(rows)
open('data/arith_both/test.jsonl', 'w').close()
PY
python3 train.py config/train_tiny.py --out_dir=$R/tiny --init_from=scratch
python3 sft.py config/sft_arith.py --init_from=$R/tiny/best.pt --out_dir=$R/sft --name=probe_sft --results_dir=$RES \
  --n_eval=100 --max_iters=1200 --eval_interval=400
D=(config/dpo_arith.py --init_from=$R/sft/best.pt --results_dir=$RES --max_iters=100 --eval_interval=50 --n_eval=100)
python3 dpo.py "${D[@]}" --greedy_pairs=True --n_prompts=800 --task_dir=data/arith_open --out_dir=$R/dpo_open --name=probe_open
python3 dpo.py "${D[@]}" --greedy_pairs=True --n_prompts=800 --task_dir=data/arith_both --out_dir=$R/dpo_both --name=probe_both
python3 dpo.py "${D[@]}" --greedy_pairs=False --n_prompts=800 --task_dir=data/arith_mix --out_dir=$R/dpo_mix2 --name=probe_mix2
python3 dpo.py "${D[@]}" --greedy_pairs=True --temperature=1.0 --n_prompts=1500 --task_dir=data/arith_mix \
  --out_dir=$R/dpo_mixg --name=probe_mixg
table() {  # NAME STAGES: the stages on our test set, the longer problems, the other generator (and the open draw)
  local E=(--stages=$2 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 --n_problems=500)
  python3 eval.py alignment "${E[@]}" --name=${1}_test
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_mix --name=${1}_mix
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=${1}_other
  [ "$1" = probe2 ] || python3 eval.py alignment "${E[@]}" --task_dir=data/arith_open --name=${1}_open
}
table probe sft+tool=$R/sft/best.pt,open+tool=$R/dpo_open/best.pt,both+tool=$R/dpo_both/best.pt
table probe2 sft+tool=$R/sft/best.pt,mix2+tool=$R/dpo_mix2/best.pt,mixg+tool=$R/dpo_mixg/best.pt
O=experiments/speedrun/dpo_pool; mkdir -p $O/alignment $O/dpo $O/sft
mv experiments/alignment/probe{,2}_{test,mix,other}.json experiments/alignment/probe_open.json $O/alignment/
rm -f experiments/alignment/probe{,2}_*  # the per-stage files and error lists stay out of the summary
cp $RES/dpo/probe_*.json $O/dpo/; cp $RES/sft/probe_sft.json $O/sft/
