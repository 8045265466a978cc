"""
Figures from the committed results under experiments/ (never from raw run folders), as PNGs in report/figures/.
    python viz.py                 # every figure whose data exists
    python viz.py curves          # one of: curves, ablations, sinks
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch (imported by common): no spinning on shared cores

import csv
import glob
import json
import sys

import matplotlib
import matplotlib.ticker
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from common import REPO, UserError, configure, split_suite  # noqa: E402

# -----------------------------------------------------------------------------
results_dir = os.path.join(REPO, 'experiments')
fig_dir = os.path.join(REPO, 'report', 'figures')
# -----------------------------------------------------------------------------


def read_csv(suite):
    path = os.path.join(results_dir, suite, 'results.csv')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def save(fig, name):
    os.makedirs(fig_dir, exist_ok=True)
    path = os.path.join(fig_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def fig_curves():
    """Validation loss against optimizer steps and against wall-clock seconds, every logged run overlaid."""
    logs = sorted(glob.glob(os.path.join(results_dir, '*', '*_log.jsonl')))
    if not logs:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for path in logs:
        rows = [r for r in read_log(path) if 'val_loss' in r]
        label = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path).removesuffix('_log.jsonl')}"
        a.plot([r['iter'] for r in rows], [r['val_loss'] for r in rows], marker='.', label=label)
        b.plot([r['time_s'] for r in rows], [r['val_loss'] for r in rows], marker='.', label=label)
    a.set(xlabel='optimizer step', ylabel='validation loss (nats/token)', title='Validation loss per step')
    b.set(xlabel='wall-clock seconds', ylabel='validation loss (nats/token)', title='Validation loss per second')
    for ax in (a, b):
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    return save(fig, 'training_curves.png')


def fig_ablations():
    rows = read_csv('ablations')
    if not rows:
        return None
    names = [r['name'] for r in rows]
    panels = [('val_ppl', 'validation perplexity'), ('train_tok_s', 'training tokens/s'),
              ('decode_tok_s', 'decoding tokens/s (batch 1)'), ('kv_bytes_per_token', 'KV cache bytes per token')]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, (key, title) in zip(axes, panels):
        vals = [float(r[key]) for r in rows]
        bars = ax.bar(names, vals, color=['C0', 'C1', 'C2', 'C3', 'C4', 'C5'][:len(vals)])
        ax.bar_label(bars, fmt='%.0f' if max(vals) > 100 else '%.1f', fontsize=8)
        ax.set_title(title)
        ax.tick_params(axis='x', rotation=30)
    fig.suptitle('Architecture ablations (same data, steps and budget)')
    return save(fig, 'ablations.png')


def fig_sinks():
    rows = [r for r in read_csv('sinks') if r.get('ppl_1x')]  # the perplexity rows, not the generation ones
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        mults = sorted(int(k[4:-1]) for k in r if k.startswith('ppl_') and r[k])
        ax.plot(mults, [float(r[f'ppl_{m}x']) for m in mults], marker='o', label=r['method'])
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f'{v:g}×L'))
    ax.set(xlabel='tokens read so far (perplexity of the last L of them)',
           ylabel='perplexity', title=f"Past the training context (L={rows[0]['context']})")
    ax.grid(alpha=0.3, which='both')
    ax.legend()
    return save(fig, 'sinks_perplexity.png')


FIGURES = {'curves': fig_curves, 'ablations': fig_ablations, 'sinks': fig_sinks}

if __name__ == '__main__':
    which, args = split_suite(sys.argv[1:])
    configure(globals(), args)
    if which and which not in FIGURES:
        raise UserError(f"unknown figure '{which}'; choose from: {', '.join(FIGURES)}")
    made = [f() for k, f in FIGURES.items() if which in (None, k)]
    if not any(made):
        print("no results to plot yet (run eval.py first)")
