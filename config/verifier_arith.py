# A verifier for the DPO model's arithmetic solutions, trained on many samples per problem (Cobbe et al. 2021 use
# 100 per training problem; here 16, drawn with the calculator as the generator is used). CPU, ~15 min on 2 cores.
# Needs: out/dpo_arith/best.pt (python dpo.py config/dpo_arith.py).
out_dir = 'out/verifier_arith'
generator = 'out/dpo_arith/best.pt'
task = 'arith'
tool = True
n_prompts = 300
n_val_prompts = 200
n_samples = 16
batch_size = 32
max_iters = 300
learning_rate = 1e-4
eval_interval = 100
