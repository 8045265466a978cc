# A verifier for the DPO model's arithmetic solutions (CPU scale, a few minutes on 2 cores).
# Needs: out/dpo_arith/best.pt (python dpo.py config/dpo_arith.py).
out_dir = 'out/verifier_arith'
generator = 'out/dpo_arith/best.pt'
task = 'arith'
n_prompts = 512
n_val_prompts = 100
n_samples = 8
batch_size = 16
max_iters = 300
learning_rate = 1e-4
eval_interval = 100
