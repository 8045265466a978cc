#!/usr/bin/env bash
# Does the SFT model read the question, or match the sentence shapes it was trained on? Two SFT runs from the same
# pretrained model, same steps and seed, differing only in their training problems: data/arith (6 wordings per
# sentence kind) and data/arith_rich (a separate draw with ~3x the wordings, openers, same-object distractors and
# distractors before the start: prepare.py --wordings=rich, no question shared with data/arith). Both are scored,
# paired, on data/arith's test set, its held-out wordings (test_heldout: sentences neither run saw), the harder
# split, and the rich draw's own test set. The two SFT runs train side by side, one thread each.
# About 45 minutes on 2 CPUs; a finished stage (its summary.json) is skipped.
#   DATA_DIR=../shared/data bash experiments/alignment/chain_rich_cpu.sh
source "$(dirname "$0")/common.sh"
python3 data/arith/prepare.py --wordings=rich --avoid=data/arith --seed=99 --n_heldout=0 --out_dir=data/arith_rich
once out/tiny/summary.json python3 train.py config/train_tiny.py
export OMP_NUM_THREADS=1
once out/sft_arith/summary.json python3 sft.py config/sft_arith.py --name=sft_arith_chain_rich > out/sft_base.log 2>&1 &
once out/sft_arith_rich/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_rich \
  --out_dir=out/sft_arith_rich > out/sft_rich.log 2>&1 &
wait
unset OMP_NUM_THREADS
E=(--stages=sft+tool=out/sft_arith/best.pt,sft_rich+tool=out/sft_arith_rich/best.pt --n_sampled=0 --gsm8k_problems=0
   --hh_pairs=0)
python3 eval.py alignment "${E[@]}" --name=arith_cpu_rich
python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_rich
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_rich --name=arith_cpu_richtest_rich
