#!/usr/bin/env bash
# Does more data help the verifier tell a problem's right answers from its wrong ones? step_labels.sh's D trains on
# 2,689 samples: 1,000 problems x 16 draws, deduplicated (most problems repeat one answer), then balanced, which
# throws away about half of the distinct wrong answers. (G) D's recipe (step labels) on twice the problems with every
# distinct sample kept (--balance=False) and twice the steps, scored on the same 1,000 longer test problems x 16
# samples and paired by problem against D as retrained by pair_loss.sh on the same host (experiments/tts/pairs_d.json).
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long).
# Optional arguments PROBLEMS ITERS NAME (default 2000 800 more: G); (H) all 4,000 training problems, 1,200 steps:
#   DATA_DIR=../shared/data bash experiments/verifier/more_samples.sh [4000 1200 most]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
P=${1:-2000}; I=${2:-800}; X=${3:-more}
python3 verifier.py config/verifier_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_val_prompts=100 \
  --step_labels=True --n_prompts=$P --n_samples=16 --balance=False --max_iters=$I --eval_interval=$((I / 2)) \
  --out_dir=out/verifier_$X --name=${X}_samples
T=(config/tts_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)")
python3 tts.py "${T[@]}" --verifier=out/verifier_$X/best.pt --name=${X}_g
python3 experiments/verifier/within_problem.py experiments/tts/pairs_d.json experiments/tts/${X}_g.json ${X}_samples_paired
