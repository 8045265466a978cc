#!/usr/bin/env bash
# Does more data help the verifier tell a problem's right answers from its wrong ones? step_labels.sh's D trains on
# 2,689 samples: 1,000 problems x 16 draws, deduplicated (most problems repeat one answer), then balanced, which
# throws away about half of the distinct wrong answers. (G) D's recipe (step labels) on twice the problems with every
# distinct sample kept (--balance=False) and twice the steps, scored on the same 1,000 longer test problems x 16
# samples and paired by problem against D as retrained by pair_loss.sh on the same host (experiments/tts/pairs_d.json).
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long).
#   DATA_DIR=../shared/data bash experiments/verifier/more_samples.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
python3 verifier.py config/verifier_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_val_prompts=100 \
  --step_labels=True --n_prompts=2000 --n_samples=16 --balance=False --max_iters=800 --eval_interval=400 \
  --out_dir=out/verifier_more --name=more_samples
T=(config/tts_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)")
python3 tts.py "${T[@]}" --verifier=out/verifier_more/best.pt --name=more_g
python3 experiments/verifier/within_problem.py experiments/tts/pairs_d.json experiments/tts/more_g.json more_samples_paired
