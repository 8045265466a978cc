# Test-time compute on GSM8K with a pretrained HF decoder (SmolLM2-135M-Instruct, imported into our GPT with
# GPT.from_hf and run with its own tokenizer): greedy with and without the calculator, self-consistency and
# pass@N on a fixed 20-problem test prefix (CPU: ~10 minutes). No verifier: ours is trained on arith samples.
# Offline: bash install.sh --offline-models && python data/models/prepare.py. A bigger model or GPU: raise
# n_problems and budgets.
name = 'tts_gsm8k_smollm2'
generator = 'data/models/SmolLM2-135M-Instruct'
verifier = ''
task = 'gsm8k'
split = 'test'
n_problems = 20
budgets = (1, 2, 4)
temperature = 0.7
max_new_tokens = 192
