#!/usr/bin/env bash
# One button: install, prepare data, pretrain, SFT -> DPO -> verifier, test-time compute, evaluate, report.
# The scale follows the hardware; SCALE=cpu|gpu overrides it. CUDA: the RTX 3060 configs. CPU: a complete small
# run, 28.8 min on a 162 GFLOP/s 2-core host (measured at e5a330f; experiments/speedrun/).
# Finished stages leave a marker in $STATE and are skipped on rerun; an interrupted training stage resumes
# from its checkpoint. Offline: DATA_DIR=path/to/data bash speedrun.sh
#   bash speedrun.sh            # the whole pipeline
#   bash speedrun.sh eval       # only re-run the evaluation suite on the existing checkpoints
#   bash speedrun.sh plan       # print each stage's command, run nothing (tests/test_speedrun.py checks them)
#   bash speedrun.sh plan dpo   # print one stage's command alone (experiments/speedrun/ scripts add their overrides)
set -euo pipefail
cd "$(dirname "$0")"
export OMP_WAIT_POLICY=PASSIVE
# glibc malloc: keep tensors up to 1 GB on the heap and freed memory for the next step, instead of a fresh mmap
# (and a page fault per zeroed 4 KB page) for every activation: CPU training steps ~7% faster, peak memory +4%
# (experiments/bench/malloc.json). Other C libraries ignore these.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1000000000} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-10000000000}
if [ -n "${DATA_DIR:-}" ]; then
  DATA_DIR="$(cd "$DATA_DIR" 2>/dev/null && pwd)" || { echo "error: DATA_DIR is not a directory (unset it to download)" >&2; exit 1; }
  export DATA_DIR
fi

PLAN=$([ "${1:-}" = plan ] && echo 1 || true)
PLAN_STAGE=$([ -n "$PLAN" ] && echo "${2:-}" || true)  # plan NAME: that stage's command alone
[ -n "$PLAN" ] || bash install.sh
if [ -z "${SCALE:-}" ]; then
  SCALE=$(python3 -c "import torch; print('gpu' if torch.cuda.is_available() else 'cpu')")
fi
if [ "$SCALE" = gpu ]; then
  TOKENIZER=gpt2; PRETRAIN=config/train_medium.py; RUN=out/medium
  # 5,000 of train_medium's iterations: 164M FineWeb-Edu tokens, 0.8 epochs of a 200M-token sample (~4 h on a 3060)
  CORPUS=(python3 data/fineweb_edu/prepare.py --max_tokens=200000000); PRE=(--max_iters=5000)
  SFT=(); DPO=(); VER=(); LM=(); SINKS=(); QUANT=(); ALIGN=(); TTS=(); SAMSUM=(); LONG=()  # the configs as written
  DLABEL=dpo
else
  TOKENIZER=gpt2_8k; PRETRAIN=config/train_tiny.py; RUN=out/tiny
  PRE=()  # the tiny model pretrains on WikiText-2 itself (0.4 epochs)
  # budgets for a CPU run of 28.8 min on a 162 GFLOP/s 2-core host (the target is 30): fewer sampled problems,
  # shorter DPO/verifier
  # (the full-size runs behind the committed tables use the configs as written: see experiments/*/)
  SFT=(--n_eval=100 --max_iters=1200 --eval_interval=600)  # 800 steps ended on the steep part of the climb
  # The DPO stage is its NLL half (iterative RPO's NLL term, Pang et al. 2024; rejection-sampling fine-tuning):
  # 4 samples of each of data/arith_long's 4,000 training problems, the chosen (right) side of their (right, wrong)
  # pairs, beta 0: no preference term, so a training step runs the chosen half alone (dpo.py). At this scale the
  # preference term costs EM (-7 to +1 points in every variant tried: experiments/alignment/NOTES.md, 2026-12-07);
  # this recipe (at beta 1e-4) gained +1.8 (p = 9e-4) on the 1,000 longer test problems from the same SFT model,
  # and compounds over rounds (experiments/dpo/rft_rounds.sh)
  DLABEL=rft  # the DPO stage's row in the tables
  DPO=(--task_dir=data/arith_long --greedy_pairs=False --n_prompts=4000 --n_samples=4 --beta=0 --max_iters=100
       --eval_interval=50 --n_eval=100)
  # the verifier: 8 samples of 300 longer problems, step labels (a wrong solution's steps before its first
  # departure count as right). After the NLL round no verifier tried gains over greedy (a null bounded to half a
  # point on 4,000 problems: experiments/speedrun/NOTES.md), so the run spends 15% of the samples of
  # experiments/verifier/step_labels.sh's D (1,000 x 16, 400 steps: +1.6 at N = 16 before the round, p = 0.002)
  VER=(--task_dir=data/arith_long --n_prompts=300 --n_val_prompts=100 --n_samples=8 --step_labels=True
       --max_iters=150 --eval_interval=75)
  LM=(--max_tokens=100000)  # perplexity on the first 100k tokens of val and of test (a third of each)
  SINKS=(--n_seqs=2 "--lengths=(1, 2, 4)")
  QUANT=(--max_tokens=60000)
  # only the last stage draws samples (the verifier's): base and SFT get greedy EM, not pass@8
  ALIGN=(--n_problems=500 --n_sampled=100 --n_samples=8 --n_select=50 --gsm8k_problems=50 --hh_pairs=100
         --sampled_stages=last)
  TTS=(--task_dir=data/arith_long --n_problems=100 "--budgets=(1, 2, 4, 8)")  # where samples disagree
  SAMSUM=(--n_problems=100)
  # greedy on all 1,000 longer problems (the NLL round's ~2 points need that many paired problems: 300 gave p = 0.04
  # to 0.38 for +1 to +2.3); the verifier at N = 8 on 300 of them (only the last stage samples)
  LONG=(--n_problems=1000 --n_sampled=300 --n_samples=8 --sampled_stages=last)
