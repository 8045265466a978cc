#!/usr/bin/env bash
# Does the SFT model read the question, or match the sentence shapes it was trained on? SFT runs from the same
# pretrained model and seed that differ only in their training problems: data/arith (6 wordings per sentence kind)
# and data/arith_rich (a separate draw with ~3x the wordings, openers, same-object distractors and distractors before
# the start: prepare.py --wordings=rich, no question shared with data/arith), at the same 1,200 steps and at 2,400,
# and data/arith_open (--wordings=open: the rich wordings with open-class names and objects, and pronouns).
# All are scored, paired, on data/arith's test set, its held-out wordings (test_heldout: sentences no run saw), the
# harder split, the rich draw's own test set and a separately written generator (data/arith_other). Then one round
# of DPO from the rich SFT model, on pairs from a rich draw of short and long problems.
# Jobs that do not depend on each other run side by side, one thread each. About 2.5 hours on 2 CPUs; a finished
# stage (its summary.json) is skipped.
#   DATA_DIR=../shared/data bash experiments/alignment/chain_rich_cpu.sh
source "$(dirname "$0")/common.sh"
rich_draws  # the rich, rich 1-5-step (DPO's problems), open and made-up draws and the other generator
once out/tiny/summary.json python3 train.py config/train_tiny.py
export OMP_NUM_THREADS=1
once out/sft_arith/summary.json python3 sft.py config/sft_arith.py --name=sft_arith_chain_rich > out/sft_base.log 2>&1 &
once out/sft_arith_rich/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_rich \
  --out_dir=out/sft_arith_rich > out/sft_rich.log 2>&1 &
wait
once out/sft_arith_rich_long/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_rich \
  --max_iters=2400 --eval_interval=800 --out_dir=out/sft_arith_rich_long > out/sft_rich_long.log 2>&1 &
once out/dpo_arith_rich/summary.json python3 dpo.py config/dpo_arith.py --init_from=out/sft_arith_rich/best.pt \
  --task_dir=data/arith_rich_mix --n_prompts=3000 --temperature=0.8 --learning_rate=2e-5 --min_lr=2e-6 \
  --greedy_pairs=False \
  --out_dir=out/dpo_arith_rich > out/dpo_rich.log 2>&1 &
once out/sft_arith_open/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_open \
  --out_dir=out/sft_arith_open > out/sft_open.log 2>&1 &
wait
once out/sft_arith_long/summary.json python3 sft.py config/sft_arith.py --max_iters=2400 --eval_interval=800 \
  --name=sft_arith_long_chain_rich --out_dir=out/sft_arith_long > out/sft_long.log 2>&1 &
unset OMP_NUM_THREADS
S=sft+tool=out/sft_arith/best.pt,sft_rich+tool=out/sft_arith_rich/best.pt,sft_rich_long+tool=out/sft_arith_rich_long/best.pt
S=$S,sft_open+tool=out/sft_arith_open/best.pt
E=(--stages=$S --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment "${E[@]}" --name=arith_cpu_rich
python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_rich --name=arith_cpu_richtest_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_open --name=arith_cpu_opentest_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=arith_cpu_other_rich
# DPO's best.pt is its best val EM among the steps after 0 (here the last, so the two rows agree); ckpt.pt its last
D=sft_rich+tool=out/sft_arith_rich/best.pt,dpo_rich+tool=out/dpo_arith_rich/best.pt,dpo_rich_last+tool=out/dpo_arith_rich/ckpt.pt
D=(--stages=$D --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment "${D[@]}" --name=arith_cpu_dpo_rich
python3 eval.py alignment "${D[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_dpo_rich
python3 eval.py alignment "${D[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_dpo_rich
python3 eval.py alignment "${D[@]}" --task_dir=data/arith_rich --name=arith_cpu_richtest_dpo_rich
python3 eval.py alignment "${D[@]}" --task_dir=data/arith_other --name=arith_cpu_other_dpo_rich
wait  # the 2,400-step SFT on data/arith: the rich wordings against ours at equal steps
L=(--stages=sft_long+tool=out/sft_arith_long/best.pt,sft_rich_long+tool=out/sft_arith_rich_long/best.pt --n_sampled=0
   --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment "${L[@]}" --name=arith_cpu_long_rich
python3 eval.py alignment "${L[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_long_rich
python3 eval.py alignment "${L[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_long_rich
python3 eval.py alignment "${L[@]}" --task_dir=data/arith_other --name=arith_cpu_other_long_rich
