#!/usr/bin/env bash
# The GQA/MQA/MoE ablation table: four variants of one shape (4 layers, 128 wide, 8 query heads; the MoE's four
# 192-wide experts at top-2 match the dense FFN's active parameters), trained on the same 1.23M WikiText-2 tokens
# with three seeds each (a seed sets the init and the batch order), then scored in one process by eval.py
# ablations: val perplexity per run, its mean and spread per variant, each variant against MHA paired by seed,
# and train/decode speed re-measured side by side. Runs that finished are skipped, so a rerun only evaluates.
#   bash experiments/ablations/run.sh            # about 1 h on 2 CPU cores
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export OMP_WAIT_POLICY=PASSIVE
[ -f data/wikitext2_8k/meta.json ] || python3 data/wikitext2/prepare.py --tokenizer=gpt2_8k
SHAPE=(--n_layer=4 --n_embd=128 --n_head=8 --max_iters=600 --eval_interval=100)
declare -A VARIANT=([mha]="--n_kv_head=8" [gqa]="--n_kv_head=2" [mqa]="--n_kv_head=1"
                    [moe]="--n_experts=4 --moe_top_k=2 --ffn_hidden=192")
RUNS=()
for seed in 1 2 3; do
  for v in mha gqa mqa moe; do
    out=out/abl_${v}_s${seed}
    RUNS+=("$out")
    [ -f "$out/summary.json" ] && { echo "== $out done, skipping"; continue; }
    # shellcheck disable=SC2086
    python3 train.py config/train_tiny.py "${SHAPE[@]}" ${VARIANT[$v]} --seed=$seed --out_dir=$out
  done
done
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0
# speed is re-measured here: run this step with nothing else on the cores
python3 eval.py ablations --runs="$(IFS=,; echo "${RUNS[*]}")"
