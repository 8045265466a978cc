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
Each suite is a function suite_<name>(rt, cfg): rt is the runtime (device, autocast), cfg the parsed config below;
suites and their helpers take their inputs as arguments and read no module globals, so other code can call them.
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import copy
import json
import math
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
from tqdm import tqdm

from common import (REPO, UserError, append_result, configure, load_for_inference, load_model, nats_to_bpb, provenance,
                    setup_runtime, split_suite, time_train_steps, write_examples)

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
n_seqs = 4                     # sinks: independent test sequences
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
# Metrics of the language-model suites (the task metrics are in metrics.py, shared with the training stages)

def perplexity(nll_sum, n):
    return math.exp(nll_sum / n)


def ckpt_name(ckpt):
    """A result name from --ckpt: the run folder of a checkpoint file, or the folder itself (HF folders)."""
    path = os.path.abspath(ckpt)
    return os.path.basename(path if os.path.isdir(path) else os.path.dirname(path))


# -----------------------------------------------------------------------------
# lm suite: perplexity and bits per byte on held-out text

@torch.no_grad()
def lm_nll(model, tokens, block_size, stride, batch_size, autocast, device):
    """Sum of next-token NLL over `tokens` (1-D int array). Each window of block_size tokens scores only the
    tokens no earlier window scored, so with stride < block_size every token gets >= block_size - stride
    tokens of context (the sliding-window evaluation of HF's perplexity guide); stride = block_size is
    non-overlapping. Returns (nll_sum, n_scored): all tokens but the first are scored."""
    stride = stride or block_size
    starts = list(range(0, max(1, len(tokens) - 1), stride))
    nll_sum, n_scored, scored_until = 0.0, 0, 0  # scored_until: index of the first target not yet scored
    for b in tqdm(range(0, len(starts), batch_size), desc='windows', leave=False, disable=None):
        windows = []
        for s in starts[b:b + batch_size]:
            chunk = np.asarray(tokens[s:s + block_size + 1], dtype=np.int64)
            x, y = chunk[:-1], chunk[1:].copy()
            first_new = max(scored_until - (s + 1), 0)  # target j is token s+1+j
            y[:first_new] = -1
            scored_until = s + 1 + len(y)
            pad = block_size - len(x)
            windows.append((np.pad(x, (0, pad)), np.pad(y, (0, pad), constant_values=-1)))
        x = torch.from_numpy(np.stack([w[0] for w in windows])).to(device)
        y = torch.from_numpy(np.stack([w[1] for w in windows])).to(device)
        with autocast:
            logits, _ = model(x)
        nll = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), y, ignore_index=-1, reduction='sum')
        nll_sum += nll.item()
        n_scored += (y != -1).sum().item()
    return nll_sum, n_scored


def token_split(tokenizer, split, source=None, *, dataset):
    """Tokens of data/<source>[_8k]/<split>.bin (source: the dataset key by default) for the model's tokenizer,
    plus the dataset's meta.json. An HF folder's own tokenizer (SmolLM2, ...) has no prepared files: WikiText-2's
    raw text is tokenized here, and its bytes and words counted, so bits per byte compare across tokenizers."""
    source = source or dataset
    if os.path.isdir(tokenizer):
        from common import get_tokenizer, wikitext2_text
        if os.path.basename(source) != 'wikitext2':
            raise UserError(f"a model with its own tokenizer ({tokenizer}) is scored on WikiText-2's raw text only")
        text = wikitext2_text({'val': 'validation'}.get(split, split))
        tokens = np.array(get_tokenizer(tokenizer).encode(text), dtype=np.int64)
        info = dict(tokens=len(tokens), bytes=len(text.encode('utf-8')), words=len(text.split()))
        return tokens, dict(tokenizer=tokenizer, splits={split: info})
    ddir = os.path.join(REPO, 'data', source + tokenizer.removeprefix('gpt2'))
    meta_path, path = os.path.join(ddir, 'meta.json'), os.path.join(ddir, f'{split}.bin')
    if not os.path.exists(meta_path) or not os.path.exists(path):
        raise UserError(f"{path} missing; prepare it with: python data/{os.path.basename(source)}/prepare.py "
                        f"--tokenizer={tokenizer}")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta['tokenizer'] != tokenizer:
        raise UserError(f"{ddir} was tokenized with {meta['tokenizer']} but the model uses {tokenizer}")
    return np.memmap(path, dtype=np.uint16, mode='r'), meta


