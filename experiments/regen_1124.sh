#!/usr/bin/env bash
# The oldest result files (2026-11-24) that need only SmolLM2 (python data/models/prepare.py), rerun at one commit
# with the commands the files record: its perplexity on WikiText-2 (val, test), its attention heads, SST-2 zero-shot
# (eval.py) and 4-shot (finetune.py), SAMSum zero-shot on 100 validation dialogues (the full test split with CIs is
# finetune.py's row). The others of that day need checkpoints that are not kept (out/small,
# out/sft_arith, out/abl_mha).
#   DATA_DIR=../shared/data bash experiments/regen_1124.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
M=data/models/SmolLM2-135M-Instruct
python3 eval.py attention --ckpt=$M
python3 eval.py sst2 --ckpt=$M
python3 eval.py lm --ckpt=$M --context=1024 --batch_size=1 --max_tokens=60000
python3 finetune.py config/finetune_sst2.py --mode=few_shot
python3 eval.py samsum --ckpt=$M --n_problems=100
