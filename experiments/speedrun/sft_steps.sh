#!/usr/bin/env bash
# Could the speedrun's SFT stage be shorter (it is 28% of the CPU run) and its DPO stage still gain? SFT with
# speedrun.sh's CPU flags but STEPS steps (the cosine schedule ends there; evals at thirds), then the DPO stage with
# speedrun.sh's CPU flags from it, scored paired against that SFT model on all 1,000 longer test problems, as the
# speedrun's eval_long scores its own (SFT at 1,200 steps: 0.792 -> 0.810, +1.8, p = 9e-4). Needs a finished CPU
# speedrun in this checkout (out/tiny, data/arith, data/arith_long). ~18 min for 900 steps on a 140 GFLOP/s 2-core
# host. Results: experiments/sft/, experiments/dpo/, experiments/alignment/ (speedrun_sft<STEPS>*).
#   DATA_DIR=../shared/data bash experiments/speedrun/sft_steps.sh [STEPS ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
eval "$(grep '^export MALLOC_' speedrun.sh)"  # the speedrun's malloc thresholds, from the one place they are set
# speedrun.sh's own CPU commands for the two stages, as `speedrun.sh plan NAME` prints them (bash-quoted); later
# overrides win
eval "SFT=($(SCALE=cpu bash speedrun.sh plan sft))"
eval "DPO=($(SCALE=cpu bash speedrun.sh plan dpo))"
for s in "${@:-900}"; do
  "${SFT[@]}" --init_from=out/tiny/best.pt --out_dir=out/sft_steps$s --name=speedrun_sft$s --max_iters=$s \
    --eval_interval=$((s / 3))
  "${DPO[@]}" --init_from=out/sft_steps$s/best.pt --out_dir=out/rft_sft$s --name=speedrun_rft_sft$s
  python3 eval.py alignment --stages=sft$s+tool=out/sft_steps$s/best.pt,rft_sft$s+tool=out/rft_sft$s/best.pt \
    --task_dir=data/arith_long --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 \
    --name=speedrun_sft${s}_long
done