def suite_lm(rt, cfg):
    model, meta_ckpt = load_model(cfg.ckpt, rt['device'])
    model.eval()
    ckpt_config = meta_ckpt.get('config', {})
    tokenizer = ckpt_config.get('tokenizer', 'gpt2')
    run_dir = cfg.ckpt if os.path.isdir(cfg.ckpt) else os.path.dirname(cfg.ckpt)
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    train_summary = {}
    if os.path.exists(os.path.join(run_dir, 'summary.json')):
        with open(os.path.join(run_dir, 'summary.json')) as f:
            train_summary = json.load(f)
    rows, jobs = [], [(cfg.dataset, split) for split in cfg.splits.split(',')]
    for extra in filter(None, cfg.extra_datasets.split(',')):  # e.g. TinyStories val, when it has been prepared
        try:
            token_split(tokenizer, 'val', extra, dataset=cfg.dataset)
            jobs.append((extra, 'val'))
        except UserError as e:
            print(f"{extra}: skipped, {e}")
    for source, split in jobs:
        t0 = time.time()
        tokens, meta = token_split(tokenizer, split, source, dataset=cfg.dataset)
        info = meta['splits'][split]
        frac = 1.0
        if cfg.max_tokens and cfg.max_tokens < len(tokens):
            frac, tokens = cfg.max_tokens / len(tokens), tokens[:cfg.max_tokens]
        window = cfg.context or model.config.block_size
        nll, n = lm_nll(model, tokens, window, cfg.stride, cfg.batch_size, rt['autocast'], rt['device'])
        # bytes/words of an evaluated prefix are prorated by its token share (exact when max_tokens = 0)
        n_bytes, n_words = info['bytes'] * frac, info['words'] * frac
        tag = split if source == cfg.dataset else f'{os.path.basename(source)}_{split}'
        row = dict(name=f'{run_name}_{tag}', checkpoint=cfg.ckpt, dataset=source, split=split, tokenizer=tokenizer,
                   params=model.num_params(), block_size=window, stride=cfg.stride or window,
                   tokens_scored=n, nll_per_token=nll / n, token_ppl=perplexity(nll, n),
                   # word-level ppl: total NLL over the whitespace words of the raw text (Radford et al. 2019)
                   word_ppl=math.exp(nll / n_words), bpb=nats_to_bpb(nll / n, n, n_bytes),
                   train_iters=train_summary.get('iters'), train_tokens=train_summary.get('tokens'),
                   train_wall_s=train_summary.get('train_time_s'), train_best_val_loss=train_summary.get('best_val_loss'),
                   train_config=train_summary.get('config', cfg), train_hardware=train_summary.get('hardware'),
                   **provenance(t0))
        print(f"{row['name']}: token ppl {row['token_ppl']:.2f}, word ppl {row['word_ppl']:.2f}, bpb {row['bpb']:.4f} "
              f"({n:,} tokens)")
        append_result(row, 'lm', row['name'], cfg.results_dir)
        rows.append(row)
    # keep the training log beside the results so curves can be redrawn from committed files
    for f in ('log.jsonl', 'summary.json'):
        if os.path.exists(os.path.join(run_dir, f)):
            shutil.copy(os.path.join(run_dir, f), os.path.join(cfg.results_dir, 'lm', f'{run_name}_{f}'))
    return rows


# -----------------------------------------------------------------------------
# ablations suite: quality, speed and memory of architecture variants trained with the same budget

@torch.no_grad()
def decode_speed(model, device, new_tokens=100, batch=1, repeats=3, **kw):
    """Best-of-`repeats` generation tok/s (per sequence x batch) from a short prompt with the KV cache."""
    prompt = min(16, model.config.block_size // 4)
    new_tokens = min(new_tokens, model.config.block_size - prompt)
    x = torch.randint(0, model.config.vocab_size - 1, (batch, prompt), device=device)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.generate(x, new_tokens, temperature=0, **kw)
        best = max(best, batch * new_tokens / (time.perf_counter() - t0))
    return best


def suite_ablations(rt, cfg):
    if not cfg.runs:
        raise UserError("ablations needs --runs=DIR1,DIR2,... (train.py run folders)")
    rows = []
    for run_dir in cfg.runs.split(','):
        t0 = time.time()
        model, meta_ckpt = load_model(os.path.join(run_dir, 'best.pt'), rt['device'])
        model.eval()
        tokenizer = meta_ckpt['config'].get('tokenizer', 'gpt2')
        with open(os.path.join(run_dir, 'summary.json')) as f:
            summary = json.load(f)
        with open(os.path.join(run_dir, 'log.jsonl')) as f:
            log = [json.loads(line) for line in f]
        steps = [r for r in log if 'tok_s' in r]
        tokens, meta = token_split(tokenizer, 'val', dataset=cfg.dataset)
        if cfg.max_tokens:
            tokens = tokens[:cfg.max_tokens]
        nll, n = lm_nll(model, tokens, model.config.block_size, 0, cfg.batch_size, rt['autocast'], rt['device'])
        mc = model.config  # the run's architecture
        tb = summary['config']['batch_size']
        losses = [r['loss'] for r in steps]
        # a spike: a logged loss more than 0.5 nats above the best loss logged before it
        spikes = sum(1 for i, l in enumerate(losses[1:], 1) if l > min(losses[:i]) + 0.5)
        row = dict(name=os.path.basename(os.path.normpath(run_dir)), run=run_dir, n_head=mc.n_head,
                   n_kv_head=mc.n_kv_head, n_experts=mc.n_experts, moe_top_k=mc.moe_top_k if mc.n_experts else 0,
                   params=model.num_params(), active_params=model.num_params(active=True),
                   # speed re-measured here, every variant in one process on the same machine state;
                   # the run's own log median is kept too (it may have shared the cores)
                   train_tok_s=tb * mc.block_size / time_train_steps(copy.deepcopy(model), tb, mc.block_size,
                                                                      mc.vocab_size, 5, rt['device']),
                   train_tok_s_during_run=float(np.median([r['tok_s'] for r in steps])),
                   train_wall_s=summary['train_time_s'],
                   train_tokens=summary['tokens'], peak_rss_mb=summary.get('peak_memory_mb'),
                   val_ppl=perplexity(nll, n), val_tokens=n, loss_spikes=spikes,
                   decode_tok_s=decode_speed(model, rt['device']),
                   kv_bytes_per_token=2 * mc.n_layer * mc.n_kv_head * mc.head_dim * 4,
                   **provenance(t0))
        loads = [r['expert_load'] for r in steps if 'expert_load' in r]
        if loads:  # balance: coefficient of variation of the per-expert token counts, first and last logged step
            cv = [float(np.std(l) / np.mean(l)) for l in loads]
            row.update(expert_load_cv_first=cv[0], expert_load_cv_last=cv[-1], expert_load_last=loads[-1],
                       dropped_last=steps[-1].get('dropped'))
        print(f"{row['name']}: val ppl {row['val_ppl']:.2f}, train {row['train_tok_s']:,.0f} tok/s, "
              f"decode {row['decode_tok_s']:,.0f} tok/s, KV {row['kv_bytes_per_token']} B/token")
        append_result(row, 'ablations', row['name'], cfg.results_dir)
        shutil.copy(os.path.join(run_dir, 'log.jsonl'),
                    os.path.join(cfg.results_dir, 'ablations', f"{row['name']}_log.jsonl"))
        rows.append(row)
    return rows


# -----------------------------------------------------------------------------
# sinks suite: StreamingLLM (Xiao et al. 2023) perplexity and generation far past the training context

@torch.no_grad()
def token_nll(model, seqs, method, L, device, n_sink):
    """Per-token NLL (B, N-1) of next-token prediction over seqs (B, N) under one of four context policies:
    dense (full attention, RoPE extrapolated past L), window (StreamingKVCache without sinks), sinks
    (n_sink sinks + window) and recompute (each token re-encoded with its last L tokens: the quality bound)."""
    from model import StreamingKVCache
    B, N = seqs.shape
    if method == 'dense':
        logits, _ = model(seqs[:, :-1], extrapolate=True)
    elif method == 'recompute':
        logits = torch.empty(B, N - 1, model.config.vocab_size, device=device)
        for t in range(N - 1):
            lo = max(0, t + 1 - L)
            logits[:, t] = model(seqs[:, lo:t + 1], last_only=True)[0][:, -1]
    else:
        sinks = n_sink if method == 'sinks' else 0
        cache = StreamingKVCache(model.config.n_layer, sinks, L - sinks)
        first = model(seqs[:, :L], cache=cache)[0]
        rest = [model(seqs[:, t:t + 1], cache=cache)[0] for t in range(L, N - 1)]
        logits = torch.cat([first] + rest, dim=1)[:, :N - 1]
    return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), seqs[:, 1:], reduction='none')


