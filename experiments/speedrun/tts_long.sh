#!/usr/bin/env bash
# Test-time compute on the speedrun's models, measured on enough problems: the speedrun's eval_tts scores 100 longer
# problems (effects of ~6 points); here tts.py's strategies (self-consistency, the verifier's weighted vote,
# best-of-N, gated resampling) on all 1,000 longer test problems x 16 samples of the speedrun's DPO-stage model
# (the NLL round), scored by the speedrun's verifier, each against greedy with the calculator (exact McNemar).
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long). ~9 min on 2 cores.
#   DATA_DIR=../shared/data bash experiments/speedrun/tts_long.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
python3 tts.py config/tts_arith.py --generator=$A/dpo/best.pt --verifier=$A/verifier/best.pt --task_dir=data/arith_long \
  --n_problems=1000 "--budgets=(1, 4, 16)" --name=speedrun_cpu_long
