# SAMSum with SmolLM2-135M-Instruct + LoRA, decoder-only ("Dialogue: ...\nSummary:", loss on the summary),
# ROUGE on a fixed validation prefix of 100 dialogues (generation is the slow part on CPU: ~10 tok/s).
# With internet, the encoder-decoder path: --model=google/flan-t5-small (LoRA on q, v; "summarize: ...").
model = 'data/models/SmolLM2-135M-Instruct'
task = 'samsum'
mode = 'lora'
batch_size = 4
max_iters = 100
learning_rate = 5e-4
max_len = 384
n_eval = 100
max_new_tokens = 48
eval_batch_size = 8
