#!/usr/bin/env bash
# Must SFT skip the tokens the calculator writes? The speedrun's SFT (`--tool=True`) has no loss on the results the
# calculator writes ('result>>'), so decoded without the calculator it is base-level (0.023 against 0.018 on the
# longer problems, experiments/alignment/stage_table_long.json): the issue's stage table wants SFT alone, then the
# calculator, each a gain. Here the same SFT run with the loss on every token (`--tool=False`: the model learns to
# write the results too), scored without and with the calculator, and paired against the masked SFT with it:
#   base -> SFT (results in the loss) -> the same with the calculator -> the masked SFT with the calculator
# on our test set, the 1,000 longer problems and the other generator. Needs a finished CPU speedrun in this checkout
# (out/tiny, out/speedrun_cpu/sft, data/arith_long, data/arith_other). ~15 min on 2 cores.
#   DATA_DIR=../shared/data bash experiments/sft/result_loss.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
A=out/speedrun_cpu
# the speedrun's SFT command (speedrun.sh's SFT=(...)), the loss on every token
[ -f out/sft_results/best.pt ] || python3 sft.py config/sft_arith.py --init_from=out/tiny/best.pt --tool=False \
  --out_dir=out/sft_results --name=sft_results --n_eval=100 --max_iters=1200 --eval_interval=400
S=base=out/tiny/best.pt,sft_results=out/sft_results/best.pt,sft_results+tool=out/sft_results/best.pt,sft+tool=$A/sft/best.pt
E=(--stages=$S --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment --name=result_loss_test "${E[@]}" --n_problems=1000
python3 eval.py alignment --name=result_loss_long "${E[@]}" --n_problems=1000 --task_dir=data/arith_long
python3 eval.py alignment --name=result_loss_other "${E[@]}" --task_dir=data/arith_other
