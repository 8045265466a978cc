"""
The evaluation suite. Every suite writes JSON + CSV rows with provenance under experiments/<suite>/.
    python eval.py lm --ckpt=out/small/best.pt          # WikiText-2 val + test: perplexity, bits per byte
Metrics live here once, as plain functions, so every stage scores the same way.
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import json
import math
import shutil
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from common import (REPO, UserError, append_result, configure, load_model, nats_to_bpb, provenance, setup_runtime,
                    split_suite)

# -----------------------------------------------------------------------------
ckpt = 'out/tiny/best.pt'      # checkpoint file, run folder (ckpt.pt) or exported HF folder
name = ''                      # result name; '' = derived from the checkpoint path
dataset = 'wikitext2'          # lm: data/<dataset>[_8k]/ with val.bin/test.bin, chosen by the model's tokenizer
splits = 'val,test'
stride = 0                     # lm: 0 = non-overlapping windows of block_size; < block_size = sliding window
batch_size = 8
max_tokens = 0                 # lm: evaluate only the first N tokens of each split (0 = all)
results_dir = os.path.join(REPO, 'experiments')
device = 'auto'
dtype = 'auto'
seed = 1337
# -----------------------------------------------------------------------------


# -----------------------------------------------------------------------------
# Metrics

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
        windows, masks = [], []
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


def suite_lm(rt):
    model, meta_ckpt = load_model(ckpt, rt['device'])
    model.eval()
    cfg = meta_ckpt.get('config', {})
    tokenizer = cfg.get('tokenizer', 'gpt2')
    ddir = os.path.join(REPO, 'data', dataset + tokenizer.removeprefix('gpt2'))
    meta_path = os.path.join(ddir, 'meta.json')
    if not os.path.exists(meta_path):
        raise UserError(f"{meta_path} missing; prepare it with: python data/{dataset}/prepare.py --tokenizer={tokenizer}")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta['tokenizer'] != tokenizer:
        raise UserError(f"{ddir} was tokenized with {meta['tokenizer']} but the model uses {tokenizer}")
    run_dir = ckpt if os.path.isdir(ckpt) else os.path.dirname(ckpt)
    run_name = name or os.path.basename(os.path.normpath(run_dir))
    train_summary = {}
    if os.path.exists(os.path.join(run_dir, 'summary.json')):
        with open(os.path.join(run_dir, 'summary.json')) as f:
            train_summary = json.load(f)
    rows = []
    for split in splits.split(','):
        t0 = time.time()
        path = os.path.join(ddir, f'{split}.bin')
        if not os.path.exists(path):
            raise UserError(f"{path} missing; prepare it with: python data/{dataset}/prepare.py --tokenizer={tokenizer}")
        tokens = np.memmap(path, dtype=np.uint16, mode='r')
        info = meta['splits'][split]
        frac = 1.0
        if max_tokens and max_tokens < len(tokens):
            frac, tokens = max_tokens / len(tokens), tokens[:max_tokens]
        nll, n = lm_nll(model, tokens, model.config.block_size, stride, batch_size, rt['autocast'], rt['device'])
        # bytes/words of an evaluated prefix are prorated by its token share (exact when max_tokens = 0)
        n_bytes, n_words = info['bytes'] * frac, info['words'] * frac
        row = dict(name=f'{run_name}_{split}', checkpoint=ckpt, dataset=dataset, split=split, tokenizer=tokenizer,
                   params=model.num_params(), block_size=model.config.block_size, stride=stride or model.config.block_size,
                   tokens_scored=n, nll_per_token=nll / n, token_ppl=perplexity(nll, n),
                   # word-level ppl: total NLL over the whitespace words of the raw text (Radford et al. 2019)
                   word_ppl=math.exp(nll / n_words), bpb=nats_to_bpb(nll / n, n, n_bytes),
                   train_iters=train_summary.get('iters'), train_tokens=train_summary.get('tokens'),
                   train_wall_s=train_summary.get('train_time_s'), train_best_val_loss=train_summary.get('best_val_loss'),
                   train_config=train_summary.get('config', cfg), **provenance(t0))
        print(f"{row['name']}: token ppl {row['token_ppl']:.2f}, word ppl {row['word_ppl']:.2f}, bpb {row['bpb']:.4f} "
              f"({n:,} tokens)")
        append_result(row, 'lm', row['name'], results_dir)
        rows.append(row)
    # keep the training log beside the results so curves can be redrawn from committed files
    for f in ('log.jsonl', 'summary.json'):
        if os.path.exists(os.path.join(run_dir, f)):
            shutil.copy(os.path.join(run_dir, f), os.path.join(results_dir, 'lm', f'{run_name}_{f}'))
    return rows


SUITES = {'lm': suite_lm}

if __name__ == '__main__':
    suite, args = split_suite(sys.argv[1:])
    configure(globals(), args)
    if suite not in SUITES:
        raise UserError(f"unknown or missing suite '{suite}'; choose one of: {', '.join(SUITES)}")
    SUITES[suite](setup_runtime(device, dtype, seed))
