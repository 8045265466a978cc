# Small CPU config: the ~10M-parameter shape (6 layers, 384 wide, context 256) on WikiText-2 with the
# 8k-id GPT-2 BPE. ~1,900 tok/s on 2 idle cores (experiments/bench/cpu.json, shape 'small'): 3,000 iterations
# (6.1M tokens, ~2 epochs) in under an hour. The committed result ran 1,500 of them on one thread.
out_dir = 'out/small'
dataset = 'wikitext2_8k'
n_layer = 6
n_head = 6
n_embd = 384
block_size = 256
batch_size = 8
gradient_accumulation_steps = 1
learning_rate = 1e-3
max_iters = 3000
warmup_iters = 100
min_lr = 1e-4
eval_interval = 250
eval_iters = 20
log_interval = 25
