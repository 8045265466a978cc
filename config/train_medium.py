# Medium: GPT-2-small-like depth and width (12 layers, 768 wide, GQA 12/4, context 512) with the full GPT-2
# vocabulary: 114M parameters. A GPU config; far too slow for this CPU.
# Budget: 20,000 iters x 32,768 = 655M tokens = 5.7 tokens/parameter (Chinchilla's ~20 would be 2.3B tokens,
# ~2.2 days on a 3060), 0.66 epochs of the 1B-token FineWeb-Edu sample (data/fineweb_edu/prepare.py).
# Expected wall time on a 3060: ~15 hours at ~12k tok/s, an estimate: the 374k tok/s measured on an H100 under a
# 12 GB cap (experiments/gpu/medium_12gb.json) scaled by the dense bf16 throughput ratio 25/765 TFLOP/s
# (experiments/gpu/NOTES.md). train.py prints the plan and, once measured, the ETA. The GPU speedrun trains
# 5,000 of these iterations (164M tokens, ~4 hours).
# Evaluated on WikiText-2 validation as well (eval_dataset), so its bpb compares with every other run.
#   python data/fineweb_edu/prepare.py && python data/wikitext2/prepare.py
#   python train.py config/train_medium.py
out_dir = 'out/medium'
dataset = 'fineweb_edu'
eval_dataset = 'wikitext2'
n_layer = 12
n_head = 12
n_kv_head = 4
n_embd = 768
block_size = 512
batch_size = 16
gradient_accumulation_steps = 4
learning_rate = 6e-4
max_iters = 20000
warmup_iters = 500
min_lr = 6e-5
dropout = 0.0               # under one epoch there is nothing to regularise against (WikiText-2 needed 0.1)
eval_interval = 500
eval_iters = 50
log_interval = 10
