"""
The language-model suites of eval.py: perplexity and bits per byte (lm), architecture ablations, attention
sinks past the training context (sinks), NF4 4-bit weights (quant) and attention maps (attention).
Each suite_<name>(rt, cfg) takes the runtime and eval.py's parsed config and writes its rows under
experiments/<suite>/; eval.py is the command line.
"""
import copy
import json
import math
import os
import re
import shutil
import time

import numpy as np
import torch
from tqdm import tqdm

from common import (REPO, UserError, append_result, ckpt_name, load_for_inference, load_model, nats_to_bpb, provenance,
                    time_train_steps, write_json)
from metrics import bootstrap_ci, paired_t, paired_test

# -----------------------------------------------------------------------------
# Metrics of the language-model suites (the task metrics are in metrics.py, shared with the training stages)

def perplexity(nll_sum, n):
    return math.exp(nll_sum / n)


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
                   train_config=train_summary.get('config'), train_hardware=train_summary.get('hardware'),
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
    """One row per run (val perplexity, speed re-measured here, memory, spikes, expert balance) and, when a variant
    has several seeds (run folders named <variant>_s<seed>), ablations/variants.json over the seeds."""
    if not cfg.runs:
        raise UserError("ablations needs --runs=DIR1,DIR2,... (train.py run folders)")
    rows, t_suite = [], time.time()
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
        if not any(variant_of(r['name']) == variant_of(row['name']) for r in rows):  # one curve per variant
            shutil.copy(os.path.join(run_dir, 'log.jsonl'),
                        os.path.join(cfg.results_dir, 'ablations', f"{row['name']}_log.jsonl"))
        rows.append(row)
    if len(rows) > len({variant_of(r['name']) for r in rows}):  # some variant has several seeds
        write_json(ablation_variants(rows, t_suite), os.path.join(cfg.results_dir, 'ablations', 'variants.json'))
    return rows


def variant_of(name):
    """'abl_gqa_s2' -> 'abl_gqa': the runs of one variant differ only in their seed suffix."""
    return re.sub(r'_s\d+$', '', name)


