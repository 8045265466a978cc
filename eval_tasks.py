"""
The task suites of eval.py: greedy exact match on the math tasks (arith, gsm8k), the alignment stage table
(base -> SFT -> DPO -> verifier, every stage paired against the one before), SST-2 and SAMSum with
finetune.py's scorers, and test-time compute (runs tts.py). Each suite_<name>(rt, cfg) takes the runtime and
eval.py's parsed config and writes its rows under experiments/<suite>/; eval.py is the command line.
"""
import json
import os
import subprocess
import sys
import time

import torch
from tqdm import tqdm

from common import REPO, UserError, append_result, ckpt_name, load_for_inference, load_model, provenance, write_examples

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
    from metrics import pick
    from tasks import extract_answer
    return [correct[pick(strategy, [extract_answer(t) for t in texts[:n]], scores[j * len(texts):j * len(texts) + n])]
            for j, (_, _, texts, correct) in enumerate(drawn)]


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
    def versus(i, j):  # stage i against stage j, paired on the problems both answered
        common = [p for p in outcomes[i] if p in outcomes[j]]
        t = paired_test([outcomes[j][p] for p in common], [outcomes[i][p] for p in common])
        print(f"{rows[i]['stage']} vs {rows[j]['stage']}: EM {t['delta']:+.3f} (95% CI {t['delta_ci95'][0]:+.3f} to "
              f"{t['delta_ci95'][1]:+.3f}), exact McNemar p = {t['p']:.3g} on {t['n']} problems")
        return t
    for i in range(1, len(rows)):  # does each stage beat the one before it?
        rows[i]['delta_em_vs_previous'] = rows[i]['arith_em'] - rows[i - 1]['arith_em']
        rows[i]['vs_previous'] = versus(i, i - 1)
    for i in range(2, len(rows)):  # each later stage against the first: what the stages up to it add together
        rows[i]['vs_first'] = versus(i, 0)
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
    from tasks import EVAL_SPLIT, bench_prompt, first_paragraph, samsum_report
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
    row = dict(name=run_name, checkpoint=cfg.ckpt, task='samsum', split=EVAL_SPLIT['samsum'], n_eval=len(rows), eval_skipped=skipped,
               prompts_cut=sum(len(ids) > room for ids in full), **metrics,
               **provenance(t0))
    print(f"samsum {row['split']}: ROUGE-1/2/L/Lsum {row['rouge1']:.1f}/{row['rouge2']:.1f}/{row['rougeL']:.1f}/"
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
