# Tiny CPU config: a 4-layer, 192-wide model on WikiText-2 (8k BPE), context 256 so that the math tasks' worked
# solutions fit. The CPU speedrun's pretraining stage (about 6 minutes on 2 cores); the tests override its size.
out_dir = 'out/tiny'
dataset = 'wikitext2_8k'  # GPT-2 BPE cut to 8192 ids: data/wikitext2/prepare.py --tokenizer=gpt2_8k
n_layer = 4
n_head = 4
n_embd = 192
block_size = 256
batch_size = 8
gradient_accumulation_steps = 1
learning_rate = 2e-3
max_iters = 600
warmup_iters = 50
eval_interval = 100
eval_iters = 10
log_interval = 20
