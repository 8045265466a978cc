#!/usr/bin/env bash
# The alignment chain at GPU scale: the CPU chain's best recipe (experiments/alignment/chain_rich_cpu.sh, then
# chain_greedy_cpu.sh) in one run at one commit, with the sample counts a CPU cannot afford:
#   pretrain (config/train_tiny.py) -> SFT with the calculator on the rich wordings, 2,400 steps -> one round of
#   DPO + NLL with greedy pairs on 8,000 problems of the "both" pool (>= 500 held-out pairs) -> a verifier trained
#   on 16 samples of each of 1,500 harder problems (1,000 held out) -> the stage tables (base, SFT, SFT+tool,
#   DPO+tool; the verifier on 1,000 harder test problems x 16 samples) -> test-time compute on those 1,000 ->
#   greedy stage tables on five more test sets (ours, held-out wordings, made-up names, the other generator, open).
# The model is the CPU chain's (4 layers, 192 wide), so the rows compare with the CPU files; only the budgets grow.
# Every file goes to $RESULTS (default experiments/gpu/chain); each stage's wall time is in its file.
#   DATA_DIR=../shared/data bash experiments/gpu/chain.sh
# A CPU smoke run of the same script (minutes, nothing to report):
#   SMOKE=1 RESULTS=/tmp/chain OUT_DIR=/tmp/chain_out DATA_DIR=../shared/data bash experiments/gpu/chain.sh
source "$(dirname "$0")/../alignment/common.sh"
R=${RESULTS:-experiments/gpu/chain}
O=${OUT_DIR:-out/gpu_chain}
mkdir -p "$R" "$O"
# budgets: the GPU run's, or a smoke run's that only checks the wiring
if [ -n "${SMOKE:-}" ]; then
  PRE=(--max_iters=20 --eval_interval=10 --eval_iters=2 --n_layer=1 --n_embd=32 --n_head=2)
  SFT=(--max_iters=20 --eval_interval=10 --n_eval=8)
  # an untrained model solves nothing, so DPO takes HH-RLHF pairs and the verifier the tests' labelled samples
  DPO=(--pairs=hh --max_iters=4 --eval_interval=2 --n_eval=8)
  python3 -c "import sys, pathlib; sys.path.insert(0, 'tests'); import test_verifier as t
t.sample_file(pathlib.Path('$O/fake.json'))"
  VER=(--samples_from=$O/fake.json --max_iters=4 --eval_interval=2)
  N_TEST=12; N_SAMPLED=12; N_SEL=8; NS=4; BUDGETS='(1, 2, 4)'
else
  PRE=(); SFT=(--max_iters=2400 --eval_interval=800 --n_eval=500); DPO=(--n_prompts=8000 --n_eval=600)
  VER=(--n_prompts=1500 --n_val_prompts=1000 --n_samples=16 --max_iters=1000 --eval_interval=250 --batch_size=64)
  N_TEST=0; N_SAMPLED=1000; N_SEL=200; NS=16; BUDGETS='(1, 2, 4, 8, 16)'  # N_TEST=0: every test problem
fi
# the training and test draws of the CPU chain (same seeds), and the "both" pool at twice its size
rich_draws
python3 data/arith/prepare.py "${HARD[@]}" --n_train=4000 --n_val=1000 --n_heldout=0 --seed=8765 \
  --out_dir=data/arith_hard_train_gpu
mix_pool data/arith_dpo_mix_gpu 4000 300
t0=$SECONDS
stage() { local t=$SECONDS; echo "== $*"; "$@"; echo "== $(( SECONDS - t )) s: $1 $2"; }
stage python3 train.py config/train_tiny.py --out_dir=$O/tiny "${PRE[@]}" > $O/tiny.log
stage python3 sft.py config/sft_arith.py --init_from=$O/tiny/best.pt --task_dir=data/arith_rich --out_dir=$O/sft \
  "${SFT[@]}" --results_dir=$R --name=gpu_sft
stage python3 dpo.py config/dpo_arith.py --init_from=$O/sft/best.pt --task_dir=data/arith_dpo_mix_gpu \
  --greedy_pairs=True --temperature=0.8 --learning_rate=2e-5 --min_lr=2e-6 --out_dir=$O/dpo "${DPO[@]}" \
  --results_dir=$R --name=gpu_dpo
stage python3 verifier.py config/verifier_arith.py --generator=$O/dpo/best.pt --task_dir=data/arith_hard_train_gpu \
  --temperature=1.0 --out_dir=$O/verifier "${VER[@]}" --results_dir=$R --name=gpu_verifier
S=base=$O/tiny/best.pt,sft=$O/sft/best.pt,sft+tool=$O/sft/best.pt,dpo+tool=$O/dpo/best.pt
E=(--stages=$S --n_problems=$N_TEST --gsm8k_problems=0 --hh_pairs=0 --results_dir=$R)
# the verifier where the DPO model errs: the harder split, every test problem sampled 16 times
stage python3 eval.py alignment "${E[@]}" --task_dir=data/arith_hard --verifier=$O/verifier/best.pt \
  --n_sampled=$N_SAMPLED --n_samples=$NS --n_select=$N_SEL --sampled_stages=last --name=gpu_hard
stage python3 tts.py config/tts_arith.py --generator=$O/dpo/best.pt --verifier=$O/verifier/best.pt \
  --task_dir=data/arith_hard --n_problems=$N_SAMPLED "--budgets=$BUDGETS" --results_dir=$R --name=gpu_hard
for split in test test_heldout; do
  stage python3 eval.py alignment "${E[@]}" --arith_split=$split --n_sampled=0 --name=gpu_$split
done
for d in arith_made_up arith_other arith_open; do
  stage python3 eval.py alignment "${E[@]}" --task_dir=data/$d --n_sampled=0 --name=gpu_${d#arith_}
done
echo "chain wall time: $((SECONDS - t0)) s"
