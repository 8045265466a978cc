# Tiny CPU config: a 4-layer model on WikiText-2 in a few minutes on 2 cores.
# Used by the tests (with --max_iters overridden) and by the CPU speedrun.
out_dir = 'out/tiny'
dataset = 'wikitext2_8k'  # GPT-2 BPE cut to 8192 ids: data/wikitext2/prepare.py --tokenizer=gpt2_8k
n_layer = 4
n_head = 4
n_embd = 128
block_size = 128
batch_size = 16
gradient_accumulation_steps = 1
learning_rate = 2e-3
max_iters = 600
warmup_iters = 50
eval_interval = 100
eval_iters = 10
log_interval = 20
