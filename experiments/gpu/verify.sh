#!/usr/bin/env bash
# Checks the CUDA path on a GPU and records what the RTX 3060 configs would do with 12 GB:
#   1. tests/test_cuda.py: flash SDPA with GQA, bf16 autocast, torch.compile, KV cache on the GPU
#   2. config/train_max.py under a 12 GB cap (set_per_process_memory_fraction via memory_limit_gb=12):
#      with and without activation checkpointing; peak memory, tok/s and MFU from train.py's summary
#   3. config/train_medium.py (the GPU speedrun's pretraining config): tok/s to predict its wall-clock
# Needs data/wikitext2 prepared with the GPT-2 tokenizer (memory and speed do not depend on the corpus, so these
# short runs read WikiText-2 rather than the configs' FineWeb-Edu). Results: $RESULTS/*.json (default experiments/gpu).
#   bash experiments/gpu/verify.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
RESULTS=${RESULTS:-experiments/gpu}
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
git log -1 --format="tree at commit %H" 2>/dev/null; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q tests/test_cuda.py 2>&1 | tail -5 | tee "$RESULTS/test_cuda.txt"

run() {  # run NAME ARGS...: a short train.py run, its summary copied to $RESULTS/NAME.json
  local name=$1; shift
  python3 train.py "$@" --dataset=wikitext2 --eval_dataset= --out_dir=out/gpu_$name --eval_iters=4 --log_interval=5 2>&1 | tail -8
  cp out/gpu_$name/summary.json "$RESULTS/$name.json" || echo "$name: no summary (failed)"
}
run max_ckpt_12gb config/train_max.py --memory_limit_gb=12.0 --max_iters=30 --eval_interval=1000
run max_nockpt_12gb config/train_max.py --memory_limit_gb=12.0 --max_iters=30 --eval_interval=1000 \
  --activation_checkpointing=False
run medium_12gb config/train_medium.py --memory_limit_gb=12.0 --max_iters=60 --eval_interval=1000 --compile=True