def repetition_stats(tokens, prompt, reference, n=4):
    """How a model that lost its context degenerates: repeated n-gram rate (share of n-grams seen before),
    distinct-2, collapse (< 10% distinct tokens in the last 64), and topic retention: the share of the
    generation's last quarter whose tokens occur in the prompt or the true continuation, minus the same share
    for an unrelated stretch of text (the baseline of common tokens), so 0 means 'no more on topic than chance'."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    bigrams = [tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)]
    tail = tokens[-64:]
    topic = set(prompt) | set(reference)
    late = tokens[-len(tokens) // 4:]
    return dict(rep_ngram_rate=1 - len(set(grams)) / max(1, len(grams)),
                distinct_2=len(set(bigrams)) / max(1, len(bigrams)),
                collapsed=len(set(tail)) < 0.1 * len(tail),
                topic_overlap=sum(t in topic for t in late) / max(1, len(late)))


def suite_sinks(rt, cfg):
    model, meta_ckpt = load_model(cfg.ckpt, rt['device'])
    model.eval()
    tokenizer = meta_ckpt['config'].get('tokenizer', 'gpt2')
    L = model.config.block_size
    mults = [int(m) for m in cfg.lengths]
    tokens, _ = token_split(tokenizer, 'test', dataset=cfg.dataset)
    N = max(mults) * L + 1
    if cfg.n_seqs * N > len(tokens):
        raise UserError(f"test split has {len(tokens)} tokens, fewer than n_seqs * {N}")
    seqs = np.stack([tokens[i * N:(i + 1) * N] for i in range(cfg.n_seqs)]).astype(np.int64)
    seqs = torch.from_numpy(seqs).to(rt['device'])
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    rows = []
    for method in ('dense', 'window', 'sinks', 'recompute'):
        t0 = time.perf_counter()
        nll = token_nll(model, seqs, method, L, rt['device'], n_sink=cfg.n_sink)
        secs = time.perf_counter() - t0
        cache_tokens = {'dense': N - 1, 'recompute': L}.get(method, L)
        row = dict(name=f'{run_name}_{method}', method=method, context=L, n_sink=cfg.n_sink if method == 'sinks' else 0,
                   tokens_per_s=cfg.n_seqs * (N - 1) / secs,
                   kv_cache_bytes=2 * model.config.n_layer * model.config.n_kv_head * model.config.head_dim * 4
                   * cache_tokens * cfg.n_seqs, **provenance())
        for m in mults:  # ppl of the last L tokens before position m*L: the far-context segment alone
            seg = nll[:, (m - 1) * L:m * L - 1] if m > 1 else nll[:, :L - 1]
            row[f'ppl_{m}x'] = math.exp(seg.mean().item())
        print(f"{method}: " + ", ".join(f"{m}xL ppl {row[f'ppl_{m}x']:.1f}" for m in mults) +
              f", {row['tokens_per_s']:,.0f} tok/s, KV {row['kv_cache_bytes'] / 2**20:.1f} MiB")
        append_result(row, 'sinks', row['name'], cfg.results_dir)
        rows.append(row)
    # generation at 4x the context from the first 32 test tokens of each sequence, sinks on vs off
    g = torch.Generator(rt['device'])
    for method in ('window', 'sinks'):
        g.manual_seed(cfg.seed)
        sinks = cfg.n_sink if method == 'sinks' else 0
        t0 = time.perf_counter()
        out = model.generate(seqs[:, :32], 4 * L, temperature=0.8, top_k=50, generator=g, window=L - sinks, n_sink=sinks)
        secs = time.perf_counter() - t0
        # topic: the prompt and its true continuation; chance: the same overlap for the next sequence's text
        stats = [repetition_stats(o[32:].tolist(), seqs[i, :32].tolist(), seqs[i, 32:].tolist()) for i, o in enumerate(out)]
        chance = [repetition_stats(seqs[(i + 1) % cfg.n_seqs, 32:].tolist(), seqs[i, :32].tolist(), seqs[i, 32:].tolist())
                  for i in range(cfg.n_seqs)]
        row = dict(name=f'{run_name}_gen_{method}', method=method, new_tokens=4 * L, context=L,
                   tokens_per_s=cfg.n_seqs * 4 * L / secs,
                   **{k: float(np.mean([s[k] for s in stats])) for k in stats[0]},
                   topic_retention=float(np.mean([s['topic_overlap'] for s in stats]) -
                                         np.mean([c['topic_overlap'] for c in chance])), **provenance())
        print(f"generate {method}: rep 4-gram {row['rep_ngram_rate']:.3f}, distinct-2 {row['distinct_2']:.3f}, "
              f"collapsed {row['collapsed']:.2f}, topic retention {row['topic_retention']:+.3f}")
        append_result(row, 'sinks', row['name'], cfg.results_dir)
        rows.append(row)
    return rows


# -----------------------------------------------------------------------------
# quant suite: what the QLoRA-style NF4 base costs in perplexity and saves in memory

def suite_quant(rt, cfg):
    from model import NF4Linear, quantize_nf4
    model, meta_ckpt = load_model(cfg.ckpt, rt['device'])
    model.eval()
    tokenizer = meta_ckpt['config'].get('tokenizer', 'gpt2')
    tokens, _ = token_split(tokenizer, 'val', dataset=cfg.dataset)
    if cfg.max_tokens:
        tokens = tokens[:cfg.max_tokens]
    linear_bytes = sum(m.weight.numel() * 4 for n, m in model.named_modules()
                       if isinstance(m, torch.nn.Linear) and not n.endswith('lm_head'))
    t0 = time.time()
    nll, n = lm_nll(model, tokens, model.config.block_size, 0, cfg.batch_size, rt['autocast'], rt['device'])
    for p in model.parameters():
        p.requires_grad_(False)
    saved = quantize_nf4(model)
    nll_q, _ = lm_nll(model, tokens, model.config.block_size, 0, cfg.batch_size, rt['autocast'], rt['device'])
    n_q = sum(isinstance(m, NF4Linear) for m in model.modules())
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    row = dict(name=run_name, checkpoint=cfg.ckpt, quantized_layers=n_q, linear_bytes_fp32=linear_bytes,
               linear_bytes_nf4=linear_bytes - saved, memory_ratio=(linear_bytes - saved) / linear_bytes,
               val_tokens=n, val_ppl_fp32=perplexity(nll, n), val_ppl_nf4=perplexity(nll_q, n),
               ppl_change_pct=100 * (math.exp((nll_q - nll) / n) - 1), **provenance(t0))
    print(f"NF4: {n_q} linear layers, {linear_bytes / 2**20:.1f} -> {(linear_bytes - saved) / 2**20:.1f} MiB, "
          f"val ppl {row['val_ppl_fp32']:.2f} -> {row['val_ppl_nf4']:.2f} ({row['ppl_change_pct']:+.2f}%)")
    append_result(row, 'quant', run_name, cfg.results_dir)
    return [row]


# -----------------------------------------------------------------------------
# attention suite: where attention goes, for the figures (viz.py attention) and the sink analysis

def suite_attention(rt, cfg):
    """Attention maps over fixed WikiText-2 validation windows. The sink mass of a layer is the attention its
    queries (positions >= 4, averaged over heads) put on the first token: StreamingLLM (Xiao et al. 2023
    §3.1) finds it far above the 1/(i+1) a uniform head would give."""
    model, enc, meta = load_for_inference(cfg.ckpt, rt['device'])
    tokens, _ = token_split(meta['config'].get('tokenizer', 'gpt2'), 'val', dataset=cfg.dataset)
    T = min(model.config.block_size, 128)
    starts = [i * len(tokens) // cfg.n_seqs for i in range(cfg.n_seqs)]
    idx = torch.tensor(np.stack([np.asarray(tokens[s:s + T], dtype=np.int64) for s in starts]), device=rt['device'])
    t0 = time.time()
    maps = model.attention_maps(idx)  # (L, B, H, T, T)
    q = torch.arange(T, device=maps.device)
    later = q >= 4
    sink = maps[..., 0][..., later].mean(dim=(1, 3))  # (L, H): mass on token 0 from queries >= 4
    uniform = (1 / (q[later] + 1).float()).mean().item()
    show = 32  # the figure's window: the first 32 tokens of the first sequence
    shown = sorted({0, model.config.n_layer - 1})  # the figure's layers: first and last (not a 30-layer dump)
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    row = dict(name=run_name, checkpoint=cfg.ckpt, n_layer=model.config.n_layer, n_head=model.config.n_head,
               context=T, n_seqs=len(starts), sink_mass_by_layer=sink.mean(1).tolist(), sink_mass=sink.tolist(),
               uniform_sink_mass=uniform, tokens=[enc.decode([t]) for t in idx[0, :show].tolist()],
               map_layers=shown, maps=maps[shown, 0, :, :show, :show].round(decimals=4).tolist(), **provenance(t0))
    print(f"sink mass by layer: {', '.join(f'{m:.3f}' for m in row['sink_mass_by_layer'])} "
          f"(a uniform head: {uniform:.3f})")
    append_result(row, 'attention', run_name, cfg.results_dir)
    return [row]


# -----------------------------------------------------------------------------
# task suites: greedy exact match on a math test set, every answer categorised (tasks.categorize)

def math_test_set(task, n, task_dir, split='test'):
    """The first n (0 = all) problems of a math task's test split (arith: also test_heldout), and the malformed
    rows skipped."""
    from tasks import load_task
    problems, skipped = load_task(task, split if task == 'arith' else 'test', task_dir if task == 'arith' else '')
    return (problems[:n] if n else problems), skipped


def task_em(model, enc, task, problems, rt, max_new_tokens, tool):
    from engine import greedy_em
    return greedy_em(model, enc, problems, task, max_new_tokens, rt['autocast'], tool)


def suite_task(rt, cfg, task):
    model, enc, _ = load_for_inference(cfg.ckpt, rt['device'])
    t0 = time.time()
    problems, skipped = math_test_set(task, cfg.n_problems, cfg.task_dir, cfg.arith_split)
    metrics, samples = task_em(model, enc, task, problems, rt, max_new_tokens=cfg.max_new_tokens, tool=cfg.tool)
    metrics['malformed_rows'] = skipped
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt) + ('_tool' if cfg.tool else '')
    row = dict(name=run_name, checkpoint=cfg.ckpt, task=task, split='test', tool=cfg.tool, **metrics, **provenance(t0))
    print(f"{task} test: greedy EM {metrics['em']:.3f} (95% CI {metrics['em_ci95'][0]:.3f}-{metrics['em_ci95'][1]:.3f}) "
          f"on {metrics['n_em']}; wrong: {metrics['format_failures']} format, {metrics['wrong_with_arithmetic_slip']} "
          f"arithmetic slip, {metrics['wrong_plan']} plan; {metrics['right_by_accident']} right by accident")
    append_result(row, task, run_name, cfg.results_dir)
    write_examples([dict(input=s['prompt'], output=s['output'], label=s['reference'], category=s['category'])
                    for s in samples if s['category'] != 'correct'],
                   os.path.join(cfg.results_dir, task, f'{run_name}_errors.jsonl'))
    return [row]


# -----------------------------------------------------------------------------
# alignment suite: Base -> SFT -> DPO -> DPO + verifier, the same problems and metrics for every stage

@torch.no_grad()
def hh_preference(model, reference, enc, rt, n):
    """Held-out HH-RLHF pairs: how often the model ranks chosen over rejected, by log-likelihood and (given
    the DPO reference) by DPO's implicit reward beta*log(pi/ref), whose sign needs no beta. Returns the
    metrics and the pairs where the model prefers the rejected answer."""
    from common import data_dir
    from model import sequence_logps
    from tasks import encode_pair, load_jsonl, pad_batch, pair_rows
    folder = data_dir('preference')
    if folder is None:
        return {}, []
    rows, _ = load_jsonl(os.path.join(folder, 'test.jsonl'), ('prompt', 'chosen', 'rejected'))
    T = model.config.block_size
    kept = [(r, t) for r in rows for t, _ in [encode_pair(enc, r['prompt'], r['chosen'], r['rejected'], T)] if t][:n]
    by_logp, by_token, by_reward, wrong = 0, 0, 0, []
    for i in range(0, len(kept), 8):
        batch = kept[i:i + 8]
        x, y = pad_batch(pair_rows([t for _, t in batch]))
        x, y = x.to(rt['device']), y.to(rt['device'])
        with rt['autocast']:
            lp = sequence_logps(model, x, y)
            ref = sequence_logps(reference, x, y) if reference is not None else None
        B = len(batch)
        n_tok = (y != -1).sum(-1)
        by_logp += (lp[:B] > lp[B:]).sum().item()
        per_token = lp / n_tok  # summed log-probs mostly rank by length (shorter wins); per token they do not
        by_token += (per_token[:B] > per_token[B:]).sum().item()
        margin = (lp[:B] - ref[:B]) - (lp[B:] - ref[B:]) if ref is not None else lp[:B] - lp[B:]
        by_reward += (margin > 0).sum().item()
        wrong += [dict(input=r['prompt'][-500:], output=r['rejected'], label=r['chosen'], category='prefers_rejected',
                       margin=m) for (r, _), m in zip(batch, margin.tolist()) if m <= 0]
    n = len(kept)
    out = dict(hh_pairs=n, hh_logp_accuracy=by_logp / n if n else None,
               hh_logp_per_token_accuracy=by_token / n if n else None)
    if reference is not None:
        out['hh_reward_accuracy'] = by_reward / n if n else None
    return out, wrong


def draw_samples(model, enc, problems, rt, cfg, tool, desc):
    """cfg.n_samples samples of each problem: [(question, reference, texts, right?)], one prefill per problem."""
    from engine import generate_batch
    from tasks import exact_match
    g = torch.Generator(device=rt['device']).manual_seed(cfg.seed)
    got = generate_batch(model, enc, [p for p, _, _ in problems], cfg.n_samples, cfg.temperature, None,
                         cfg.max_new_tokens, tool=tool, generator=g, autocast=rt['autocast'], desc=desc)
    return [(r['question'], reference, [t for t, _ in texts], [exact_match(t, reference) for t, _ in texts])
            for (_, reference, r), texts in zip(problems, got) if texts]


def rerank(drawn, scores, n, strategy):
    """Is the pick among each problem's first n samples right? best_of_n: the sample the verifier scores highest
    (Cobbe et al. 2021); weighted_vote: the answer whose samples' scores sum highest (Li et al. 2023).
    scores are drawn's samples flattened, n_samples per problem."""
    from metrics import vote
    from tasks import extract_answer
    picked = []
    for j, (_, _, texts, correct) in enumerate(drawn):
        s = scores[j * len(texts):j * len(texts) + n]
        if strategy == 'best_of_n':
            k = max(range(n), key=lambda m: s[m])
        else:
            k = vote([extract_answer(t) for t in texts[:n]], s)
        picked.append(correct[k])
    return picked


