"""Two verifiers compared where reranking needs them: the AUROC inside each problem that has right and wrong
samples, on the same samples. Reads two tts.py results made with the same generator, problems, seed, temperature
and budgets (so the samples are the same, and tts.py kept each problem's AUROC), and pairs them by problem:
paired bootstrap of the mean difference (metrics.paired_bootstrap). Each run's reranked accuracy at the largest
budget is copied beside it (tts.py pairs each against greedy). Writes experiments/verifier/<name>.json (or NAME
itself when it ends in .json).
    python experiments/verifier/within_problem.py experiments/tts/A.json experiments/tts/B.json NAME
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import REPO, UserError, provenance, write_json  # noqa: E402
from metrics import bootstrap_ci, paired_bootstrap  # noqa: E402

SAME = ('generator', 'task', 'split', 'n_problems', 'n_max', 'temperature')  # and config seed / task_dir / tool


def load(path):
    with open(path) as f:
        run = json.load(f)
    run = run[-1] if isinstance(run, list) else run  # append_result keeps a history: the newest row
    if not (run.get('verifier_auroc') or {}).get('within_problem_by_index'):
        raise UserError(f"{path} has no per-problem verifier AUROC (tts.py with a verifier, 2026-12-06 or later)")
    return run


if __name__ == '__main__':
    if len(sys.argv) != 4:
        raise UserError("usage: python experiments/verifier/within_problem.py A.json B.json NAME")
    a_path, b_path, name = sys.argv[1:]
    a, b = load(a_path), load(b_path)
    for k in SAME:
        if a[k] != b[k]:
            raise UserError(f"not the same samples: {k} is {a[k]!r} in {a_path} and {b[k]!r} in {b_path}")
    for k in ('seed', 'task_dir', 'tool', 'max_new_tokens'):
        if a['config'].get(k) != b['config'].get(k):
            raise UserError(f"not the same samples: config {k} differs")
    va = dict(a['verifier_auroc']['within_problem_by_index'])
    vb = dict(b['verifier_auroc']['within_problem_by_index'])
    if set(va) != set(vb):  # same samples, so the same problems have both right and wrong ones
        raise UserError("the two runs' mixed problems differ: their samples are not the same")
    idx = sorted(va)
    x, y = [va[i] for i in idx], [vb[i] for i in idx]
    rows = {}
    for key, run in (('a', a), ('b', b)):
        by = {(r['strategy'], r['n']): r for r in run['rows']}
        rows[key] = {s: by[s, run['n_max']]['accuracy'] for s in ('weighted_vote', 'best_of_n', 'self_consistency')
                     if (s, run['n_max']) in by}
    out = dict(experiment='verifier_within_problem', a=dict(file=os.path.relpath(a_path, REPO), verifier=a['verifier']),
               b=dict(file=os.path.relpath(b_path, REPO), verifier=b['verifier']), generator=a['generator'],
               task=a['task'], task_dir=a['config'].get('task_dir'), n_problems=a['n_problems'], n_samples=a['n_max'],
               n_mixed_problems=len(idx), within_problem_auroc=dict(a=sum(x) / len(x), b=sum(y) / len(y),
                                                                    a_ci95=bootstrap_ci(x), b_ci95=bootstrap_ci(y)),
               b_minus_a=dict(delta=sum(y) / len(y) - sum(x) / len(x), **paired_bootstrap(x, y)),
               pooled_auroc=dict(a=a['verifier_auroc']['pooled'], b=b['verifier_auroc']['pooled']),
               accuracy_at_n_max=rows, **provenance())
    path = name if name.endswith('.json') else os.path.join(REPO, 'experiments', 'verifier', f'{name}.json')
    if os.path.exists(path):  # verifier.py writes its runs into the same folder: a comparison must not replace one
        with open(path) as f:
            old = json.load(f)
        if (old[-1] if isinstance(old, list) else old).get('experiment') != 'verifier_within_problem':
            raise UserError(f"{path} holds another result (not a within-problem comparison): choose another NAME")
    write_json(out, path)
    w = out['within_problem_auroc']
    print(f"within-problem AUROC on {len(idx)} problems: A {w['a']:.3f} ({w['a_ci95'][0]:.3f}-{w['a_ci95'][1]:.3f}), "
          f"B {w['b']:.3f} ({w['b_ci95'][0]:.3f}-{w['b_ci95'][1]:.3f}); B - A {out['b_minus_a']['delta']:+.3f} "
          f"(95% CI {out['b_minus_a']['delta_ci95'][0]:+.3f} to {out['b_minus_a']['delta_ci95'][1]:+.3f}, "
          f"p = {out['b_minus_a']['p']:.2g})")
