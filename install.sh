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
  $PY -c "import pytest" 2>/dev/null || $PY -m pip install -q pytest
fi
