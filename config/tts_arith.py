# Test-time compute on the arithmetic test set (CPU, a few minutes on 2 cores): 200 problems, up to 32 samples
# each from the DPO model, scored by the verifier. Needs out/dpo_arith/best.pt and out/verifier_arith/best.pt.
name = 'tts_arith'
generator = 'out/dpo_arith/best.pt'
verifier = 'out/verifier_arith/best.pt'
task = 'arith'
split = 'test'
n_problems = 200
budgets = (1, 2, 4, 8, 16, 32)
temperature = 0.8
threshold = 0.5
