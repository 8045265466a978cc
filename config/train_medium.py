# Medium: GPT-2-small-like depth and width (12 layers, 768 wide, context 512) with the full GPT-2 vocabulary,
# ~124M parameters with embeddings. A GPU config (several hours on an RTX 3060); far too slow for this CPU.
out_dir = 'out/medium'
dataset = 'wikitext2'
n_layer = 12
n_head = 12
n_kv_head = 4
n_embd = 768
block_size = 512
batch_size = 16
gradient_accumulation_steps = 4
learning_rate = 6e-4
max_iters = 5000
warmup_iters = 200
min_lr = 6e-5
dropout = 0.1
eval_interval = 250
eval_iters = 50
log_interval = 10
