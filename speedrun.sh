#!/usr/bin/env bash
# One button: install, prepare data, pretrain, evaluate, sample. The scale follows the hardware
# (CPU: a small complete run; CUDA: the RTX 3060 configs); SCALE=cpu|gpu overrides it.
# Finished stages leave a marker in $STATE and are skipped on rerun; an interrupted training stage resumes
# from its checkpoint. Offline: DATA_DIR=path/to/data bash speedrun.sh
#   bash speedrun.sh            # the whole pipeline
#   bash speedrun.sh eval       # only re-run the evaluation suite on the existing checkpoints
set -euo pipefail
cd "$(dirname "$0")"
export OMP_WAIT_POLICY=PASSIVE
if [ -n "${DATA_DIR:-}" ]; then export DATA_DIR="$(cd "$DATA_DIR" && pwd)"; fi

bash install.sh
if [ -z "${SCALE:-}" ]; then
  SCALE=$(python3 -c "import torch; print('gpu' if torch.cuda.is_available() else 'cpu')")
fi
if [ "$SCALE" = gpu ]; then
  TOKENIZER=gpt2; PRETRAIN=config/train_medium.py; RUN=out/medium
else
  TOKENIZER=gpt2_8k; PRETRAIN=config/train_tiny.py; RUN=out/tiny
fi
STATE=${STATE:-out/speedrun_$SCALE}
mkdir -p "$STATE"
echo "speedrun: scale=$SCALE, state in $STATE"

# stage NAME CMD...: run CMD once; a marker file records success and the wall time
stage() {
  local name=$1; shift
  if [ -f "$STATE/$name.done" ]; then echo "== $name: done already ($(cat "$STATE/$name.done")), skipping"; return; fi
  echo "== $name: $*"
  local t0=$SECONDS
  "$@"
  echo "$((SECONDS - t0))s" > "$STATE/$name.done"
  echo "== $name: finished in $((SECONDS - t0))s"
}

# resume a training stage when its checkpoint exists (a killed run continues where it stopped)
init_flag() { [ -f "$1/ckpt.pt" ] && echo "--init_from=resume" || echo "--init_from=scratch"; }

if [ "${1:-all}" = eval ]; then rm -f "$STATE"/eval_*.done; fi
if [ "${1:-all}" = all ]; then
  # 1. tokenize WikiText-2 (train/val/test) into data/$DATASET/*.bin
  stage data python3 data/wikitext2/prepare.py --tokenizer=$TOKENIZER
  # 2. pretrain a GPT from scratch
  stage pretrain python3 train.py $PRETRAIN --out_dir=$RUN "$(init_flag $RUN)"
fi
# 3. evaluate: perplexity and bits per byte on WikiText-2 val/test -> experiments/lm/
stage eval_lm python3 eval.py lm --ckpt=$RUN/best.pt --name="speedrun_$SCALE"
# 4. streaming past the context: dense vs window vs sinks vs recompute -> experiments/sinks/
stage eval_sinks python3 eval.py sinks --ckpt=$RUN/best.pt --name="speedrun_$SCALE"
# 5. the 4-bit NF4 base: memory saved and perplexity cost -> experiments/quant/
stage eval_quant python3 eval.py quant --ckpt=$RUN/best.pt --name="speedrun_$SCALE"
# 6. a few samples from the model
stage sample python3 sample.py --out_dir=$RUN --start="The history of" --num_samples=2 --max_new_tokens=60
# 7. figures (report/figures/) and the paper (report/paper.md) from everything under experiments/
python3 viz.py
python3 report/make.py

{ echo "speedrun ($SCALE) finished $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null). Stage times:"
  for f in "$STATE"/*.done; do echo "  $(basename "$f" .done): $(cat "$f")"; done; } | tee "$STATE/summary.txt"
