# One round of iterative reasoning preference optimisation (Pang et al. 2024) on the arithmetic problems: on-policy
# pairs (a right and a wrong solution of the same training problem, sampled from the SFT model with the calculator),
# DPO plus the NLL of the chosen solution. One side of every pair is the SFT model's greedy solution (what EM
# scores), samples at T = 0.8 and a learning rate of 2e-5: the recipe that moved greedy EM in the CPU chains
# (experiments/alignment/NOTES.md; two-sample pairs at T = 1.0 and 5e-5 made the policy drift). A second round
# starts from this one (--init_from=<round 1> --seed=2): new problems, new samples, the round-1 policy as reference.
# Needs: python data/arith/prepare.py and out/sft_arith/best.pt (python sft.py config/sft_arith.py).
out_dir = 'out/dpo_arith'
init_from = 'out/sft_arith/best.pt'
pairs = 'on_policy'
task = 'arith'
tool = True
n_prompts = 1000
n_samples = 8
greedy_pairs = True
temperature = 0.8
pairs_per_prompt = 4
val_fraction = 0.25
beta = 0.1
nll_weight = 1.0
batch_size = 16
max_iters = 200
learning_rate = 2e-5
warmup_iters = 20
min_lr = 2e-6
eval_interval = 100
n_eval = 300
