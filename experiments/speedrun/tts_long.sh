#!/usr/bin/env bash
# Test-time compute on the speedrun's models, measured on enough problems: the speedrun's eval_tts scores 100 longer
# problems (effects of ~6 points); here tts.py's strategies (self-consistency, the verifier's weighted vote,
# best-of-N, gated resampling) on all 1,000 longer test problems x 16 samples of the speedrun's DPO-stage model
# (the NLL round), scored by the speedrun's verifier, each against greedy with the calculator (exact McNemar).
# `big`: the same on 4,000 more longer test problems, drawn the speedrun's way with another seed and none of the
# questions of data/arith or data/arith_long (-> data/arith_long_big): on 1,000 the votes gained +0.5-0.6 points
# with p = 0.18-0.4, an effect that needs ~4x the problems to resolve.
# Needs a finished CPU speedrun in this checkout (out/speedrun_cpu/, data/arith_long). ~9 min on 2 cores (big: ~4x).
#   DATA_DIR=../shared/data bash experiments/speedrun/tts_long.sh [big]
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
DIR=data/arith_long N=1000 NAME=speedrun_cpu_long
if [ "${1:-}" = big ]; then
  DIR=data/arith_long_big N=4000 NAME=speedrun_cpu_long_big
  python3 data/arith/prepare.py --min_steps=1 --max_steps=5 --distractors=3 --n_train=0 --n_val=0 --n_test=4000 \
    --n_heldout=0 --seed=556 --avoid=data/arith,data/arith_long --out_dir=$DIR
fi
python3 tts.py config/tts_arith.py --generator=$A/dpo/best.pt --verifier=$A/verifier/best.pt --task_dir=$DIR \
  --n_problems=$N "--budgets=(1, 4, 16)" --name=$NAME
