# SST-2 with SmolLM2-135M-Instruct + LoRA (r=8 on q_proj/v_proj), scored by the label words on the full
# validation set (872). CPU: ~15 minutes on 2 cores. Offline: bash install.sh --offline-models &&
# python data/models/prepare.py (with internet: --model=HuggingFaceTB/SmolLM2-135M-Instruct).
# Baselines with the same scorer: --mode=zero_shot, --mode=few_shot (k_shot=4).
model = 'data/models/SmolLM2-135M-Instruct'
task = 'sst2'
mode = 'lora'
batch_size = 8
max_iters = 150
learning_rate = 5e-4
max_len = 128
