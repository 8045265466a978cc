#!/usr/bin/env bash
# The alignment chain on CUDA with short budgets: checks that every stage's GPU path runs (bf16 autocast in
# training, sampling with the shared-prefill cache, the verifier, tts) and times it. Not the 3060 run: budgets
# are cut so the whole chain fits a few minutes of a lent GPU. Needs data/wikitext2 (GPT-2 BPE).
#   bash experiments/gpu/chain.sh        # results: $RESULTS (default experiments/gpu/chain)
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${RESULTS:-experiments/gpu/chain}
O=out/gpu_chain
mkdir -p "$R"
python3 data/arith/prepare.py
t0=$SECONDS
python3 train.py config/train_medium.py --dataset=wikitext2 --eval_dataset= --out_dir=$O/base --max_iters=300 --eval_interval=150 --eval_iters=10 \
  --memory_limit_gb=12.0 --compile=True | tail -3
python3 sft.py config/sft_arith.py --init_from=$O/base/best.pt --out_dir=$O/sft --max_iters=400 --batch_size=32 \
  --eval_interval=200 --n_eval=200 --results_dir=$R --name=gpu_sft | tail -2
python3 dpo.py config/dpo_arith.py --init_from=$O/sft/best.pt --out_dir=$O/dpo --n_prompts=128 --max_iters=60 \
  --eval_interval=30 --n_eval=200 --results_dir=$R --name=gpu_dpo | tail -2
python3 verifier.py config/verifier_arith.py --generator=$O/dpo/best.pt --out_dir=$O/verifier --n_prompts=128 \
  --n_val_prompts=40 --max_iters=100 --eval_interval=50 --results_dir=$R --name=gpu_verifier | tail -2
python3 eval.py alignment --stages=base=$O/base/best.pt,sft+tool=$O/sft/best.pt,dpo+tool=$O/dpo/best.pt \
  --verifier=$O/verifier/best.pt --n_sampled=40 --gsm8k_problems=50 --hh_pairs=100 --results_dir=$R --name=gpu | tail -4
python3 tts.py config/tts_arith.py --generator=$O/dpo/best.pt --verifier=$O/verifier/best.pt --n_problems=40 \
  "--budgets=(1, 2, 4, 8)" --results_dir=$R --name=gpu | tail -12
echo "chain wall time: $((SECONDS - t0)) s"
