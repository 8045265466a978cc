# Max: the largest model we plan for the RTX 3060 (12 GB): 317M parameters (24 layers, 1024 wide, GQA 16/4,
# GPT-2 vocabulary), context 1024, bf16 autocast, activation checkpointing, chunked cross-entropy,
# micro-batch 8 x 1024 with 8-step accumulation (64k tokens per optimizer step).
# Budget: 5,000 iters x 65,536 = 328M tokens = 1.0 tokens/parameter (Chinchilla's compute-optimal ~20 would be
# 6.3B tokens, two weeks on a 3060), 0.33 epochs of the 1B-token FineWeb-Edu sample (data/fineweb_edu/prepare.py).
# Expected wall time on a 3060: ~21 hours at ~4.4k tok/s, an estimate: the 133k tok/s measured on an H100 under a
# 12 GB cap (experiments/gpu/max_ckpt_12gb.json) scaled by the dense bf16 throughput ratio 25/765 TFLOP/s
# (experiments/gpu/NOTES.md). train.py prints the plan and, once measured, the ETA.
# Evaluated on WikiText-2 validation as well (eval_dataset), so its bpb compares with every other run.
# model.estimate_memory plans 7.4 GB (weights+grads 2.5, AdamW 2.5, bf16 weight copies 0.6, checkpointed
# activations 0.7, loss chunk 1.0); without loss_chunk the 8 x 1024 x 50257 logits alone take 4.1 GB. Measured
# on an H100 capped at 12 GB (memory_limit_gb): peak 8.4 GB, and out of memory without activation checkpointing
# (experiments/gpu/NOTES.md). train.py prints the plan at start and warns past 90% of memory_limit_gb.
#   python data/fineweb_edu/prepare.py && python data/wikitext2/prepare.py
#   python train.py config/train_max.py --batch_size=8
out_dir = 'out/max'
dataset = 'fineweb_edu'
eval_dataset = 'wikitext2'
n_layer = 24
n_head = 16
n_kv_head = 4
n_embd = 1024
block_size = 1024
batch_size = 8
gradient_accumulation_steps = 8
learning_rate = 3e-4
max_iters = 5000
warmup_iters = 500
min_lr = 3e-5
dropout = 0.0
dtype = 'auto'
compile = True
activation_checkpointing = True
loss_chunk = 2048
memory_limit_gb = 12.0
eval_interval = 250
eval_iters = 40
log_interval = 10
