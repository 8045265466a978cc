# DPO on the arithmetic problems with on-policy pairs from the SFT model (CPU scale, a few minutes on 2 cores).
# Needs: python data/arith/prepare.py and out/sft_arith/best.pt (python sft.py config/sft_arith.py).
out_dir = 'out/dpo_arith'
init_from = 'out/sft_arith/best.pt'
pairs = 'on_policy'
task = 'arith'
n_prompts = 512
n_samples = 8
pairs_per_prompt = 2
beta = 0.1
batch_size = 8
max_iters = 200
learning_rate = 2e-5
warmup_iters = 20
min_lr = 2e-6
eval_interval = 50
n_eval = 200
