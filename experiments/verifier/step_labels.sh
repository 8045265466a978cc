#!/usr/bin/env bash
# Does labelling where a wrong answer goes wrong help the verifier tell a problem's right answers from its wrong
# ones? Two verifiers trained on the same samples (1,000 problems x 16 of data/arith_long's training split, from the
# speedrun's DPO model): (B) the outcome at every token, as within_long.sh's B; (D) --step_labels=True, a wrong
# answer's tokens before its first departure from the reference labelled right (tasks.first_departure). Both score
# the same 1,000 longer test problems x 16 samples (tts.py); experiments/verifier/within_problem.py pairs their
# within-problem AUROC by problem. Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long).
# Then (E): D trained twice as long, paired against D. Results: experiments/verifier/{steps_outcome,steps_labels,
# steps_labels_long,step_labels,step_labels_long}.json, experiments/tts/steps_{b,d,e}.json.
#   DATA_DIR=../shared/data bash experiments/verifier/step_labels.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
V=(config/verifier_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_val_prompts=100
   --max_iters=400 --eval_interval=200)
python3 verifier.py "${V[@]}" --out_dir=out/verifier_outcome --n_prompts=1000 --n_samples=16 --name=steps_outcome
python3 verifier.py "${V[@]}" --out_dir=out/verifier_steps --samples_from=out/verifier_outcome/data.json \
  --step_labels=True --name=steps_labels
T=(config/tts_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)")
python3 tts.py "${T[@]}" --verifier=out/verifier_outcome/best.pt --name=steps_b
python3 tts.py "${T[@]}" --verifier=out/verifier_steps/best.pt --name=steps_d
python3 experiments/verifier/within_problem.py experiments/tts/steps_b.json experiments/tts/steps_d.json step_labels
# (E) D trained twice as long (800 steps), paired against D
python3 verifier.py "${V[@]}" --out_dir=out/verifier_steps_long --samples_from=out/verifier_outcome/data.json \
  --step_labels=True --max_iters=800 --eval_interval=400 --name=steps_labels_long
python3 tts.py "${T[@]}" --verifier=out/verifier_steps_long/best.pt --name=steps_e
python3 experiments/verifier/within_problem.py experiments/tts/steps_d.json experiments/tts/steps_e.json step_labels_long
