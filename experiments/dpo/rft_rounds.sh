#!/usr/bin/env bash
# Does fine-tuning on the model's own right answers compound over rounds? (the NLL half of iterative RPO,
# Pang et al. 2024; rejection-sampling fine-tuning). Round 1 is step_ablation.sh big_nll: the chosen side of
# whole_big's 782 pairs (4 samples at T = 0.8 of each of the 4,000 longer training problems, from the speedrun's
# SFT model), their NLL alone (beta 1e-4 leaves the DPO term at nothing), 2e-5, 100 steps: +1.8 on the 1,000
# longer test problems (p = 9e-4). Round r (2 ... N) samples the same problems again from round r-1's model
# (seed r) and trains the same way from it; rounds already trained are kept. Scored paired on the same problems:
# SFT and every round, each against the one before.
# Needs step_pairs.sh whole_big and step_ablation.sh big_nll run first in this checkout:
#   DATA_DIR=../shared/data bash experiments/dpo/rft_rounds.sh [N=3]
# `rft_rounds.sh more`: the plateau after round 3 is the problems the model gets wrong in all 4 samples; a fourth
# round from round 3 with 8 samples each of 2,000 of the problems instead (the same number of samples).
# `rft_rounds.sh table`: issue #16's stage table on the 1,000 longer test problems, every stage paired against the
# one before: base -> SFT -> SFT with the calculator -> round 3 -> round 3 + the verifier at N = 4, 8, 16 (its
# strategy chosen on 100 val problems). The verifier is more_samples.sh's H (4000 1200 most), trained on the
# speedrun DPO model's samples, not round 3's; `rft_rounds.sh table r3` first trains one as H is trained, on round
# 3's own samples (out/verifier_rft3, ~40 min), and scores the same table with it; `table r3 test` scores it on
# our own test set (data/arith) instead of the longer problems. `rft_rounds.sh tts`: test-time compute on round 3
# (self-consistency, the verifier's vote, best-of-N, gated resampling) on the 1,000 longer problems, after table r3.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
train_round() {  # FROM OUT SEED N_PROMPTS N_SAMPLES: the NLL of the chosen sides alone (beta 1e-4), 2e-5, 100 steps
  python3 dpo.py config/dpo_arith.py --init_from=$1/best.pt --out_dir=$2 --name="$(basename "$2")" \
    --task_dir=data/arith_long --greedy_pairs=False --n_prompts=$4 --n_samples=$5 --beta=0.0001 --max_iters=100 \
    --eval_interval=50 --n_eval=100 --seed=$3
}
score() {  # NAME STAGES [extra eval.py overrides]: greedy EM of every stage on 1,000 problems, paired
  python3 eval.py alignment --name=$1 --stages=$2 --n_problems=1000 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 "${@:3}"
}
if [ "${1:-}" = table ]; then
  V=out/verifier_most NAME=stage_table_long
  if [ "${2:-}" = r3 ]; then  # `table r3`: a verifier trained as H is, on round 3's own samples
    V=out/verifier_rft3 NAME=stage_table_long_r3v
    [ -f $V/best.pt ] || python3 verifier.py config/verifier_arith.py --generator=out/rft_round3/best.pt \
      --task_dir=data/arith_long --n_val_prompts=100 --step_labels=True --n_prompts=4000 --n_samples=16 \
      --balance=False --max_iters=1200 --eval_interval=600 --out_dir=$V --name=rft3_samples
  fi
  SET=(--task_dir=data/arith_long)
  if [ "${3:-}" = test ]; then SET=(); NAME=${NAME/long/test}; fi  # `table r3 test`: on our own test set instead
  score $NAME base=out/tiny/best.pt,sft=$A/sft/best.pt,sft+tool=$A/sft/best.pt,rft3+tool=out/rft_round3/best.pt \
    "${SET[@]}" --verifier=$V/best.pt --n_sampled=1000 --n_samples=16 --sampled_stages=last
  exit 0
fi
if [ "${1:-}" = tts ]; then  # `rft_rounds.sh tts`: tts.py's strategies on round 3 with its own verifier (table r3)
  python3 tts.py config/tts_arith.py --generator=out/rft_round3/best.pt --verifier=out/verifier_rft3/best.pt \
    --task_dir=data/arith_long --n_problems=1000 "--budgets=(1, 4, 16)" --name=rft3_long
  exit 0
fi
if [ "${1:-}" = more ]; then
  train_round out/rft_round3 out/rft_more 5 2000 8
  score rft_more_long sft+tool=$A/sft/best.pt,rft3+tool=out/rft_round3/best.pt,more+tool=out/rft_more/best.pt \
    --task_dir=data/arith_long
  exit 0
fi
PREV=out/dpo_step_big_nll
S=sft+tool=$A/sft/best.pt,rft1+tool=$PREV/best.pt
for r in $(seq 2 "${1:-3}"); do
  [ -f out/rft_round$r/best.pt ] || train_round $PREV out/rft_round$r $r 4000 4
  PREV=out/rft_round$r
  S=$S,rft$r+tool=$PREV/best.pt
done
score rft_rounds_long $S --task_dir=data/arith_long
score rft_rounds_test $S
