#!/usr/bin/env bash
# Does the separately written generator keep climbing with SFT steps? SFT on the open draw (open-class names and
# objects, pronouns, ~3x our wordings; never the other generator's sentences) at 2,400 and 4,800 steps from the same
# pretrained model, both scored, paired, on our test set, the held-out wordings, the open draw's test set and the
# other generator. (At 1,200 steps the open draw gave 0.144 there, the rich draw at 2,400 0.184: §5.5.) ~25 min on a
# 440 GFLOP/s 2-core host. Results: experiments/alignment/arith_cpu_*open_steps.json.
#   DATA_DIR=../shared/data bash experiments/alignment/open_steps.sh
source "$(dirname "$0")/common.sh"
python3 data/arith/prepare.py --wordings=open --avoid=data/arith --seed=98 --n_heldout=0 --out_dir=data/arith_open
python3 data/arith_other/prepare.py
once out/tiny/summary.json python3 train.py config/train_tiny.py
for n in 2400 4800; do  # one after the other: two runs side by side on one core each are slower in all
  once out/sft_open_$n/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_open --max_iters=$n \
    --eval_interval=1200 --out_dir=out/sft_open_$n --name=sft_open_$n
done
score open_steps sft_open_2400+tool=out/sft_open_2400/best.pt,sft_open_4800+tool=out/sft_open_4800/best.pt \
  test heldout opentest other