def ablation_variants(rows, t0):
    """Each variant over its seeds: val perplexity mean, sd and every run's, median speeds, and the variant
    against the first one (the baseline, MHA) paired by seed with metrics.paired_t: a seed fixes the init and the
    batch order, so a paired difference removes what the seed alone moves."""
    groups = {}
    for r in rows:
        groups.setdefault(variant_of(r['name']), {})[r['name'][len(variant_of(r['name'])):]] = r
    base_name, base = next(iter(groups.items()))
    out = []
    for name, runs in groups.items():
        first, ppl = next(iter(runs.values())), [r['val_ppl'] for r in runs.values()]
        v = dict(variant=name, runs=list(runs), n_seeds=len(runs), **{k: first[k] for k in (
                     'n_head', 'n_kv_head', 'n_experts', 'moe_top_k', 'params', 'active_params', 'train_tokens',
                     'kv_bytes_per_token')},
                 val_ppl=float(np.mean(ppl)), val_ppl_sd=float(np.std(ppl, ddof=1)) if len(ppl) > 1 else None,
                 val_ppl_runs=ppl, train_tok_s=float(np.median([r['train_tok_s'] for r in runs.values()])),
                 decode_tok_s=float(np.median([r['decode_tok_s'] for r in runs.values()])),
                 peak_rss_mb=float(np.median([r['peak_rss_mb'] or 0 for r in runs.values()])),
                 loss_spikes=sum(r['loss_spikes'] for r in runs.values()))
        if any('expert_load_cv_last' in r for r in runs.values()):
            v.update({k: float(np.mean([r[k] for r in runs.values()])) for k in ('expert_load_cv_first', 'expert_load_cv_last')})
        seeds = [k for k in runs if k in base]
        if name != base_name and len(seeds) > 1:
            v['vs_baseline'] = dict(paired_t([base[k]['val_ppl'] for k in seeds], [runs[k]['val_ppl'] for k in seeds]),
                                    baseline=base_name, metric='val_ppl')
        out.append(v)
    return dict(variants=out, **provenance(t0))


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
    n_seqs = cfg.n_seqs or len(tokens) // N  # 0: the whole test split, cut into sequences of N tokens
    if n_seqs < 1 or n_seqs * N > len(tokens):
        raise UserError(f"test split has {len(tokens)} tokens, fewer than n_seqs * {N}")
    seqs = np.stack([tokens[i * N:(i + 1) * N] for i in range(n_seqs)]).astype(np.int64)
    seqs = torch.from_numpy(seqs).to(rt['device'])
    run_name = cfg.name or ckpt_name(ckpt=cfg.ckpt)
    rows, per_seq = [], {}  # per_seq[method][m]: each sequence's mean NLL over the segment before m*L
    for method in ('dense', 'window', 'sinks', 'recompute'):
        t0 = time.time()
        k = min(n_seqs, cfg.recompute_seqs or n_seqs) if method == 'recompute' else n_seqs  # a forward per token
        nll = torch.cat([token_nll(model, seqs[i:min(k, i + cfg.batch_size)], method, L, rt['device'], cfg.n_sink)
                         for i in tqdm(range(0, k, cfg.batch_size), desc=method, mininterval=10)])  # (k, N - 1)
        secs = time.time() - t0
        cache_tokens = {'dense': N - 1, 'recompute': L}.get(method, L)
        row = dict(name=f'{run_name}_{method}', method=method, context=L, n_sink=cfg.n_sink if method == 'sinks' else 0,
                   n_seqs=k, tokens_per_cell=k * (L - 1), tokens_per_s=k * (N - 1) / secs,
                   kv_cache_bytes=2 * model.config.n_layer * model.config.n_kv_head * model.config.head_dim * 4
                   * cache_tokens * min(k, cfg.batch_size), **provenance(t0))
        per_seq[method] = {}
        for m in mults:  # ppl of the last L tokens before position m*L: the far-context segment alone
            seg = nll[:, (m - 1) * L:m * L - 1] if m > 1 else nll[:, :L - 1]
            per_seq[method][m] = seg.mean(dim=1).tolist()
            row[f'ppl_{m}x'] = math.exp(seg.mean().item())
            if k > 1:  # over sequences: a cell's tokens are not independent, its sequences nearly are
                row[f'ppl_{m}x_ci95'] = [math.exp(v) for v in bootstrap_ci(per_seq[method][m])]
        print(f"{method}: " + ", ".join(f"{m}xL ppl {row[f'ppl_{m}x']:.1f}" for m in mults) +
              f" ({k} sequences), {row['tokens_per_s']:,.0f} tok/s, KV {row['kv_cache_bytes'] / 2**20:.1f} MiB")
        rows.append(row)
    for row in rows:  # each policy against sinks on the same sequences: mean NLL difference (policy - sinks)
        for m in mults:
            mine = per_seq[row['method']][m]
            if row['method'] != 'sinks' and len(mine) > 1:
                row[f'vs_sinks_{m}x'] = paired_test(per_seq['sinks'][m][:len(mine)], mine, binary=False)
        append_result(row, 'sinks', row['name'], cfg.results_dir)
    # generation at 4x the context from the first 32 test tokens of each sequence, sinks on vs off
    g = torch.Generator(rt['device'])
    for method in ('window', 'sinks'):
        g.manual_seed(cfg.seed)
        sinks = cfg.n_sink if method == 'sinks' else 0
        t0 = time.time()
        out = torch.cat([model.generate(seqs[i:i + cfg.batch_size, :32], 4 * L, temperature=0.8, top_k=50, generator=g,
                                        window=L - sinks, n_sink=sinks) for i in range(0, n_seqs, cfg.batch_size)])
        secs = time.time() - t0
        # topic: the prompt and its true continuation; chance: the same overlap for the next sequence's text
        stats = [repetition_stats(o[32:].tolist(), seqs[i, :32].tolist(), seqs[i, 32:].tolist()) for i, o in enumerate(out)]
        chance = [repetition_stats(seqs[(i + 1) % n_seqs, 32:].tolist(), seqs[i, :32].tolist(), seqs[i, 32:].tolist())
                  for i in range(n_seqs)]
        row = dict(name=f'{run_name}_gen_{method}', method=method, new_tokens=4 * L, context=L, n_seqs=n_seqs,
                   tokens_per_s=n_seqs * 4 * L / secs,
                   **{k: float(np.mean([s[k] for s in stats])) for k in stats[0]},
                   topic_retention=float(np.mean([s['topic_overlap'] for s in stats]) -
                                         np.mean([c['topic_overlap'] for c in chance])), **provenance(t0))
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
    row.update(int8_decoding(cfg, rt, tokens, nll, n))
    append_result(row, 'quant', run_name, cfg.results_dir)
    return [row]


@torch.no_grad()
def int8_decoding(cfg, rt, tokens, nll, n, max_windows=32):
    """What weight-only int8 decoding (model.quantize_int8, sample.py --quantize=int8) costs: the perplexity
    change, and how often its next-token argmax equals fp32's on the first max_windows validation windows."""
    from model import int8_supported, quantize_int8
    if not int8_supported(rt['device']):
        return {}
    fp32 = load_model(cfg.ckpt, rt['device'])[0].eval()  # the suite's own model is NF4 by now
    q = copy.deepcopy(fp32)
    quantize_int8(q)
    nll_q, _ = lm_nll(q, tokens, q.config.block_size, 0, cfg.batch_size, rt['autocast'], rt['device'])
    T = q.config.block_size
    k = max(1, min(max_windows, len(tokens) // T))
    windows = torch.from_numpy(np.asarray(tokens[:T * k], dtype=np.int64)).view(k, -1).to(rt['device'])  # (k, T)
    same = sum((fp32(w[None])[0].argmax(-1) == q(w[None])[0].argmax(-1)).sum().item() for w in windows)
    row = dict(val_ppl_int8=perplexity(nll_q, n), int8_ppl_change_pct=100 * (math.exp((nll_q - nll) / n) - 1),
               int8_top1_agreement=same / windows.numel(), int8_top1_positions=windows.numel())
    print(f"int8 weights: val ppl {perplexity(nll, n):.2f} -> {row['val_ppl_int8']:.2f} ({row['int8_ppl_change_pct']:+.2f}%), "
          f"next-token argmax equal to fp32's at {100 * row['int8_top1_agreement']:.1f}% of {windows.numel():,} positions")
    return row


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
