#!/usr/bin/env bash
# The alignment chain at its full CPU budget (config/*_arith.py as written, not the speedrun's shortened one):
# pretrain -> SFT with the calculator -> one round of iterative RPO -> verifier -> the stage tables on the arith
# test set, the held-out wordings and a harder split -> test-time compute. Writes experiments/alignment/arith_cpu*.json
# and experiments/tts/tts_arith.json. About 1.5 hours on 2 CPUs; a finished stage (its summary.json) is skipped.
#   DATA_DIR=../shared/data bash experiments/alignment/chain_cpu.sh
source "$(dirname "$0")/common.sh"
once out/tiny/summary.json python3 train.py config/train_tiny.py
once out/sft_arith/summary.json python3 sft.py config/sft_arith.py
# the DPO recipe of 2026-12-02 (config/dpo_arith.py's defaults then): two-sample pairs at T = 1.0, lr 5e-5
once out/dpo_arith/summary.json python3 dpo.py config/dpo_arith.py --greedy_pairs=False --temperature=1.0 \
  --learning_rate=5e-5 --min_lr=5e-6
# a second round of iterative RPO (new problems, the round-1 policy as the reference) is one more line; it is not
# part of this chain yet (CPU time): once out/dpo_arith2/summary.json python3 dpo.py config/dpo_arith.py \
#   --init_from=out/dpo_arith/best.pt --out_dir=out/dpo_arith2 --seed=2 --name=dpo_arith2
once out/verifier_arith/summary.json python3 verifier.py config/verifier_arith.py
STAGES=base=out/tiny/best.pt,sft+tool=out/sft_arith/best.pt,dpo+tool=out/dpo_arith/best.pt
V=(--verifier=out/verifier_arith/best.pt --n_samples=16 --n_select=100 --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment --stages=$STAGES "${V[@]}" --n_sampled=300 --sampled_stages=last --name=arith_cpu
python3 eval.py alignment --stages=$STAGES "${V[@]}" --n_sampled=0 --arith_split=test_heldout --name=arith_cpu_heldout
python3 eval.py alignment --stages=$STAGES "${V[@]}" --n_sampled=0 --task_dir=data/arith_hard --name=arith_cpu_hard
python3 tts.py config/tts_arith.py
