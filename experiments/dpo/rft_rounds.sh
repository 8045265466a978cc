#!/usr/bin/env bash
# Does fine-tuning on the model's own right answers compound over rounds? (the NLL half of iterative RPO,
# Pang et al. 2024; rejection-sampling fine-tuning). Round 1 is step_ablation.sh big_nll: the chosen side of
# whole_big's 782 pairs (4 samples at T = 0.8 of each of the 4,000 longer training problems, from the speedrun's
# SFT model), their NLL alone (beta 1e-4 leaves the DPO term at nothing), 2e-5, 100 steps: +1.8 on the 1,000
# longer test problems (p = 9e-4). Round 2 samples the same problems again from round 1's model (seed 2) and
# trains the same way from it. Scored paired on the same problems: SFT, round 1, round 2.
# Needs step_pairs.sh whole_big and step_ablation.sh big_nll run first in this checkout:
#   DATA_DIR=../shared/data bash experiments/dpo/rft_rounds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
R1=out/dpo_step_big_nll
python3 dpo.py config/dpo_arith.py --init_from=$R1/best.pt --out_dir=out/rft_round2 --name=rft_round2 --task_dir=data/arith_long \
  --greedy_pairs=False --n_prompts=4000 --n_samples=4 --beta=0.0001 --max_iters=100 --eval_interval=50 --n_eval=100 --seed=2
S=sft+tool=$A/sft/best.pt,rft1+tool=$R1/best.pt,rft2+tool=out/rft_round2/best.pt
python3 eval.py alignment --name=rft_rounds_long --stages=$S --task_dir=data/arith_long --n_problems=1000 --n_sampled=0 \
  --gsm8k_problems=0 --hh_pairs=0
python3 eval.py alignment --name=rft_rounds_test --stages=$S --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0
