#!/usr/bin/env bash
# Can the speedrun's verifier tell a problem's right answers from its wrong ones, measured on enough problems?
# The speedrun scores it on 300 longer problems x 8 samples (82 with right and wrong samples). Here: tts.py on all
# 1,000 longer test problems x 16 samples from the speedrun's DPO model, scored by (A) the speedrun's verifier and
# (B) one trained on 5x the problems and 2x the samples (1,000 x 16 from data/arith_long's training split), then the
# two paired by problem (experiments/verifier/within_problem.py); then (C), B's samples with only the problems that
# have right and wrong ones, paired against B. Needs a finished CPU speedrun in this checkout
# (out/speedrun_cpu/, data/arith_long). Results: experiments/tts/within_long_{a,b}.json,
# experiments/verifier/{speedrun_cpu_big,within_long}.json (and _c, speedrun_cpu_mixed, within_long_mixed).
#   DATA_DIR=../shared/data bash experiments/verifier/within_long.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
python3 verifier.py config/verifier_arith.py --generator=$A/dpo/best.pt --out_dir=out/verifier_big \
  --task_dir=data/arith_long --n_prompts=1000 --n_val_prompts=100 --n_samples=16 --max_iters=400 --eval_interval=200 \
  --name=speedrun_cpu_big
T=(config/tts_arith.py --generator=$A/dpo/best.pt --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)")
python3 tts.py "${T[@]}" --verifier=$A/verifier/best.pt --name=within_long_a
python3 tts.py "${T[@]}" --verifier=out/verifier_big/best.pt --name=within_long_b
python3 experiments/verifier/within_problem.py experiments/tts/within_long_a.json experiments/tts/within_long_b.json \
  within_long
# (C) B's samples, trained only on the problems that have right and wrong ones (mixed_only: what reranking needs)
python3 verifier.py config/verifier_arith.py --generator=$A/dpo/best.pt --out_dir=out/verifier_mixed \
  --samples_from=out/verifier_big/data.json --mixed_only=True --task_dir=data/arith_long --n_val_prompts=100 \
  --max_iters=400 --eval_interval=200 --name=speedrun_cpu_mixed
python3 tts.py "${T[@]}" --verifier=out/verifier_mixed/best.pt --name=within_long_c
python3 experiments/verifier/within_problem.py experiments/tts/within_long_b.json experiments/tts/within_long_c.json \
  within_long_mixed
