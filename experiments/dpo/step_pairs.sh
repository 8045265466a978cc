#!/usr/bin/env bash
# Step-DPO pairs against whole-solution pairs, from the speedrun's SFT model, at the speedrun's DPO budget.
# The speedrun's DPO (whole-solution pairs from 800 longer problems, 100 steps) was a null or a loss in all its runs
# but one (experiments/speedrun/NOTES.md): its held-out reward accuracy rises while greedy EM falls. A whole wrong solution
# is pushed down on every token after its mistake, and those tokens follow from the mistake (often computed right).
# --step_pairs=True compares one step: the wrong answer's first step off the reference's path against the
# reference's step there, after the steps they share (tasks.step_pair; Lai et al. 2024).
# `step_pairs.sh own --own_steps=4`: the chosen step sampled from the model itself (Lai et al. §3), not the reference's.
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/{sft,dpo}, data/arith_long, data/arith):
#   DATA_DIR=../shared/data bash experiments/dpo/step_pairs.sh [NAME [extra dpo.py overrides...]]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
X=${1:-step}; shift || true
# the speedrun's DPO command (speedrun.sh, CPU scale) with step pairs
python3 dpo.py config/dpo_arith.py --init_from=$A/sft/best.pt --out_dir=out/dpo_$X --name=dpo_$X --task_dir=data/arith_long \
  --n_prompts=800 --max_iters=100 --eval_interval=50 --n_eval=100 --step_pairs=True "$@"
# paired on the same problems: SFT, the speedrun's DPO, this DPO (each against the one before; the last against SFT)
S=sft+tool=$A/sft/best.pt,dpo+tool=$A/dpo/best.pt,$X+tool=out/dpo_$X/best.pt
python3 eval.py alignment --name=dpo_${X}_long --stages=$S --task_dir=data/arith_long --n_problems=1000 --n_sampled=0 \
  --gsm8k_problems=0 --hh_pairs=0
python3 eval.py alignment --name=dpo_${X}_test --stages=$S --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0
python3 eval.py alignment --name=dpo_${X}_other --stages=$S --task_dir=data/arith_other --n_sampled=0 --gsm8k_problems=0 \
  --hh_pairs=0