fi
STATE=${STATE:-out/speedrun_$SCALE}  # stage markers and the alignment chain's checkpoints
A=$STATE; N="--name=speedrun_$SCALE"  # result rows under experiments/<stage>/speedrun_<scale>.json
[ -n "$PLAN_STAGE" ] || echo "speedrun: scale=$SCALE, state in $STATE"
if [ -n "$PLAN" ]; then set -- all; else mkdir -p "$STATE"; fi
# provenance at the start (commit, code diff hash, hardware, this host's measured matmul peak), once per state folder
[ -n "$PLAN" ] || [ -f "$STATE/provenance.json" ] || SCALE=$SCALE python3 - "$STATE" <<'PY'
import os, sys
from common import measure_matmul_peak, provenance, write_json
p = provenance()
p.update(command=f"SCALE={os.environ['SCALE']} bash speedrun.sh", matmul_peak_gflops=round(measure_matmul_peak() / 1e9, 1))
write_json(p, os.path.join(sys.argv[1], 'provenance.json'))
PY

# stage NAME CMD...: run CMD once; a marker file records success and the wall time
stage() {
  local name=$1; shift
  if [ -n "$PLAN" ]; then
    if [ -z "$PLAN_STAGE" ]; then printf '%s\t' "$name"; printf '%q ' "$@"; echo
    elif [ "$PLAN_STAGE" = "$name" ]; then printf '%q ' "$@"; echo; PLANNED=1; fi
    return
  fi
  if [ -f "$STATE/$name.done" ]; then echo "== $name: done already ($(cat "$STATE/$name.done")), skipping"; return; fi
  echo "== $name: $*"
  local t0=$SECONDS
  "$@"
  echo "$((SECONDS - t0))s" > "$STATE/$name.done"
  echo "== $name: finished in $((SECONDS - t0))s"
}

# resume a training stage when its checkpoint exists (a killed run continues where it stopped)
init_flag() { [ -f "$1/ckpt.pt" ] && echo "--init_from=resume" || echo "--init_from=scratch"; }
# the alignment stages: --init_from=resume (overriding the start given before it) when a checkpoint exists
resume_flag() { [ -f "$1/ckpt.pt" ] && echo "--init_from=resume"; true; }

if [ "${1:-all}" = eval ]; then rm -f "$STATE"/eval_*.done; fi
if [ "${1:-all}" = all ]; then
  # 1. tokenize WikiText-2 (train/val/test) into data/wikitext2*/*.bin (GPU: also the FineWeb-Edu pretraining
  #    corpus); synthetic GSM8K-format problems
  stage data python3 data/wikitext2/prepare.py --tokenizer=$TOKENIZER
  if [ "$SCALE" = gpu ]; then stage data_corpus "${CORPUS[@]}"; fi
  stage data_arith python3 data/arith/prepare.py
  # longer problems (1-5 steps, up to 3 distractors), none of data/arith's questions: the CPU run's DPO and
  # verifier pool, and a second test set of the stage table
  stage data_arith_long python3 data/arith/prepare.py --min_steps=1 --max_steps=5 --distractors=3 --n_train=4000 \
    --n_val=300 --n_test=1000 --n_heldout=0 --seed=555 --avoid=data/arith --out_dir=data/arith_long
  # 500 problems of the same kind from a separately written generator (no sentence, name or object of ours):
  # scored only, never trained on, to show what the stages learned beyond our templates
  stage data_arith_other python3 data/arith_other/prepare.py
  # 2. pretrain a GPT from scratch
  stage pretrain python3 train.py $PRETRAIN --out_dir=$RUN "${PRE[@]}" "$(init_flag $RUN)"
  # 3. SFT on the arithmetic problems with the calculator in the loop (loss on the tokens the model writes)
  stage sft python3 sft.py config/sft_arith.py --init_from=$RUN/best.pt --out_dir=$A/sft $N "${SFT[@]}" \
    $(resume_flag $A/sft)
  # 4. DPO + NLL (one round of iterative RPO) on on-policy pairs: the SFT model's own right and wrong answers
  #    (CPU: the NLL half alone, see DPO above)
  stage dpo python3 dpo.py config/dpo_arith.py --init_from=$A/sft/best.pt --out_dir=$A/dpo $N "${DPO[@]}" \
    $(resume_flag $A/dpo)
  # 5. a verifier of the DPO model's answers (P(correct) from a value head on our trunk)
  stage verifier python3 verifier.py config/verifier_arith.py --generator=$A/dpo/best.pt --out_dir=$A/verifier $N \
    "${VER[@]}" $(resume_flag $A/verifier)
