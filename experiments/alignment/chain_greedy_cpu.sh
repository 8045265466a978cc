#!/usr/bin/env bash
# DPO on problems where the SFT model's errors can be fixed by its own right answers. Everything starts from the
# 2,400-step SFT model on the rich wordings (chain_rich_cpu.sh: out/sft_arith_rich_long, pretrained out/tiny).
# - DPO + NLL, one round, with the SFT model's greedy solution on one side of every pair (dpo.py
#   --greedy_pairs=True), on three pools of training problems: the rich 1-5-step draw of chain_rich_cpu.sh
#   (data/arith_rich_mix, "mix": the SFT model is right on 84% of them), the open draw (data/arith_open, "open":
#   names and objects the SFT model never saw, 50%) and half of each (data/arith_dpo_mix, "both"). On the open pool
#   the same run with pairs of two samples (the earlier rounds' pairing) is the control. Then a second round from
#   "both" (a new draw of its problems, half the learning rate).
# - A verifier trained only on problems with both right and wrong samples (verifier.py --mixed_only=True).
# - SFT on the made-up draw (prepare.py --wordings=made_up: invented names, compound objects), 2,400 steps, against
#   the rich draw at equal steps.
# Scored, paired, on data/arith's test set, its held-out wordings, the harder split, the open and made-up draws'
# test sets and the separately written generator (data/arith_other). Jobs run side by side, one thread each; about
# 2 hours on 2 CPUs. A finished stage (its summary.json) is skipped.
#   DATA_DIR=../shared/data bash experiments/alignment/chain_greedy_cpu.sh
source "$(dirname "$0")/common.sh"
for f in out/sft_arith_rich_long/best.pt out/tiny/best.pt data/arith_rich_mix/train.jsonl data/arith_open/train.jsonl; do
  [ -e $f ] || { echo "needs $f: run experiments/alignment/chain_rich_cpu.sh first"; exit 1; }
done
rich_draws  # the same draws as chain_rich_cpu.sh (the made-up one included)
python3 data/arith/prepare.py "${HARD[@]}" --n_train=4000 --n_val=300 --n_heldout=0 --seed=8765 --out_dir=data/arith_hard_train
# the "both" pool: the first 2,000 training (150 val) problems of the open and the rich 1-5-step draws, shuffled
mix_pool data/arith_dpo_mix 2000 150
C=(config/dpo_arith.py --init_from=out/sft_arith_rich_long/best.pt --n_prompts=3000 --temperature=0.8
   --learning_rate=2e-5 --min_lr=2e-6)
export OMP_NUM_THREADS=1
once out/dpo_rich_greedy/summary.json python3 dpo.py "${C[@]}" --task_dir=data/arith_rich_mix --greedy_pairs=True \
  --out_dir=out/dpo_rich_greedy > out/dpo_rich_greedy.log 2>&1 &
once out/dpo_open_greedy/summary.json python3 dpo.py "${C[@]}" --task_dir=data/arith_open --greedy_pairs=True \
  --out_dir=out/dpo_open_greedy > out/dpo_open_greedy.log 2>&1 &
once out/verifier_rich_mixed/summary.json python3 verifier.py config/verifier_arith.py \
  --generator=out/sft_arith_rich_long/best.pt --task_dir=data/arith_hard_train --n_prompts=2000 --n_samples=16 \
  --temperature=0.8 --mixed_only=True --max_iters=600 --eval_interval=200 --out_dir=out/verifier_rich_mixed \
  > out/verifier_rich_mixed.log 2>&1 &
once out/sft_arith_made_up_long/summary.json python3 sft.py config/sft_arith.py --task_dir=data/arith_made_up \
  --max_iters=2400 --eval_interval=800 --out_dir=out/sft_arith_made_up_long > out/sft_made_up_long.log 2>&1 &
wait
once out/dpo_open_samples/summary.json python3 dpo.py "${C[@]}" --task_dir=data/arith_open \
  --greedy_pairs=False --out_dir=out/dpo_open_samples > out/dpo_open_samples.log 2>&1 &
once out/dpo_both_greedy/summary.json python3 dpo.py "${C[@]}" --n_prompts=4000 --task_dir=data/arith_dpo_mix \
  --greedy_pairs=True --out_dir=out/dpo_both_greedy > out/dpo_both_greedy.log 2>&1 &
wait
once out/dpo_both_greedy2/summary.json python3 dpo.py "${C[@]}" --init_from=out/dpo_both_greedy/best.pt --n_prompts=4000 \
  --learning_rate=1e-5 --min_lr=1e-6 --task_dir=data/arith_dpo_mix --greedy_pairs=True --seed=2 \
  --out_dir=out/dpo_both_greedy2 > out/dpo_both_greedy2.log 2>&1 &
unset OMP_NUM_THREADS
# every set of stages on every test set: name suffix, then the stages
table() {
  local suffix=$1 stages=$2 E=(--stages=$2 --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0)
  python3 eval.py alignment "${E[@]}" --name=arith_cpu_$suffix
  python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_$suffix
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_$suffix
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_made_up --name=arith_cpu_madeup_$suffix
  python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=arith_cpu_other_$suffix
  [ "$suffix" = made_up ] || python3 eval.py alignment "${E[@]}" --task_dir=data/arith_open --name=arith_cpu_opentest_$suffix
}
SFT=sft_rich_long+tool=out/sft_arith_rich_long/best.pt
table dpo_greedy $SFT,dpo_mix_greedy+tool=out/dpo_rich_greedy/best.pt,dpo_open_greedy+tool=out/dpo_open_greedy/best.pt
table dpo_both $SFT,dpo_open_samples+tool=out/dpo_open_samples/best.pt,dpo_both_greedy+tool=out/dpo_both_greedy/best.pt
table made_up $SFT,sft_made_up_long+tool=out/sft_arith_made_up_long/best.pt
wait
table dpo_round2 $SFT,dpo_both_greedy+tool=out/dpo_both_greedy/best.pt,dpo_both_greedy2+tool=out/dpo_both_greedy2/best.pt
