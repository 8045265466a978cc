#!/usr/bin/env bash
# The oldest result files (2026-11-24), rerun at one commit with the commands the files record.
#   smollm2 (default): the files that need only SmolLM2 (python data/models/prepare.py): its perplexity on
#     WikiText-2 (val, test), its attention heads, SST-2 zero-shot (eval.py) and 4-shot (finetune.py), SAMSum
#     zero-shot on 100 dialogues (the full test split with CIs is finetune.py's row).
#   trained: the files whose checkpoints were not kept, retrained first: the small WikiText-2 model (1,500 of
#     train_small.py's iterations, as recorded; ~30-60 min) and its perplexity and quantization rows; DPO on
#     HH-RLHF from an arithmetic SFT model (the speedrun's: the recorded out/sft_arith was the same tiny model
#     finetuned on data/arith); SST-2 on the scratch model exported to HF (zero-shot and full finetuning); the
#     SmolLM2 SST-2 and SAMSum LoRA adapters and eval.py's rows on them. Needs a finished CPU speedrun in this
#     checkout (out/tiny, out/speedrun_cpu/sft).
#   DATA_DIR=../shared/data bash experiments/regen_1124.sh [smollm2|trained]
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
M=data/models/SmolLM2-135M-Instruct
if [ "${1:-smollm2}" = smollm2 ]; then
  python3 eval.py attention --ckpt=$M
  python3 eval.py sst2 --ckpt=$M
  python3 eval.py lm --ckpt=$M --context=1024 --batch_size=1 --max_tokens=60000
  python3 finetune.py config/finetune_sst2.py --mode=few_shot
  python3 eval.py samsum --ckpt=$M --n_problems=100
  exit 0
fi
python3 train.py config/train_small.py --max_iters=1500 --eval_interval=150
python3 eval.py lm --ckpt=out/small/best.pt --name=small
python3 eval.py quant --ckpt=out/small/best.pt --name=small
python3 dpo.py --init_from=out/speedrun_cpu/sft/best.pt --pairs=hh --out_dir=out/dpo_hh --max_iters=100 --eval_interval=50 \
  --n_eval=0 --batch_size=8 --learning_rate=2e-5
python3 export.py --ckpt=out/tiny/best.pt --hf_dir=out/tiny/hf
python3 finetune.py config/finetune_sst2.py --model=out/tiny/hf --mode=zero_shot --name=scratch_tiny_sst2_zero_shot
python3 finetune.py config/finetune_sst2.py --model=out/tiny/hf --mode=full --learning_rate=1e-3 --name=scratch_tiny_sst2_full
python3 finetune.py config/finetune_sst2.py --paired_with=SmolLM2-135M-Instruct_sst2_zero_shot
python3 eval.py sst2 --ckpt=out/finetune/SmolLM2-135M-Instruct_sst2_lora
python3 finetune.py config/finetune_samsum.py --chat=False --paired_with=SmolLM2-135M-Instruct_samsum_zero_shot \
  --name=SmolLM2-135M-Instruct_samsum_lora
python3 eval.py samsum --ckpt=out/finetune/SmolLM2-135M-Instruct_samsum_lora --n_problems=100
