# GSM8K with SmolLM2-135M-Instruct + LoRA on the worked solutions ('#### N'), in the instruct model's chat
# template (--chat=False: the plain "Question: ...\nAnswer:" prompt), greedy exact match on the whole test split
# (1,319 problems) with a 95% CI. Baselines: --mode=zero_shot (chat), --mode=few_shot --chat=False --k_shot=5
# (the model card's 5-shot protocol). --paired_with=<baseline run name>: exact McNemar on the same problems.
model = 'data/models/SmolLM2-135M-Instruct'
task = 'gsm8k'
mode = 'lora'
chat = True
batch_size = 4
max_iters = 60
learning_rate = 5e-4
max_len = 384
n_eval = 0
max_new_tokens = 160
eval_batch_size = 16
