# SFT of the train_small checkpoint (context 256, 8k BPE) on the synthetic arithmetic problems.
# About 12 minutes on 2 CPU cores. Needs: python data/arith/prepare.py and a pretrained out/small/best.pt (config/train_small.py).
out_dir = 'out/sft_arith'
init_from = 'out/small/best.pt'
task = 'arith'
batch_size = 16
max_iters = 300
learning_rate = 5e-4
warmup_iters = 30
min_lr = 5e-5
eval_interval = 100
eval_iters = 10
n_eval = 200
max_new_tokens = 128
