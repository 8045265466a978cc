#!/usr/bin/env bash
# Does a ranking term help the verifier tell a problem's right answers from its wrong ones? Outcome and step labels
# (step_labels.sh) train every sample on its own, so part of what the trunk learns is how hard a problem is, which
# cannot rerank. Here every batch is (right, wrong) pairs of one training problem and the loss adds a Bradley-Terry
# term on their scores (verifier.py --pair_loss). Same generator, samples, steps and test problems as
# step_labels.sh's D (step labels, 400 steps), which this script retrains first (its samples are redrawn with the
# same seed: its val metrics should equal experiments/verifier/steps_labels.json's); then (F) D + --pair_loss=1,
# scored on the same 1,000 longer test problems x 16 samples, paired by problem against D's committed tts file.
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long).
#   DATA_DIR=../shared/data bash experiments/verifier/pair_loss.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
V=(config/verifier_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_val_prompts=100
   --max_iters=400 --eval_interval=200 --step_labels=True)
python3 verifier.py "${V[@]}" --out_dir=out/verifier_steps --n_prompts=1000 --n_samples=16 --name=pairs_base
python3 verifier.py "${V[@]}" --out_dir=out/verifier_pairs --samples_from=out/verifier_steps/data.json \
  --pair_loss=1.0 --name=pairs_labels
T=(config/tts_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)")
python3 tts.py "${T[@]}" --verifier=out/verifier_pairs/best.pt --name=pairs_f
python3 experiments/verifier/within_problem.py experiments/tts/steps_d.json experiments/tts/pairs_f.json pair_loss
# D as retrained above (this host), scored the same way: F paired against it too
python3 tts.py "${T[@]}" --verifier=out/verifier_steps/best.pt --name=pairs_d
python3 experiments/verifier/within_problem.py experiments/tts/pairs_d.json experiments/tts/pairs_f.json pair_loss_same_host
