#!/usr/bin/env bash
# Is the speedrun's DPO round a gain, a null or a loss? The same round (speedrun.sh's CPU flags) from one speedrun's
# SFT model with other seeds (new problems drawn, new samples), and the same with 40 steps instead of 100 (~2.5
# epochs over its ~280 training pairs instead of ~6); every model scored, paired, on 500 problems of the longer
# problems and of our test set; and two other recipes from the same SFT model. Needs a finished CPU speedrun in
# this checkout (out/speedrun_cpu/, data/arith_long). ~30 min on a 435 GFLOP/s 2-core host. Results:
# experiments/speedrun/dpo_pool/{dpo,alignment}/ (*seed*, seeds*, p3*).
#   DATA_DIR=../shared/data bash experiments/speedrun/dpo_seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
eval "$(grep '^export MALLOC_' speedrun.sh)"  # the speedrun's malloc thresholds, from the one place they are set
A=out/speedrun_cpu; R=out/dpo_seeds; RES=experiments/speedrun/dpo_pool
D=(config/dpo_arith.py --init_from=$A/sft/best.pt --results_dir=$RES --task_dir=data/arith_long --greedy_pairs=False
   --n_prompts=800 --n_eval=100)
for s in 2 3; do
  python3 dpo.py "${D[@]}" --max_iters=100 --eval_interval=50 --seed=$s --out_dir=$R/seed$s --name=speedrun_dpo_seed$s
done
for s in 1337 2 3; do
  python3 dpo.py "${D[@]}" --max_iters=40 --warmup_iters=5 --eval_interval=20 --seed=$s --out_dir=$R/dpo40_seed$s \
    --name=speedrun_dpo40_seed$s
done
# two other recipes from the same SFT model: greedy pairs at T = 1.0 on 1,500 problems; two-sample pairs at lr 1e-5
python3 dpo.py "${D[@]}" --max_iters=100 --eval_interval=50 --greedy_pairs=True --temperature=1.0 --n_prompts=1500 \
  --out_dir=$R/mixg --name=p3_mixg
python3 dpo.py "${D[@]}" --max_iters=100 --eval_interval=50 --learning_rate=1e-5 --min_lr=1e-6 --out_dir=$R/mix2_lr1 \
  --name=p3_mix2_lr1
table() {  # NAME STAGES: on the longer problems and on our test set
  local E=(--stages=$2 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 --n_problems=500 --results_dir=$RES)
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_long --name=${1}_long
  python3 eval.py alignment "${E[@]}" --name=${1}_test
}
table p3 sft+tool=$A/sft/best.pt,mixg+tool=$R/mixg/best.pt,mix2_lr1+tool=$R/mix2_lr1/best.pt
table seeds sft+tool=$A/sft/best.pt,dpo+tool=$A/dpo/best.pt,dpo_seed2+tool=$R/seed2/best.pt,dpo_seed3+tool=$R/seed3/best.pt
table seeds40 sft+tool=$A/sft/best.pt,dpo40_seed1337+tool=$R/dpo40_seed1337/best.pt,dpo40_seed2+tool=$R/dpo40_seed2/best.pt,dpo40_seed3+tool=$R/dpo40_seed3/best.pt
rm -f $RES/alignment/{seeds,p3}*_*+tool.json $RES/alignment/{seeds,p3}*_errors.jsonl  # the summaries stay
