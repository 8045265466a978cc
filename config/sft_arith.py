# SFT of the tiny pretrained model (config/train_tiny.py: context 256, 8k BPE) on the synthetic arithmetic
# problems: the first alignment stage of the CPU pipeline. About 10 minutes on 2 CPU cores.
# Needs: python data/arith/prepare.py and out/tiny/best.pt.
out_dir = 'out/sft_arith'
init_from = 'out/tiny/best.pt'
task = 'arith'
batch_size = 16
max_iters = 600
learning_rate = 1e-3
warmup_iters = 30
min_lr = 1e-4
eval_interval = 200
eval_iters = 10
n_eval = 200
max_new_tokens = 128
