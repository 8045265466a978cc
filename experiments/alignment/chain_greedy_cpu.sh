#!/usr/bin/env bash
# Which pairs move greedy EM? DPO + NLL from the 2,400-step SFT model on the rich wordings (chain_rich_cpu.sh),
# twice with everything equal but the pairs: pairs of two sampled solutions (right vs wrong, as in every earlier
# round), and pairs with the SFT model's greedy solution on one side (dpo.py --greedy_pairs=True: a wrong greedy
# answer is rejected against right samples, a right one is chosen against wrong samples). Both scored, paired,
# against their SFT start on data/arith's test set, the harder split, the held-out wordings, the rich draw's test
# set and the separately written generator. The two DPO runs go side by side, one thread each (~25 min), then the
# evals (~15 min on 2 CPUs).
#   DATA_DIR=../shared/data bash experiments/alignment/chain_greedy_cpu.sh
source "$(dirname "$0")/common.sh"
[ -f out/sft_arith_rich_long/best.pt ] || { echo "needs out/sft_arith_rich_long/best.pt: run chain_rich_cpu.sh"; exit 1; }
[ -f data/arith_rich_mix/train.jsonl ] || { echo "needs data/arith_rich_mix: run chain_rich_cpu.sh"; exit 1; }
python3 data/arith/prepare.py --wordings=rich --avoid=data/arith --seed=99 --n_heldout=0 --out_dir=data/arith_rich
python3 data/arith_other/prepare.py
C=(config/dpo_arith.py --init_from=out/sft_arith_rich_long/best.pt --task_dir=data/arith_rich_mix --n_prompts=3000
   --temperature=0.8 --learning_rate=2e-5 --min_lr=2e-6)
export OMP_NUM_THREADS=1
once out/dpo_rich_greedy/summary.json python3 dpo.py "${C[@]}" --greedy_pairs=True --out_dir=out/dpo_rich_greedy \
  > out/dpo_rich_greedy.log 2>&1 &
once out/dpo_rich_samples/summary.json python3 dpo.py "${C[@]}" --out_dir=out/dpo_rich_samples \
  > out/dpo_rich_samples.log 2>&1 &
wait
unset OMP_NUM_THREADS
S=sft_rich_long+tool=out/sft_arith_rich_long/best.pt,dpo_samples+tool=out/dpo_rich_samples/best.pt
S=$S,dpo_greedy+tool=out/dpo_rich_greedy/best.pt
E=(--stages=$S --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0)
python3 eval.py alignment "${E[@]}" --name=arith_cpu_dpo_greedy
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_hard --name=arith_cpu_hard_dpo_greedy
python3 eval.py alignment "${E[@]}" --arith_split=test_heldout --name=arith_cpu_heldout_dpo_greedy
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_rich --name=arith_cpu_richtest_dpo_greedy
python3 eval.py alignment "${E[@]}" --task_dir=data/arith_other --name=arith_cpu_other_dpo_greedy
