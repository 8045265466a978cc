#!/usr/bin/env bash
# Is the speedrun's DPO stage (the NLL half of iterative RPO: its own right answers, beta 1e-4) a gain for another draw
# of its samples? The stage with speedrun.sh's CPU flags from the same SFT model with seed 2 (new samples, new pairs,
# new batch order), scored paired against that SFT model on all 1,000 longer test problems, as the speedrun's
# eval_long scores seed 1337's (+1.8, p = 9e-4). Needs a finished CPU speedrun in this checkout
# (out/speedrun_cpu/sft, data/arith_long). ~14 min on a 183 GFLOP/s 2-core host. Results: experiments/dpo/ and
# experiments/alignment/ (speedrun_rft_seed*).
#   DATA_DIR=../shared/data bash experiments/speedrun/rft_seeds.sh [SEED ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
eval "$(grep '^export MALLOC_' speedrun.sh)"  # the speedrun's malloc thresholds, from the one place they are set
A=out/speedrun_cpu
# speedrun.sh's own CPU command for the stage, as `speedrun.sh plan dpo` prints it (bash-quoted); later overrides win
eval "DPO=($(SCALE=cpu bash speedrun.sh plan dpo))"
for s in "${@:-2}"; do
  "${DPO[@]}" --init_from=$A/sft/best.pt --seed=$s --out_dir=out/rft_seed$s --name=speedrun_rft_seed$s
  python3 eval.py alignment --stages=sft+tool=$A/sft/best.pt,rft_seed$s+tool=out/rft_seed$s/best.pt \
    --task_dir=data/arith_long --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 \
    --name=speedrun_rft_seed${s}_long
done
