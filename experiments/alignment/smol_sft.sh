#!/usr/bin/env bash
# Does pretraining on real text make the arith SFT generalise past our templates? SmolLM2-135M-Instruct (a Llama of
# 134.5M parameters pretrained on ~2T tokens; the speedrun's model has 3.3M and saw 0.4 epochs of WikiText-2)
# finetuned by sft.py on the same data/arith problems, with the calculator in the loop, and paired against the
# speedrun's SFT model on the same problems: our test set, its held-out wordings, and the separately written
# generator (data/arith_other), where the speedrun's SFT model gets 0.020. Max 160 new tokens: SmolLM2's
# tokenizer splits numbers into digits, so 11 of our 1,000 test solutions are longer than the usual 128 in it.
# Needs a finished CPU speedrun (out/speedrun_cpu/sft/best.pt) and the SmolLM2 folder (data/models/prepare.py).
# About 65 min on 2 CPUs (measured: SFT 43, the three tables 22); a finished SFT (its summary.json) is skipped.
# 'rich': the same SFT on the rich wordings (data/arith_rich, ~3x ours), paired against the first (~85 min: its
# tables decode SmolLM2 twice; they took 10, 11 and 20 min).
#   DATA_DIR=../shared/data bash experiments/alignment/smol_sft.sh [rich]
source "$(dirname "$0")/common.sh"
python3 data/arith_other/prepare.py
once data/models/SmolLM2-135M-Instruct/config.json python3 data/models/prepare.py
# 250 steps x 8 = 2,000 problems (the speedrun's SFT sees 19,200), full finetuning at a pretrained model's rate
SFT=(config/sft_arith.py --init_from=data/models/SmolLM2-135M-Instruct --batch_size=8 --max_iters=250
     --learning_rate=1e-4 --min_lr=1e-5 --warmup_iters=20 --eval_interval=125 --n_eval=50 --eval_iters=5
     --max_new_tokens=160)
once out/smol_sft_arith/summary.json python3 sft.py "${SFT[@]}" --out_dir=out/smol_sft_arith --name=smol_sft_arith
E=(--n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 --max_new_tokens=160)
if [ "${1:-}" != rich ]; then
  E+=(--stages=sft+tool=out/speedrun_cpu/sft/best.pt,smol_sft+tool=out/smol_sft_arith/best.pt)
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=smol_sft_other
  python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=smol_sft_heldout
  python3 eval.py alignment "${E[@]}" --name=smol_sft_test
else
  rich_draws  # common.sh: data/arith_rich among them, the draw the scratch model's rich chain trains on
  once out/smol_sft_arith_rich/summary.json python3 sft.py "${SFT[@]}" --task_dir=data/arith_rich \
    --out_dir=out/smol_sft_arith_rich --name=smol_sft_arith_rich
  E+=(--stages=smol_sft+tool=out/smol_sft_arith/best.pt,smol_sft_rich+tool=out/smol_sft_arith_rich/best.pt)
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=smol_sft_rich_other
  python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=smol_sft_rich_heldout
  python3 eval.py alignment "${E[@]}" --name=smol_sft_rich_test
fi