def verifier_rows(model, enc, drawn, greedy, rt, cfg, tool):
    """The verifier on the last stage: its strategy (best-of-N or weighted vote) chosen on cfg.n_select val
    problems at N = n_samples, then reported on the test samples at N = n_samples/4, /2 and n_samples, each
    paired against greedy on the same problems; within-problem AUROC; the share of the greedy-to-pass@N gap
    recovered."""
    from metrics import auroc, paired_test, wilson_ci, within_group_auroc
    from tasks import load_task
    from verifier import score
    val = draw_samples(model, enc, load_task('arith', 'val', cfg.task_dir)[0][:cfg.n_select], rt, cfg, tool,
                       'verifier selection samples')
    flat = lambda d: ([q for q, _, texts, _ in d for _ in texts], [t for *_, texts, _ in d for t in texts])
    val_scores = score(*flat(val), ckpt=cfg.verifier, device=rt['device'])
    on_val = {s: sum(rerank(val, val_scores, cfg.n_samples, s)) / max(1, len(val)) for s in ('best_of_n', 'weighted_vote')}
    strategy = max(on_val, key=lambda s: on_val[s])  # ties: best_of_n
    scores = score(*flat(drawn), ckpt=cfg.verifier, device=rt['device'])
    k, n = len(drawn), cfg.n_samples
    y = [c for *_, correct in drawn for c in correct]
    within, n_groups = within_group_auroc(scores, y, [j for j in range(k) for _ in range(n)])
    within = None if within is None else round(within, 4)
    row = dict(verifier=cfg.verifier, verifier_strategy=strategy, verifier_selection_val=on_val,
               verifier_selection_n=len(val), verifier_auroc=auroc(scores, y), verifier_within_problem_auroc=within,
               verifier_within_problem_n=n_groups, greedy_em_same_problems=sum(greedy) / k, verifier_n=k)
    for N in sorted({max(1, n // 4), max(1, n // 2), n}):
        picked = rerank(drawn, scores, N, strategy)
        row[f'verifier@{N}'] = dict(em=sum(picked) / k, em_ci95=wilson_ci(sum(picked), k),
                                    vs_greedy=paired_test(greedy, picked))
    oracle = sum(any(c[:n]) for *_, c in drawn) / k
    best = row[f'verifier@{n}']['em']
    row.update(verifier_em=best, verifier_em_ci95=row[f'verifier@{n}']['em_ci95'],
               verifier_vs_greedy=row[f'verifier@{n}']['vs_greedy'], oracle_at_n=oracle,
               verifier_delta_em=best - row['greedy_em_same_problems'],
               verifier_gap_recovered=(best - row['greedy_em_same_problems']) / max(1e-9, oracle - row['greedy_em_same_problems']))
    return row


def suite_alignment(rt, cfg):
    """The stage table: each stage's greedy EM on the same arith test problems, paired against the stage
    before it; a stage named '<name>+tool' decodes with the calculator. The last stage also gets the
    verifier's rerank at N = n_samples/4, /2, n_samples."""
    from metrics import paired_test, pass_at_k
    if not cfg.stages:
        raise UserError("alignment needs --stages=base=PATH,sft=PATH,dpo=PATH (in pipeline order)")
    order = [kv.split('=', 1) for kv in cfg.stages.split(',')]
    run_name = cfg.name or 'alignment'
    rows, errors, outcomes = [], [], []  # outcomes: {prompt: right?} of each stage, for the paired tests
    problems, skipped = math_test_set('arith', cfg.n_problems, cfg.task_dir, cfg.arith_split)
    gsm8k = math_test_set('gsm8k', cfg.gsm8k_problems, task_dir=cfg.task_dir)[0] if cfg.gsm8k_problems else []
    for i, (stage, path) in enumerate(order):
        t0 = time.time()
        tool = cfg.tool or stage.endswith('+tool')
        model, enc, meta = load_for_inference(path, rt['device'])
        row = dict(stage=stage, checkpoint=path, tool=tool)
        em, samples = task_em(model, enc, 'arith', problems, rt, max_new_tokens=cfg.max_new_tokens, tool=tool)
        outcomes.append({s['prompt']: bool(s['correct']) for s in samples})
        errors += [dict(input=s['prompt'], output=s['output'], label=s['reference'], category=f"{stage}: {s['category']}")
                   for s in samples if not s['correct']]
        row.update({f'arith_{k}': v for k, v in dict(em, malformed_rows=skipped).items()})
        if cfg.gsm8k_problems:
            gsm, _ = task_em(model, enc, 'gsm8k', gsm8k, rt, max_new_tokens=cfg.max_new_tokens, tool=tool)
            row.update(gsm8k_em=gsm['em'], gsm8k_em_ci95=gsm['em_ci95'], gsm8k_n=gsm['n_em'])
        # N samples per problem for Pass@N (and, on the last stage, the verifier's pick); n_sampled = 0: none
        sampled = cfg.n_sampled and (cfg.sampled_stages == 'all' or i == len(order) - 1)
        drawn = draw_samples(model, enc, problems[:cfg.n_sampled], rt, cfg, tool, f'{stage} samples') if sampled else []
        k = len(drawn)
        if k:
            row[f'pass@{cfg.n_samples}'] = sum(pass_at_k(cfg.n_samples, sum(c), cfg.n_samples) for *_, c in drawn) / k
            row['sample_accuracy'] = sum(sum(c) for *_, c in drawn) / (k * cfg.n_samples)
        row['n_sampled'] = k
        if cfg.verifier and k and i == len(order) - 1:
            greedy = [outcomes[-1][p] for p, _, _ in problems[:cfg.n_sampled] if p in outcomes[-1]]
            row.update(verifier_rows(model, enc, drawn, greedy, rt, cfg, tool))
        if cfg.hh_pairs:
            ref_from = meta.get('ref_from')  # a DPO checkpoint names its reference
            reference = load_model(ref_from, rt['device'])[0].eval() if ref_from else None
            hh, wrong = hh_preference(model, reference, enc, rt, cfg.hh_pairs)
            row.update(hh)
            if reference is not None:
                errors += wrong[:50]
        row.update(provenance(t0))
        print(f"{stage}: arith EM {row['arith_em']:.3f} ({row['arith_em_ci95'][0]:.3f}-{row['arith_em_ci95'][1]:.3f}, "
              f"n={row['arith_n_em']})" + (f", pass@{cfg.n_samples} {row[f'pass@{cfg.n_samples}']:.3f}" if k else '')
              + (f", verifier ({row.get('verifier_strategy')}) @{cfg.n_samples} {row['verifier_em']:.3f} vs greedy "
                 f"{row['greedy_em_same_problems']:.3f}, within-problem AUROC {row['verifier_within_problem_auroc']} "
                 f"on {row['verifier_within_problem_n']} problems" if 'verifier_em' in row else '')
              + (f", gsm8k EM {row['gsm8k_em']:.3f}" if 'gsm8k_em' in row else '')
              + (f", HH logp acc {row['hh_logp_accuracy']:.3f}" if row.get('hh_logp_accuracy') is not None else ''))
        append_result(dict(row, name=f'{run_name}_{stage}'), 'alignment', f'{run_name}_{stage}', cfg.results_dir)
        rows.append(row)
    for i in range(1, len(rows)):  # does each stage beat the one before it? Paired on the problems both answered
        common = [p for p in outcomes[i] if p in outcomes[i - 1]]
        rows[i]['delta_em_vs_previous'] = rows[i]['arith_em'] - rows[i - 1]['arith_em']
        rows[i]['vs_previous'] = paired_test([outcomes[i - 1][p] for p in common], [outcomes[i][p] for p in common])
        t = rows[i]['vs_previous']
        print(f"{rows[i]['stage']} vs {rows[i - 1]['stage']}: EM {t['delta']:+.3f} (95% CI {t['delta_ci95'][0]:+.3f} to "
              f"{t['delta_ci95'][1]:+.3f}), exact McNemar p = {t['p']:.3g} on {t['n']} problems")
    summary = dict(name=run_name, stages=rows, **provenance())
    append_result(summary, 'alignment', run_name, cfg.results_dir)
    write_examples(errors, os.path.join(cfg.results_dir, 'alignment', f'{run_name}_errors.jsonl'))
    return rows


# -----------------------------------------------------------------------------
# benchmark suites: SST-2 and SAMSum with finetune.py's loaders, prompts and scorers (tasks.py), for our
# checkpoints and HF Llama folders, so scratch, prompted and finetuned models share one table

def bench_rows(task, n_problems):
    from tasks import EVAL_SPLIT, load_benchmark
    rows, skipped = load_benchmark(task, EVAL_SPLIT[task])
    return (rows[:n_problems] if n_problems else rows), skipped


@torch.no_grad()
def label_word_probs(model, enc, prompts, rt, batch_size):
    """P(positive) for each prompt: the two label words' logits at the position after the prompt, softmaxed
    over the pair (finetune.py's label_logits). Right padding needs no mask under causal attention: each row
    reads its own last real position. A prompt longer than the context keeps its end."""
    from tasks import label_word_ids
    ids = label_word_ids(enc.encode)
    T, out = model.config.block_size, []
    for i in tqdm(range(0, len(prompts), batch_size), desc='sst2', mininterval=5, disable=None):
        toks = [enc.encode(p)[-T:] for p in prompts[i:i + batch_size]]
        x = torch.zeros(len(toks), max(map(len, toks)), dtype=torch.long)
        for b, t in enumerate(toks):
            x[b, :len(t)] = torch.tensor(t)
        last = torch.tensor([len(t) - 1 for t in toks])
        with rt['autocast']:
            h = model.trunk(x.to(rt['device']))  # (B, L, n_embd)
            logits = model.lm_head(h[torch.arange(len(toks)), last.to(h.device)])  # (B, vocab)
        out += logits[:, ids].float().softmax(-1)[:, 1].tolist()
    return out


def suite_sst2(rt, cfg):
    from tasks import bench_prompt, sst2_report
    model, enc, _ = load_for_inference(cfg.ckpt, rt['device'])
    t0 = time.time()
    rows, skipped = bench_rows('sst2', n_problems=cfg.n_problems)
    metrics, wrong = sst2_report(rows, label_word_probs(model, enc, [bench_prompt('sst2', r) for r in rows], rt, batch_size=cfg.batch_size))
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    row = dict(name=run_name, checkpoint=cfg.ckpt, task='sst2', split='validation', n_eval=len(rows), eval_skipped=skipped,
               scorer='label-word logits, zero-shot prompt', **metrics, **provenance(t0))
    print(f"sst2 validation: accuracy {row['accuracy']:.3f} (95% CI {row['accuracy_ci95'][0]:.3f}-"
          f"{row['accuracy_ci95'][1]:.3f}), macro-F1 {row['macro_f1']:.3f} on {len(rows)}; "
          f"errors by tag {json.dumps(metrics['errors_by_category'])}")
    append_result(row, 'sst2', run_name, cfg.results_dir)
    write_examples(wrong, os.path.join(cfg.results_dir, 'sst2', f'{run_name}_errors.jsonl'), key='categories')
    return [row]


def suite_samsum(rt, cfg):
    from engine import generate_batch
    from tasks import bench_prompt, first_paragraph, samsum_report
    model, enc, _ = load_for_inference(cfg.ckpt, rt['device'])
    t0 = time.time()
    rows, skipped = bench_rows('samsum', n_problems=cfg.n_problems)
    room = model.config.block_size - cfg.summary_tokens  # a long dialogue keeps its end, next to "Summary:"
    if room < 16:
        raise UserError(f"a {model.config.block_size}-token context leaves no room for a dialogue and "
                        f"{cfg.summary_tokens} summary tokens; lower --summary_tokens")
    full = [enc.encode(bench_prompt('samsum', r)) for r in rows]
    prompts = [ids[-room:] for ids in full]
    got = generate_batch(model, enc, prompts, max_new_tokens=cfg.summary_tokens, autocast=rt['autocast'], desc='samsum')
    metrics, examples = samsum_report(rows, [first_paragraph(g[0][0]) for g in got])
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    row = dict(name=run_name, checkpoint=cfg.ckpt, task='samsum', split='validation', n_eval=len(rows), eval_skipped=skipped,
               prompts_cut=sum(len(ids) > room for ids in full), **metrics,
               **provenance(t0))
    print(f"samsum validation: ROUGE-1/2/L/Lsum {row['rouge1']:.1f}/{row['rouge2']:.1f}/{row['rougeL']:.1f}/"
          f"{row['rougeLsum']:.1f} on {len(rows)} ({row['prompts_cut']} dialogues cut to the context)")
    append_result(row, 'samsum', run_name, cfg.results_dir)
    write_examples(examples, os.path.join(cfg.results_dir, 'samsum', f'{run_name}_examples.jsonl'), key=None)
    return [row]


# -----------------------------------------------------------------------------
# tts suite: tts.py owns the strategies and their tables; this runs it on --ckpt so `all` covers it

def suite_tts(rt, cfg):
    run_name = cfg.name or f'tts_{ckpt_name(ckpt=cfg.ckpt)}'
    budgets = tuple(2 ** i for i in range(cfg.n_samples.bit_length()) if 2 ** i <= cfg.n_samples)
    args = [f'--generator={cfg.ckpt}', f'--verifier={cfg.verifier}', f'--name={run_name}', f'--n_problems={cfg.n_problems or 200}',
            f'--budgets={budgets}', f'--temperature={cfg.temperature}', f'--max_new_tokens={cfg.max_new_tokens}',
            f'--device={rt["device"]}', f'--seed={cfg.seed}', f'--dtype={cfg.dtype}']
    if cfg.task_dir:
        args.append(f'--task_dir={cfg.task_dir}')
    if os.path.abspath(cfg.results_dir) != os.path.join(REPO, 'experiments'):
        args.append(f'--results_dir={cfg.results_dir}')
    if subprocess.run([sys.executable, os.path.join(REPO, 'tts.py'), *args]).returncode:
        raise UserError(f"tts.py failed on {cfg.ckpt} (its error is above)")
    with open(os.path.join(cfg.results_dir, 'tts', f'{run_name}.json')) as f:
        res = json.load(f)
    at_max = {r['strategy']: r['accuracy'] for r in res['rows'] if r['n'] == res['n_max']}
    best = max((s for s in at_max if s != 'pass@N'), key=at_max.get)
    return [dict(res, greedy_em=next(r['accuracy'] for r in res['rows'] if r['strategy'] == 'greedy'),
                 best_strategy=f"{best}@{res['n_max']}", best_strategy_em=at_max[best])]


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
