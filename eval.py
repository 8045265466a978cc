"""
The evaluation suite. Every suite writes JSON + CSV rows with provenance under experiments/<suite>/.
    python eval.py lm --ckpt=out/small/best.pt          # WikiText-2 val + test: perplexity, bits per byte
    python eval.py ablations --runs=out/abl_mha,out/abl_gqa   # architecture ablation table
    python eval.py sinks --ckpt=out/abl_mha/best.pt     # StreamingLLM: perplexity and generation past the context
    python eval.py quant --ckpt=out/small/best.pt       # NF4 4-bit weights: memory saved, perplexity change
    python eval.py attention --ckpt=out/tiny/best.pt    # attention maps and attention-sink mass by layer
    python eval.py arith --ckpt=out/sft_arith/best.pt   # greedy EM on the arith test set (also: gsm8k), errors by kind
    python eval.py alignment --stages=base=out/tiny/best.pt,sft=out/sft_arith/best.pt,dpo=out/dpo_arith/best.pt \
        --verifier=out/verifier_arith/best.pt            # the stage table: EM, verifier best-of-N, Pass@N, HH accuracy
    python eval.py sst2 --ckpt=out/tiny/best.pt         # SST-2 validation by label-word logits (finetune.py's scorer)
    python eval.py samsum --ckpt=data/models/SmolLM2-135M-Instruct   # SAMSum validation, greedy, ROUGE
    python eval.py tts --ckpt=out/dpo_arith/best.pt --verifier=out/verifier_arith/best.pt   # runs tts.py
    python eval.py all --ckpt=out/tiny/best.pt          # every suite that needs only a checkpoint, one summary
--ckpt takes our checkpoints and Hugging Face Llama-family folders (export.py's, finetune.py's, SmolLM2). The
metrics (metrics.py) and the benchmarks' prompts (tasks.py) live once, shared with finetune.py, so every row compares.
This file is the command line: the config below, then one suite function call. The suites live in eval_lm.py
(lm, ablations, sinks, quant, attention) and eval_tasks.py (arith, gsm8k, alignment, sst2, samsum, tts). Each is
suite_<name>(rt, cfg): rt is the runtime (device, autocast), cfg the parsed config below; suites and their helpers
take their inputs as arguments and read no module globals, so other code can call them.
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import sys
import time
from types import SimpleNamespace

from common import REPO, UserError, append_result, ckpt_name, configure, provenance, setup_runtime, split_suite
from eval_lm import suite_ablations, suite_attention, suite_lm, suite_quant, suite_sinks
from eval_tasks import suite_alignment, suite_samsum, suite_sst2, suite_task, suite_tts

# -----------------------------------------------------------------------------
ckpt = 'out/tiny/best.pt'      # checkpoint file, run folder (ckpt.pt) or exported HF folder
name = ''                      # result name; '' = derived from the checkpoint path
dataset = 'wikitext2'          # lm: data/<dataset>[_8k]/ with val.bin/test.bin, chosen by the model's tokenizer
splits = 'val,test'
extra_datasets = 'tinystories'  # lm: also their val split, when prepared (skipped with the command to prepare it)
stride = 0                     # lm: 0 = non-overlapping windows of block_size; < block_size = sliding window
context = 0                    # lm: window length (0 = the model's block_size; HF models: e.g. 1024)
batch_size = 8
max_tokens = 0                 # lm: evaluate only the first N tokens of each split (0 = all)
runs = ''                      # ablations: comma-separated run folders (each with best.pt, summary.json, log.jsonl)
n_sink = 4                     # sinks: attention-sink slots; the cache holds n_sink + window = block_size
lengths = (1, 2, 4, 8)           # sinks: evaluate at these multiples of the training context
n_seqs = 4                     # sinks: test sequences of max(lengths) x block_size tokens (0 = the whole test split)
recompute_seqs = 0             # sinks: the recompute bound (a forward per token) on only the first N of them (0 = all)
stages = ''                    # alignment: name=checkpoint,... in pipeline order
verifier = ''                  # alignment: verifier checkpoint for best-of-N on the last stage ('' = none)
n_problems = 0                 # arith/gsm8k/alignment/sst2/samsum: the first N test examples (0 = all; tts: 200)
n_sampled = 200                # alignment: problems that also get n_samples samples (Pass@N, the verifier; 0 = none)
n_samples = 8                  # alignment: samples per problem; tts: the largest budget (1, 2, 4, ... n_samples)
n_select = 100                 # alignment: val problems on which the verifier's strategy is chosen
sampled_stages = 'all'         # alignment: 'all' stages draw the n_samples (Pass@N), or only the 'last' (the verifier's)
temperature = 0.8
max_new_tokens = 128           # arith/gsm8k/alignment/tts: tokens generated per solution
summary_tokens = 48            # samsum: tokens generated per summary (config/finetune_samsum.py's max_new_tokens)
tool = False                   # arith/gsm8k: the calculator writes results into the stream
task_dir = ''                  # arith/gsm8k/alignment: a folder with test.jsonl instead of the default location
arith_split = 'test'           # arith/alignment: test, or test_heldout (wordings never trained on)
gsm8k_problems = 200           # alignment: also greedy EM on the first N GSM8K test problems (0 = skip)
hh_pairs = 200                 # alignment: held-out HH-RLHF pairs for preference accuracy (0 = skip)
results_dir = os.path.join(REPO, 'experiments')
device = 'auto'
dtype = 'auto'
seed = 1337
# -----------------------------------------------------------------------------


# -----------------------------------------------------------------------------
# all: every suite that needs only --ckpt (and alignment / ablations when --stages / --runs are given)

HEADLINE = {'lm': ('name', 'token_ppl', 'bpb'), 'sst2': ('accuracy', 'accuracy_ci95', 'macro_f1'),
            'samsum': ('rouge1', 'rouge2', 'rougeL', 'rougeLsum'), 'arith': ('em', 'em_ci95', 'n_em'),
            'gsm8k': ('em', 'em_ci95', 'n_em'), 'attention': ('sink_mass_by_layer', 'uniform_sink_mass'),
            'tts': ('greedy_em', 'best_strategy', 'best_strategy_em', 'oracle_at_n_max'),
            'ablations': ('name', 'val_ppl', 'train_tok_s', 'decode_tok_s'),
            'alignment': ('stage', 'arith_em', 'arith_em_ci95', 'verifier_delta_em')}


def suite_all(rt, cfg):
    """One suite after another; a suite whose inputs are missing (data not prepared, a GPT-2 tokenizer
    folder absent, ...) is reported and skipped and the rest still run. Writes experiments/all/<name>.json
    with each suite's headline numbers (the full rows are in each suite's own folder)."""
    t0 = time.time()
    order = ['lm', 'attention', 'arith', 'gsm8k', 'sst2', 'samsum', 'tts']
    order += ['alignment'] * bool(cfg.stages) + ['ablations'] * bool(cfg.runs)
    summary = {}
    for suite in order:
        print(f"--- {suite}")
        try:
            rows = SUITES[suite](rt, cfg)
        except UserError as e:
            print(f"{suite}: skipped: {e}")
            summary[suite] = dict(skipped=str(e))
            continue
        summary[suite] = [{k: r.get(k) for k in HEADLINE.get(suite, ()) if k in r} for r in rows]
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    append_result(dict(name=run_name, checkpoint=cfg.ckpt, suites=summary, **provenance(t0)), 'all', run_name, cfg.results_dir)
    print(f"all: {', '.join(f'{k} ' + ('skipped' if isinstance(v, dict) else 'done') for k, v in summary.items())}")
    return [summary]


SUITES = {'lm': suite_lm, 'ablations': suite_ablations, 'sinks': suite_sinks, 'quant': suite_quant,
          'arith': lambda rt, cfg: suite_task(rt, cfg, 'arith'), 'gsm8k': lambda rt, cfg: suite_task(rt, cfg, 'gsm8k'),
          'alignment': suite_alignment, 'attention': suite_attention, 'sst2': suite_sst2, 'samsum': suite_samsum,
          'tts': suite_tts, 'all': suite_all}

if __name__ == '__main__':
    suite, args = split_suite(sys.argv[1:])
    cfg = SimpleNamespace(**configure(globals(), args))  # every suite reads its inputs from cfg, not from globals
    if suite not in SUITES:
        raise UserError(f"unknown or missing suite '{suite}'; choose one of: {', '.join(SUITES)}")
    SUITES[suite](setup_runtime(cfg.device, cfg.dtype, cfg.seed), cfg)
