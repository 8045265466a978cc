# GSM8K with SmolLM2-135M-Instruct + LoRA on the worked solutions ('#### N'), greedy exact match on a fixed
# test prefix of 50 problems with a 95% CI. Baseline: --mode=few_shot (k_shot=4 worked examples).
model = 'data/models/SmolLM2-135M-Instruct'
task = 'gsm8k'
mode = 'lora'
batch_size = 4
max_iters = 60
learning_rate = 5e-4
max_len = 384
n_eval = 50
max_new_tokens = 160
eval_batch_size = 8