fi
# 6. evaluate: perplexity and bits per byte on WikiText-2 val/test -> experiments/lm/
stage eval_lm python3 eval.py lm --ckpt=$RUN/best.pt --name="speedrun_$SCALE" "${LM[@]}"
# 7. streaming past the context: dense vs window vs sinks vs recompute -> experiments/sinks/
stage eval_sinks python3 eval.py sinks --ckpt=$RUN/best.pt --name="speedrun_$SCALE" "${SINKS[@]}"
# 8. the 4-bit NF4 base: memory saved and perplexity cost -> experiments/quant/
stage eval_quant python3 eval.py quant --ckpt=$RUN/best.pt --name="speedrun_$SCALE" "${QUANT[@]}"
# 9. the stage table: Base, SFT + calculator, DPO + calculator, + verifier on the arith test set (and on wordings
#    never trained on, and on the longer problems), GSM8K, HH-RLHF
#    (the base model is scored in the first table only: it has not learned the answer format, ~0 on every split)
ALIGNED=sft+tool=$A/sft/best.pt,$DLABEL+tool=$A/dpo/best.pt
stage eval_alignment python3 eval.py alignment $N --stages=base=$RUN/best.pt,$ALIGNED --verifier=$A/verifier/best.pt \
  "${ALIGN[@]}"
stage eval_heldout python3 eval.py alignment --name=speedrun_${SCALE}_heldout --stages=$ALIGNED --arith_split=test_heldout \
  --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0 "${ALIGN[0]:---n_problems=0}"
stage eval_other python3 eval.py alignment --name=speedrun_${SCALE}_other --stages=$ALIGNED --task_dir=data/arith_other \
  --n_sampled=0 --gsm8k_problems=0 --hh_pairs=0
stage eval_long python3 eval.py alignment --name=speedrun_${SCALE}_long --stages=$ALIGNED --task_dir=data/arith_long \
  --verifier=$A/verifier/best.pt "${ALIGN[@]}" --gsm8k_problems=0 --hh_pairs=0 "${LONG[@]}"
# 10. test-time compute: strategies against samples spent -> experiments/tts/
stage eval_tts python3 tts.py config/tts_arith.py $N --generator=$A/dpo/best.pt \
  --verifier=$A/verifier/best.pt "${TTS[@]}"
# 11. where attention goes: maps and attention-sink mass by layer -> experiments/attention/
stage eval_attention python3 eval.py attention --ckpt=$RUN/best.pt $N
# 12. the pretrained model on SST-2 and SAMSum with finetune.py's prompts and scorers -> experiments/sst2|samsum/
stage eval_sst2 python3 eval.py sst2 --ckpt=$RUN/best.pt $N
stage eval_samsum python3 eval.py samsum --ckpt=$RUN/best.pt $N "${SAMSUM[@]}"
# 13. a few samples from the pretrained model
stage sample python3 sample.py --out_dir=$RUN --start="The history of" --num_samples=2 --max_new_tokens=60
if [ -n "$PLAN_STAGE" ] && [ -z "${PLANNED:-}" ]; then echo "error: no stage named '$PLAN_STAGE' ($SCALE scale)" >&2; exit 1; fi
if [ -n "$PLAN" ]; then exit 0; fi
{ echo "speedrun ($SCALE) finished $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null). Stage times:"
  for f in "$STATE"/*.done; do echo "  $(basename "$f" .done): $(cat "$f")"; done; } | tee "$STATE/summary.txt"
# the stage times as a result file: experiments/speedrun/<scale>.json (with commit and hardware)
python3 - "$STATE" "$SCALE" <<'PY'
import glob, json, os, sys
from common import REPO, write_json
state, scale = sys.argv[1:]
stages = {os.path.basename(f)[:-5]: int(open(f).read().strip().rstrip('s')) for f in sorted(glob.glob(f'{state}/*.done'))}
start = json.load(open(os.path.join(state, 'provenance.json')))  # taken when the speedrun started
start.pop('wall_time_s', None)
os.makedirs(os.path.join(REPO, 'experiments', 'speedrun'), exist_ok=True)
write_json(dict(scale=scale, stage_seconds=stages, total_seconds=sum(stages.values()), **start),
           os.path.join(REPO, 'experiments', 'speedrun', f'{scale}.json'))
PY
# 14. figures (report/figures/) and the paper (report/paper.md) from everything under experiments/, the stage
#     times just written included
python3 viz.py
python3 report/make.py
