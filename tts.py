"""
Test-time compute: more samples per problem, and better ways to pick among them. For each problem we draw
n_max solutions once (one prefill shared by all of them) and score each with the verifier; every strategy at
every budget N then reads the first N of the same samples, so strategies are compared on identical draws:
  greedy              one argmax decode (with and without the calculator tool)
  self_consistency    majority vote over the final answers of N samples (Wang et al. 2022)
  best_of_n           the sample the verifier scores highest (Cobbe et al. 2021)
  weighted_vote       answers vote with the sum of their samples' verifier scores (Li et al. 2023, "DiVeRSe")
  gated               draw samples one by one until one scores >= threshold or N are drawn, then pick the best:
                      easy problems stop early, so it spends fewer tokens for the same N
  pass@N              an oracle upper bound: some sample among N is right (unbiased estimator, Chen et al. 2021)
viz.py plots accuracy against the tokens generated per problem (the compute), with 95% Wilson intervals.
    python tts.py config/tts_arith.py       # CPU, a few minutes
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import json
import random
import subprocess
import sys
import time
from collections import defaultdict

import torch

from common import (REPO, UserError, append_result, configure, load_for_inference, print0, provenance, setup_runtime,
                    write_examples)
from engine import generate_batch, split_prefix
from metrics import auroc, bootstrap_ci, paired_test, pass_at_k, pick, wilson_ci
from tasks import CATEGORIES, categorize, exact_match, extract_answer, load_task
from verifier import score

# -----------------------------------------------------------------------------
name = 'tts_arith'             # results: experiments/tts/<name>.json, results.csv, <name>_errors.jsonl; report/figures/tts_<name>.png
generator = 'out/dpo_arith/best.pt'
verifier = 'out/verifier_arith/best.pt'  # '' = only the strategies that need no verifier
task = 'arith'
task_dir = ''
split = 'test'
n_problems = 200               # the first n of the split (fixed, so runs compare)
k_shot = 0                     # solved train problems before every prompt (GSM8K's usual protocol, and SmolLM2's
                               # model card's, is 5-shot); each answer then ends at its first blank line
budgets = (1, 2, 4, 8, 16, 32)
temperature = 0.8
top_k = 0
tool = False                   # the N samples are drawn with the calculator writing results (greedy: both ways)
threshold = 0.5                # gated: accept the first sample the verifier scores at least this high
max_new_tokens = 128
results_dir = ''               # '' = experiments/
seed = 1337
device = 'auto'
dtype = 'auto'
# -----------------------------------------------------------------------------
config = configure(globals())
rt = setup_runtime(device, dtype, seed)
t_start = time.time()
n_max = max(budgets)
model, enc, _ = load_for_inference(generator, rt['device'])
problems = load_task(task, split, task_dir)[0][:n_problems]
if not problems:
    raise UserError(f"no {task} {split} problems")

# -----------------------------------------------------------------------------
# draw: greedy with and without the tool, then n_max samples per problem (one shared prefill each, prompts of
# different lengths batched together)
# (few-shot: the exemplars, drawn once from the train split, are tokenized with each question and prefilled once)
g = torch.Generator(device=rt['device']).manual_seed(seed)
prompts = [p for p, _, _ in problems]
train = load_task(task, 'train', task_dir)[0] if k_shot else []
if not 0 <= k_shot <= len(train):
    raise UserError(f"k_shot={k_shot}: choose 0 to {len(train)} (the {task} train problems)")
shots = ''.join(p + r + '\n\n' for p, r, _ in random.Random(seed + 1).sample(train, k_shot))
prefix, prompts = split_prefix([enc.encode(shots + p) for p in prompts], enc.encode(shots) if shots else [])
drawn = {key: generate_batch(model, enc, prompts, n, temp, top_k or None, max_new_tokens, with_tool, g,
                             rt['autocast'], desc=key, prefix=prefix, stop_text='\n\n' if shots else '')
         for key, n, temp, with_tool in (('greedy', 1, 0.0, False), ('greedy_tool', 1, 0.0, True),
                                         ('samples', n_max, temperature, tool))}
records = []
for i, (prompt, reference, row) in enumerate(problems):
    if drawn['samples'][i] is None:
        continue  # the prompt leaves no room in the context
    rec = dict(index=i, question=row['question'], reference=reference.strip())
    for key in ('greedy', 'greedy_tool'):
        (text, n), = drawn[key][i]
        rec[key] = dict(text=text, tokens=n, correct=exact_match(text, reference))
    rec['samples'] = [dict(text=t, tokens=n, answer=extract_answer(t), correct=exact_match(t, reference))
                      for t, n in drawn['samples'][i]]
    records.append(rec)
if not records:
    raise UserError(f"every {task} {split} prompt is longer than the {model.config.block_size}-token context")
if verifier:
    flat = [(r['question'], s['text']) for r in records for s in r['samples']]
    scores = score([q for q, _ in flat], [a for _, a in flat], ckpt=verifier, device=rt['device'])
    it = iter(scores)
    for r in records:
        for s in r['samples']:
            s['score'] = next(it)
    # what reranking needs: can the verifier tell a problem's right samples from its wrong ones (§5.3)? The AUROC
    # inside each problem that has both, with a bootstrap CI over those problems; kept per problem so that two
    # verifiers scored on the same samples can be compared paired (experiments/verifier/within_problem.py)
    within = [(r['index'], auroc([s['score'] for s in r['samples']], [s['correct'] for s in r['samples']]))
              for r in records]
    within = [(i, v) for i, v in within if v is not None]
    flat_right = [s['correct'] for r in records for s in r['samples']]
    values = [v for _, v in within]
    verifier_auroc = dict(pooled=auroc(scores, flat_right), within_problem=sum(values) / max(1, len(values)),
                          within_problem_n=len(values), within_problem_ci95=bootstrap_ci(values) if values else None,
                          within_problem_by_index=within)


# -----------------------------------------------------------------------------
# strategies: each maps (the first N samples) -> (picked sample, tokens spent)

def picked(strategy):
    """The strategy as a function of the first N samples (metrics.pick, shared with eval.py alignment)."""
    return lambda ss: (ss[pick(strategy, [s['answer'] for s in ss], [s.get('score', 1.0) for s in ss])], spent(ss))


def spent(samples):
    return sum(s['tokens'] for s in samples)


def gated(samples):
    for i, s in enumerate(samples):
        if s['score'] >= threshold:
            return s, spent(samples[:i + 1])
    return max(samples, key=lambda s: s['score']), spent(samples)


STRATEGIES = {'self_consistency': picked('self_consistency')}
if verifier:
    STRATEGIES.update(best_of_n=picked('best_of_n'), weighted_vote=picked('weighted_vote'), gated=gated)

n = len(records)
rows = []
for key in ('greedy', 'greedy_tool'):
    c = sum(r[key]['correct'] for r in records)
    rows.append(dict(strategy=key, n=1, accuracy=c / n, ci95=wilson_ci(c, n),
                     tokens_per_problem=sum(r[key]['tokens'] for r in records) / n))
rows[1]['vs_greedy'] = paired_test([r['greedy']['correct'] for r in records], [r['greedy_tool']['correct'] for r in records])
# the strategies' baseline: the greedy decode made the way the samples are (with the calculator when they use it)
greedy_right = [r['greedy_tool' if tool else 'greedy']['correct'] for r in records]
picks = {}
for N in budgets:
    for strategy, choose in STRATEGIES.items():
        chosen = [choose(r['samples'][:N]) for r in records]
        c = sum(s['correct'] for s, _ in chosen)
        rows.append(dict(strategy=strategy, n=N, accuracy=c / n, ci95=wilson_ci(c, n),
                         tokens_per_problem=sum(t for _, t in chosen) / n,
                         vs_greedy=paired_test(greedy_right, [s['correct'] for s, _ in chosen])))
        picks[strategy, N] = [s for s, _ in chosen]
    p = sum(pass_at_k(n_max, sum(s['correct'] for s in r['samples']), N) for r in records) / n
    rows.append(dict(strategy='pass@N', n=N, accuracy=p, ci95=None,
                     tokens_per_problem=sum(spent(r['samples'][:N]) for r in records) / n))


def crossings(rows):
    """For each pair of sampled strategies, the budgets N at which their order flips."""
    by = defaultdict(dict)
    for r in rows:
        if r['strategy'] in STRATEGIES:
            by[r['strategy']][r['n']] = r['accuracy']
    out = []
    names = sorted(by)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sign = [by[a][N] - by[b][N] for N in budgets]
            for k in range(1, len(budgets)):
                if sign[k - 1] * sign[k] < 0:
                    out.append(dict(a=a, b=b, between=(budgets[k - 1], budgets[k]),
                                    leader_after=a if sign[k] > 0 else b))
    return out


# -----------------------------------------------------------------------------
# error anatomy: greedy answers, and the final picks of the best strategy at the largest budget
best_strategy = 'best_of_n' if verifier else 'self_consistency'
anatomy, examples = {}, []
for key, outputs in (('greedy', [r['greedy']['text'] for r in records]),
                     ('greedy_tool', [r['greedy_tool']['text'] for r in records]),
                     (f'{best_strategy}@{n_max}', [s['text'] for s in picks[best_strategy, n_max]])):
    cats = [categorize(text, r['reference'], r['question']) for text, r in zip(outputs, records)]
    anatomy[key] = {c: cats.count(c) for c in CATEGORIES}
    examples += [dict(category=f'{key}: {c}', question=r['question'], output=text, reference=r['reference'])
                 for text, r, c in zip(outputs, records, cats) if c != 'correct']

results_root = os.path.join(results_dir or os.path.join(REPO, 'experiments'), 'tts')
write_examples(examples, os.path.join(results_root, f'{name}_errors.jsonl'))
oracle = sum(any(s['correct'] for s in r['samples']) for r in records) / n
summary = dict(name=name, generator=generator, verifier=verifier, task=task, split=split, n_problems=n, n_max=n_max,
               temperature=temperature, threshold=threshold, rows=rows, crossings=crossings(rows),
               error_anatomy=anatomy, sample_accuracy=sum(s['correct'] for r in records for s in r['samples']) / (n * n_max),
               oracle_at_n_max=oracle, tool_calls_help=rows[1]['accuracy'] - rows[0]['accuracy'],
               verifier_auroc=verifier_auroc if verifier else None,
               config=config, **provenance(t_start))
append_result(summary, 'tts', name, results_dir or os.path.join(REPO, 'experiments'))


print0(f"{'strategy':18s} {'N':>3s} {'EM':>6s}  95% CI         tokens/problem   vs greedy (paired)")
for r in rows:
    ci = f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}" if r['ci95'] else ' ' * 11
    t = r.get('vs_greedy')
    vs = f"{t['delta']:+.3f} ({t['delta_ci95'][0]:+.3f} to {t['delta_ci95'][1]:+.3f}), p={t['p']:.3g}" if t else ''
    print0(f"{r['strategy']:18s} {r['n']:3d} {r['accuracy']:6.3f}  {ci}  {r['tokens_per_problem']:8.1f}   {vs}")
for c in summary['crossings']:
    print0(f"crossing: {c['a']} vs {c['b']} between N={c['between'][0]} and {c['between'][1]}; {c['leader_after']} leads after")
print0(f"error anatomy: {json.dumps(anatomy)}")
if verifier and verifier_auroc['within_problem_n']:
    v = verifier_auroc
    print0(f"verifier AUROC: pooled {v['pooled']:.3f}; within a problem {v['within_problem']:.3f} (95% CI "
           f"{v['within_problem_ci95'][0]:.3f}-{v['within_problem_ci95'][1]:.3f}) on the {v['within_problem_n']} "
           f"problems with right and wrong samples")
# the curve: viz.py owns every figure (report/figures/tts_<name>.png)
figures = os.path.join(REPO, 'report', 'figures') if not results_dir else os.path.join(results_dir, 'figures')
subprocess.run([sys.executable, os.path.join(REPO, 'viz.py'), 'tts', f'--results_dir={os.path.dirname(results_root)}',
                f'--fig_dir={figures}'], check=True)
print0(f"done in {time.time() - t_start:.0f}s: {results_root}/{name}.json, {name}_errors.jsonl")
