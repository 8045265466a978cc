#!/usr/bin/env bash
# Why step pairs lower greedy EM (step_pairs.sh: -7.0 points on the longer problems): the same pairs
# (out/dpo_step/pairs.json) under changes of the loss, and the
# speedrun's whole-solution pairs beside them, each scored against SFT on the 1,000 longer test
# problems (paired, exact McNemar):
#   cut      the rejected step scored only up to its first token unlike the chosen (--cut_rejected)
#   nll      the DPO term scaled to nothing (beta 1e-4): the NLL of the chosen steps alone (the SFT-like control)
#   nonll    DPO alone (--nll_weight=0)
#   lowlr    a quarter of the learning rate (5e-6)
#   whole_lowlr  the speedrun's own whole-solution pairs (out/speedrun_cpu/dpo/pairs.json) at that learning rate
#   whole_lowlr200  the same for 200 steps instead of 100
#   whole_nll    the speedrun's whole-solution pairs, NLL alone (beta 1e-4) at 2e-5: the NLL control with the
#                model's own right samples as the chosen side instead of the reference's steps
#   whole_nll5   the speedrun's whole-solution pairs, DPO + 5 x NLL at 2e-5 (the preference term a fifth as heavy)
#   whole_nll_s2 whole_nll with another seed (another order of the batches)
#   whole_b05    the speedrun's pairs, DPO + NLL with beta 0.5 (the preference term saturates at a smaller margin)
#   whole_ipo    the same with IPO's bounded loss (Azar et al. 2023), beta 0.5 (target margin 1)
#   big_nll      the NLL control on whole_big's 782 pairs from all 4,000 problems (step_pairs.sh whole_big first)
# Needs step_pairs.sh run first in this checkout:  DATA_DIR=../shared/data bash experiments/dpo/step_ablation.sh [VARIANTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
W=--pairs=$A/dpo/pairs.json  # the speedrun's own whole-solution pairs
declare -A ARGS=([cut]="--cut_rejected=True" [nll]="--beta=0.0001" [nonll]="--nll_weight=0" [lowlr]="--learning_rate=5e-6 --min_lr=5e-7"
  [whole_lowlr]="--learning_rate=5e-6 --min_lr=5e-7 $W"
  [whole_lowlr200]="--learning_rate=5e-6 --min_lr=5e-7 $W --max_iters=200 --eval_interval=100"
  [whole_nll]="--beta=0.0001 $W"
  [whole_nll5]="--nll_weight=5 $W"
  [whole_nll_s2]="--beta=0.0001 $W --seed=2"
  [whole_b05]="--beta=0.5 $W"
  [whole_ipo]="--loss_type=ipo --beta=0.5 $W"
  [big_nll]="--beta=0.0001 --pairs=out/dpo_whole_big/pairs.json")
for X in ${1:-cut nll nonll lowlr}; do
  python3 dpo.py config/dpo_arith.py --init_from=$A/sft/best.pt --out_dir=out/dpo_step_$X --name=dpo_step_$X \
    --task_dir=data/arith_long --pairs=out/dpo_step/pairs.json --max_iters=100 --eval_interval=50 --n_eval=100 ${ARGS[$X]}
  python3 eval.py alignment --name=dpo_step_${X}_long --stages=sft+tool=$A/sft/best.pt,step_$X+tool=out/dpo_step_$X/best.pt \
    --task_dir=data/arith_long --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0
done
