#!/usr/bin/env bash
# Does the bigger corpus pay? train_medium for the same N tokens on WikiText-2 alone and on $CORPUS (default
# fineweb_edu, prepared with data/fineweb_edu/prepare.py), both scored on WikiText-2 validation (eval_dataset), under
# the 12 GB cap. Results: $RESULTS/corpus_{wikitext2,$CORPUS}.json (train.py's summaries, throughput included)
# and the val-bpb curves in their log.jsonl copies. Needs data/wikitext2 and data/$CORPUS (GPT-2 BPE).
#   bash experiments/gpu/corpus.sh                        # 600 iters x 32k tokens = 19.7M tokens each
#   ITERS=40 EXTRA="--n_layer=2 --n_embd=64 --device=cpu --compile=False --memory_limit_gb=0" bash experiments/gpu/corpus.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RESULTS=${RESULTS:-experiments/gpu}; CORPUS=${CORPUS:-fineweb_edu}; ITERS=${ITERS:-600}; EXTRA=${EXTRA:-}
mkdir -p "$RESULTS"
for data in wikitext2 "$CORPUS"; do
  out=out/gpu_corpus_$data
  rm -rf "$out"
  python3 train.py config/train_medium.py --dataset="$data" --eval_dataset=wikitext2 --out_dir="$out" \
    --max_iters="$ITERS" --eval_interval=$((ITERS / 4)) --eval_iters=20 --warmup_iters=$((ITERS / 10)) \
    --memory_limit_gb=12.0 $EXTRA 2>&1 | grep -E "^(plan|WARNING|step|done)"
  cp "$out/summary.json" "$RESULTS/corpus_$data.json"
  cp "$out/log.jsonl" "$RESULTS/corpus_${data}_log.jsonl"
done
python3 - "$RESULTS" "$CORPUS" <<'PY'
import json, sys
res, corpus = sys.argv[1:]
for data in ('wikitext2', corpus):
    rows = [json.loads(l) for l in open(f'{res}/corpus_{data}_log.jsonl') if 'eval_val_bpb' in l]
    print(f"{data:12s} WikiText-2 val bpb by tokens: " + ', '.join(f"{r['tokens'] / 1e6:.1f}M {r['eval_val_bpb']:.3f}" for r in rows))
PY
