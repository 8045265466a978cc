"""
Figures from the committed results under experiments/ (never from raw run folders), as PNGs in report/figures/.
    python viz.py                 # every figure whose data exists
    python viz.py curves          # one of: curves, ablations, sinks, attention, calibration, tts, alignment
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch (imported by common): no spinning on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import csv
import glob
import json
import re
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
    """One bar per variant: the mean over its seeds with the seeds' sd as the error bar (ablations/variants.json),
    or one bar per run when there is a single seed (results.csv)."""
    path = os.path.join(results_dir, 'ablations', 'variants.json')
    if os.path.exists(path):
        with open(path) as f:
            rows = json.load(f)['variants']
        names, sd = [r['variant'] for r in rows], {'val_ppl': [r['val_ppl_sd'] or 0 for r in rows]}
    else:
        rows = read_csv('ablations')
        names, sd = [r['name'] for r in rows], {}
    if not rows:
        return None
    panels = [('val_ppl', 'validation perplexity'), ('train_tok_s', 'training tokens/s'),
              ('decode_tok_s', 'decoding tokens/s (batch 1)'), ('kv_bytes_per_token', 'KV cache bytes per token')]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, (key, title) in zip(axes, panels):
        vals = [float(r[key]) for r in rows]
        bars = ax.bar(names, vals, yerr=sd.get(key), capsize=4, color=['C0', 'C1', 'C2', 'C3', 'C4', 'C5'][:len(vals)])
        ax.bar_label(bars, fmt='%.0f' if max(vals) > 100 else '%.1f', fontsize=8)
        ax.set_title(title + (' (mean ± sd over seeds)' if key in sd else ''), fontsize=9)
        ax.tick_params(axis='x', rotation=30)
    fig.suptitle('Architecture ablations (same data, steps and budget)')
    return save(fig, 'ablations.png')


def fig_sinks():
    rows = [r for r in read_csv('sinks') if r.get('ppl_1x')]  # the perplexity rows, not the generation ones
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        mults = sorted(int(k[4:-1]) for k in r if re.fullmatch(r'ppl_\d+x', k) and r[k])
        ppl = [float(r[f'ppl_{m}x']) for m in mults]
        cis = [json.loads(r[f'ppl_{m}x_ci95']) if r.get(f'ppl_{m}x_ci95') else (p, p) for m, p in zip(mults, ppl)]
        err = [[p - lo for p, (lo, _) in zip(ppl, cis)], [hi - p for p, (_, hi) in zip(ppl, cis)]]
        ax.errorbar(mults, ppl, yerr=err, marker='o', capsize=3, label=r['name'])
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


def read_json(suite):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(results_dir, suite, '*.json')))]


def fig_attention():
    """Attention maps of the first and last layer (every head) over one validation window, one figure per run
    (our checkpoints first: attention_maps.png; HF folders: attention_maps_<name>.png), and the attention mass
    on the first token by layer (the sink, StreamingLLM §3.1) against a uniform head."""
    seen, runs = set(), []  # one curve per model (the same checkpoint and numbers under several names: the first)
    for r in sorted(read_json('attention'), key=lambda r: not r['checkpoint'].endswith('.pt')):
        key = (r['checkpoint'], tuple(round(m, 4) for m in r['sink_mass_by_layer']))
        if key not in seen:
            seen.add(key)
            runs.append(r)
    if not runs:
        return None
    first = attention_maps(runs[0], 'attention_maps.png')
    for r in runs[1:]:
        if not r['checkpoint'].endswith('.pt'):
            attention_maps(r, f"attention_maps_{r['name']}.png")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for run in runs:  # layers as a fraction of depth, so models of 4 and 30 layers share the axis
        depth = [i / max(1, run['n_layer'] - 1) for i in range(run['n_layer'])]
        ax.plot(depth, run['sink_mass_by_layer'], marker='o', markersize=3,
                label=f"{run['name']} ({run['n_layer']} layers)")
    ax.axhline(runs[0]['uniform_sink_mass'], color='grey', linestyle='--', label='uniform attention')
    ax.set(xlabel='layer / (n_layer - 1)', ylabel='attention on the first token',
           title='Attention-sink mass by layer (queries >= 4)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, 'attention_sinks_by_layer.png')
    return first


def attention_maps(r, filename):
    layers = r.get('map_layers', sorted({0, r['n_layer'] - 1}))  # maps[i] is layer layers[i]
    fig, axes = plt.subplots(len(layers), r['n_head'], figsize=(3 * r['n_head'], 3.1 * len(layers)), squeeze=False)
    ticks = [t.replace('\n', '\\n')[:8] for t in r['tokens']]
    for i, (row, layer) in enumerate(zip(axes, layers)):
        for h, ax in enumerate(row):
            ax.imshow(r['maps'][i][h], cmap='viridis', vmin=0, vmax=1)
            ax.set_title(f'layer {layer}, head {h}', fontsize=9)
            ax.set_xticks(range(0, len(ticks), 4), ticks[::4], rotation=90, fontsize=6)
            ax.set_yticks(range(0, len(ticks), 4), ticks[::4], fontsize=6)
    axes[-1][0].set_xlabel('key (attended-to token)')
    axes[-1][0].set_ylabel('query token')
    fig.suptitle(f"Attention maps of {r['name']} (first {len(ticks)} tokens of a WikiText-2 validation window)")
    return save(fig, filename)


def fig_calibration():
    """Reliability diagram of each verifier on its held-out problems: accuracy against predicted P(correct)."""
    runs = [r for r in read_json('verifier') if r.get('val_bins')]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color='grey', linestyle='--', label='perfect calibration')
    for r in runs:
        bins = r['val_bins']
        ax.plot([b['confidence'] for b in bins], [b['accuracy'] for b in bins], marker='o',
                label=f"{r['name']} (ECE {r['val_ece']:.3f}, AUROC {r['val_auroc']:.3f})")
        for b in bins:
            ax.annotate(str(b['n']), (b['confidence'], b['accuracy']), textcoords='offset points', xytext=(3, -9),
                        fontsize=6)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel='predicted P(correct) (bin mean)', ylabel='fraction correct',
           title='Verifier calibration (labels: samples per bin)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, 'verifier_calibration.png')


def fig_tts():
    """Accuracy against tokens generated per problem for every strategy, one figure per tts run."""
    made = None
    for run in read_json('tts'):
        rows = run['rows']
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, strategy in enumerate(dict.fromkeys(r['strategy'] for r in rows if r['strategy'] not in ('greedy', 'greedy_tool'))):
            pts = sorted((r['tokens_per_problem'], r['accuracy'], r['ci95'], r['n']) for r in rows if r['strategy'] == strategy)
            color = 'grey' if strategy == 'pass@N' else f'C{i}'
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', color=color, label=strategy,
                    linestyle='--' if strategy == 'pass@N' else '-')
            if pts[0][2]:
                ax.fill_between([p[0] for p in pts], [p[2][0] for p in pts], [p[2][1] for p in pts], color=color, alpha=0.1)
            for x, y, _, n in pts:
                ax.annotate(str(n), (x, y), textcoords='offset points', xytext=(3, 3), fontsize=7)
        for r, marker in zip(rows[:2], ('*', 'P')):
            ax.scatter([r['tokens_per_problem']], [r['accuracy']], marker=marker, s=130, color='k', zorder=5,
                       label=f"{r['strategy']} ({r['accuracy']:.3f})")
        ax.set_xscale('log')
        ax.set(xlabel='tokens generated per problem (log scale; point labels are N)',
               ylabel=f"exact match ({run['n_problems']} {run['task']} {run['split']} problems)",
               title=f"Test-time compute: {run['name']}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        made = save(fig, f"tts_{run['name']}.png")
    return made


def fig_alignment():
    """The stage table as bars: greedy EM with 95% CIs per stage, plus the verifier's best-of-N and Pass@N."""
    made = None
    for run in [r for r in read_json('alignment') if 'stages' in r]:
        stages = run['stages']
        fig, ax = plt.subplots(figsize=(7, 4.4))
        names = [s['stage'] for s in stages]
        em = [s['arith_em'] for s in stages]
        err = [[e - s['arith_em_ci95'][0] for e, s in zip(em, stages)], [s['arith_em_ci95'][1] - e for e, s in zip(em, stages)]]
        bars = ax.bar(names, em, yerr=err, capsize=4, color='C0', label='greedy EM')
        for b, e in zip(bars, em):  # inside a tall bar (clear of the CI and the pass@N marker above it), over a short one
            inside = e > 0.15
            ax.text(b.get_x() + b.get_width() / 2, e - 0.04 if inside else e + 0.03, f"{e:.3f}", ha='center',
                    va='center', fontsize=8, color='white' if inside else 'black')
        key = next((k for k in stages[-1] if k.startswith('pass@')), None)
        if key:
            ax.plot(names, [s.get(key, float('nan')) for s in stages], marker='o', color='grey', linestyle='--',
                    label=f"{key} ({stages[-1]['n_sampled']} problems)")
        if 'verifier_em' in stages[-1]:  # beside the last bar, so that it hides neither the bar's label nor pass@N
            x, y = len(names) - 1 + 0.55, stages[-1]['verifier_em']
            ax.scatter([x], [y], marker='*', s=160, color='C3', zorder=5,
                       label=f"+ verifier ({stages[-1].get('verifier_strategy', 'best_of_n')}) at N = {key[5:] if key else '?'}")
            ax.annotate(f"{y:.3f}", (x, y), xytext=(0, 9), textcoords='offset points', ha='center', fontsize=8, color='C3')
        folder = re.search(r'--task_dir=(\S+)', run.get('command', ''))  # which test set the command scored
        test_set = os.path.basename(os.path.normpath(folder.group(1))) if folder else 'arith'
        ax.set(ylabel=f"exact match ({test_set} test, n={stages[0]['arith_n_em']})", title=f"Alignment stages: {run['name']}")
        ax.grid(alpha=0.3, axis='y')
        ax.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)  # below: clear of the bars
        made = save(fig, f"alignment_{run['name']}.png")
    return made


FIGURES = {'curves': fig_curves, 'ablations': fig_ablations, 'sinks': fig_sinks, 'attention': fig_attention,
           'calibration': fig_calibration, 'tts': fig_tts, 'alignment': fig_alignment}

if __name__ == '__main__':
    which, args = split_suite(sys.argv[1:])
    configure(globals(), args)
    if which and which not in FIGURES:
        raise UserError(f"unknown figure '{which}'; choose from: {', '.join(FIGURES)}")
    made = [f() for k, f in FIGURES.items() if which in (None, k)]
    if not any(made):
        print("no results to plot yet (run eval.py first)")
