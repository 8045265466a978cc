# Test-time compute on the arithmetic test set (CPU, ~15 min on 2 cores): 500 problems, up to 16 samples each from
# the DPO model with the calculator, scored by the verifier. Needs out/dpo_arith/best.pt, out/verifier_arith/best.pt.
name = 'tts_arith'
generator = 'out/dpo_arith/best.pt'
verifier = 'out/verifier_arith/best.pt'
task = 'arith'
split = 'test'
n_problems = 500
tool = True
budgets = (1, 2, 4, 8, 16)
temperature = 0.8
threshold = 0.5
