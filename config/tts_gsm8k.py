# Test-time compute on GSM8K with a pretrained HF decoder (SmolLM2-135M-Instruct, imported into our GPT with
# GPT.from_hf and run with its own tokenizer): greedy with and without the calculator, self-consistency and
# pass@N on the first 500 test problems, 5-shot as on SmolLM2's model card (the exemplars from the train split,
# prefilled once; zero-shot, the model ignores the '#### <answer>' format). CPU: about an hour on 2 cores.
# No verifier: ours is trained on arith samples.
# Offline: bash install.sh --offline-models && python data/models/prepare.py. A bigger model or GPU: raise
# n_problems (1,319 is the whole test split) and budgets.
name = 'tts_gsm8k_smollm2'
generator = 'data/models/SmolLM2-135M-Instruct'
verifier = ''
task = 'gsm8k'
split = 'test'
n_problems = 500
k_shot = 5
budgets = (1, 2, 4)
temperature = 0.7
max_new_tokens = 192
