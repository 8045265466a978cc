# SFT of the tiny pretrained model (config/train_tiny.py: context 256, 8k BPE) on the synthetic arithmetic
# problems, with the calculator in the loop: the model writes '<<expr=', the calculator writes 'result>>', and
# the loss skips the calculator's tokens. The first alignment stage of the CPU pipeline (~25 min on 2 cores).
# Needs: python data/arith/prepare.py and out/tiny/best.pt.
out_dir = 'out/sft_arith'
init_from = 'out/tiny/best.pt'
task = 'arith'
tool = True
batch_size = 16
max_iters = 1200
learning_rate = 1e-3
warmup_iters = 50
min_lr = 1e-4
eval_interval = 400
eval_iters = 10
n_eval = 200
max_new_tokens = 128
