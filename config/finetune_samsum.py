# SAMSum with SmolLM2-135M-Instruct + LoRA, decoder-only, in the instruct model's own chat template (the same
# format as its strongest zero-shot baseline: --mode=zero_shot; --chat=False for the plain "Dialogue: ...\nSummary:"
# prompt), loss on the summary; ROUGE with bootstrap CIs on the whole test split (819 dialogues, ~15 min per run on
# 2 CPU cores). --paired_with=<baseline run name> adds a paired bootstrap against that run on the same dialogues.
# With internet, the encoder-decoder path: --model=google/flan-t5-small --chat=False (LoRA on q, v; "summarize: ...").
model = 'data/models/SmolLM2-135M-Instruct'
task = 'samsum'
mode = 'lora'
chat = True
batch_size = 4
max_iters = 100
learning_rate = 5e-4
max_len = 384
n_eval = 0
max_new_tokens = 48
eval_batch_size = 16
