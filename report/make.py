"""
Build report/paper.md and the README's headline table from the committed files under experiments/.
Every number printed here is read from a JSON file whose path is cited next to it; prose lives in this script.
    python report/make.py
"""
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXP = os.path.join(REPO, 'experiments')


def load(pattern):
    """{relative path: parsed JSON} for experiments/<pattern>, sorted by path."""
    return {os.path.relpath(p, REPO): json.load(open(p)) for p in sorted(glob.glob(os.path.join(EXP, pattern)))}


def hw(row):
    h = row.get('hardware', {})
    return f"{h.get('cpu_count', '?')}-core {h.get('processor', 'CPU')}, torch {h.get('torch', '?')}" + \
        (f", {h['gpu']}" if h.get('gpu') else '')


def table(header, rows):
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


def lm_section():
    rows = {p: r for p, r in load('lm/*.json').items() if 'token_ppl' in r}
    if not rows:
        return None
    body = table(['run', 'data', 'split', 'params', 'tokenizer', 'context', 'tokens scored', 'train tokens', 'train wall',
                  'token ppl', 'word ppl', 'bits/byte', 'source'],
                 [[r['name'].rsplit('_', 1)[0], os.path.basename(r['dataset']), r['split'], f"{r['params'] / 1e6:.1f}M",
                   os.path.basename(r['tokenizer']), r['block_size'], f"{r['tokens_scored']:,}",
                   f"{r['train_tokens'] / 1e6:.2f}M" if r.get('train_tokens') else 'pretrained',
                   f"{r['train_wall_s'] / 60:.0f} min" if r.get('train_wall_s') else '–',
                   f"{r['token_ppl']:.1f}", f"{r['word_ppl']:.1f}", f"{r['bpb']:.3f}", f"`{p}`"] for p, r in rows.items()])
    first = next(iter(rows.values()))
    body += ("\n\nNon-overlapping windows of the context length; measured on " + hw(first) + ". Word-level perplexity = "
             "exp(total NLL / whitespace words of the raw text); bits per byte divide the total NLL by the raw text's "
             "UTF-8 bytes, so they (and word perplexity) compare across tokenizers, token perplexity does not. A row "
             "that scored a prefix of a split (`--max_tokens`) prorates bytes and words by its token share.")
    for p, r in rows.items():
        log_path = os.path.join(EXP, 'lm', f"{r['name'].rsplit('_', 1)[0]}_log.jsonl")
        if r['split'] != 'val' or not os.path.exists(log_path):
            continue
        evals = [json.loads(line) for line in open(log_path) if '"val_loss"' in line]
        tail = [e for e in evals if e['iter'] >= 0.8 * evals[-1]['iter']]
        threads = (r.get('train_hardware') or {}).get('torch_threads', '?')
        body += (f"\n\n`{r['name'].rsplit('_', 1)[0]}` trained {evals[-1]['iter']} steps on {threads} thread(s) of this "
                 f"CPU ({(r.get('train_wall_s') or 0) / 60:.0f} min, {r['train_tokens'] / 1e6:.2f}M tokens, about one pass over "
                 f"WikiText-2 train) and is far from converged: validation loss still fell by "
                 f"{tail[0]['val_loss'] - tail[-1]['val_loss']:.3f} nats over the last fifth of training, with the learning "
                 f"rate already at its floor. For scale: AWD-LSTM (Merity et al. 2017), trained on WikiText-2 alone, "
                 f"reports 65.8 test word perplexity (published, not ours); the 3060 configurations (`train_medium`, `train_max`: 12-24 layers, "
                 f"context 512-1024, full GPT-2 vocabulary, hours of GPU time) are where this codebase is meant to get "
                 f"there. Those runs have not been made, so no GPU number is claimed.")
    return body


def ablation_section():
    rows = load('ablations/*.json')
    if not rows:
        return None
    body = table(['variant', 'heads q/kv', 'experts', 'params (active)', 'val ppl', 'train tok/s', 'decode tok/s',
                  'KV B/token', 'peak RSS MB', 'source'],
                 [[r['name'], f"{r['n_head']}/{r['n_kv_head']}", f"{r['n_experts']}×top{r['moe_top_k']}" if r['n_experts'] else '–',
                   f"{r['params'] / 1e6:.2f}M ({r['active_params'] / 1e6:.2f}M)", f"{r['val_ppl']:.1f}",
                   f"{r['train_tok_s']:,.0f}", f"{r['decode_tok_s']:,.0f}", r['kv_bytes_per_token'],
                   f"{r['peak_rss_mb']:,.0f}" if r.get('peak_rss_mb') else '–', f"`{p}`"] for p, r in rows.items()])
    by = {r['name']: r for r in rows.values()}
    if {'abl_mha', 'abl_gqa', 'abl_mqa', 'abl_moe'} <= set(by):
        mha, gqa, mqa, moe = (by[k] for k in ('abl_mha', 'abl_gqa', 'abl_mqa', 'abl_moe'))
        body += (f"\n\nAll four trained {mha['train_tokens'] / 1e6:.2f}M tokens (one seed each). GQA (8/2) and MQA (8/1) "
                 f"cut KV-cache bytes per token {mha['kv_bytes_per_token'] // gqa['kv_bytes_per_token']}× and "
                 f"{mha['kv_bytes_per_token'] // mqa['kv_bytes_per_token']}× with validation perplexity "
                 f"{gqa['val_ppl']:.1f} and {mqa['val_ppl']:.1f} against MHA's {mha['val_ppl']:.1f}: no loss at this scale, "
                 f"and the differences are within what one seed can resolve. MoE (4 experts, top-2, the same active "
                 f"parameters as dense) reached {moe['val_ppl']:.1f}, trained at {moe['train_tok_s']:,.0f} vs "
                 f"{mha['train_tok_s']:,.0f} tok/s and decoded {mha['decode_tok_s'] / moe['decode_tok_s']:.1f}× slower at "
                 f"batch 1 (a matmul per expert per token): **at this scale MoE does not win**, per step or per second, "
                 f"as nanochat also found. Expert load (coefficient of variation of tokens per expert) went from "
                 f"{moe.get('expert_load_cv_first', float('nan')):.2f} at the first logged step to "
                 f"{moe.get('expert_load_cv_last', float('nan')):.2f} at the last; {mha['loss_spikes']}/{moe['loss_spikes']} "
                 f"loss spikes (dense/MoE). Figures: `report/figures/ablations.png`, `report/figures/training_curves.png`.")
    return body


def sinks_section():
    rows = {p: r for p, r in load('sinks/*.json').items() if 'ppl_1x' in r}
    gens = {p: r for p, r in load('sinks/*.json').items() if 'rep_ngram_rate' in r}
    if not rows:
        return None
    mults = sorted(int(k[4:-1]) for k in next(iter(rows.values())) if k.startswith('ppl_'))
    body = table(['policy'] + [f'ppl @ {m}×L' for m in mults] + ['tok/s', 'KV MiB', 'source'],
                 [[r['method']] + [f"{r[f'ppl_{m}x']:.1f}" for m in mults] +
                  [f"{r['tokens_per_s']:,.0f}", f"{r['kv_cache_bytes'] / 2**20:.2f}", f"`{p}`"] for p, r in rows.items()])
    by = {r['method']: r for r in rows.values()}
    if {'dense', 'window', 'sinks', 'recompute'} <= set(by) and mults[-1] > 1:
        m = mults[-1]
        body += (f"\n\nAt {m}× the training context, dense attention with extrapolated RoPE reaches perplexity "
                 f"{by['dense'][f'ppl_{m}x']:.1f}, while window-only ({by['window'][f'ppl_{m}x']:.1f}), sinks + window "
                 f"({by['sinks'][f'ppl_{m}x']:.1f}) and the recompute bound ({by['recompute'][f'ppl_{m}x']:.1f}) agree, at "
                 f"{by['sinks']['kv_cache_bytes'] / by['dense']['kv_cache_bytes']:.2f}× the dense cache's memory and "
                 f"{by['sinks']['tokens_per_s'] / by['recompute']['tokens_per_s']:.1f}× the recompute speed. Unlike the "
                 f"paper, window-only does not collapse here: this small, briefly trained model has not (yet) learned to "
                 f"park attention on the first tokens, so evicting them costs nothing; the paper's effect is reported for "
                 f"models trained far longer. The streaming cache's value at this scale is constant memory at the "
                 f"quality of recomputation. Figure: `report/figures/sinks_perplexity.png`.")
    if gens:
        body += '\n\n' + table(['generation at 4×L', 'repeated 4-gram rate', 'distinct-2', 'collapsed',
                                 'topic retention', 'tok/s', 'source'],
                               [[r['method'], f"{r['rep_ngram_rate']:.3f}", f"{r['distinct_2']:.3f}",
                                 f"{r['collapsed']:.2f}", f"{r.get('topic_retention', float('nan')):+.3f}",
                                 f"{r['tokens_per_s']:,.0f}", f"`{p}`"] for p, r in gens.items()])
        body += ("\n\nTopic retention: the share of the generation's last quarter made of tokens from the prompt or "
                 "its true continuation, minus the same share for unrelated text (0 = chance).")
    return body


def quant_section():
    rows = load('quant/*.json')
    if not rows:
        return None
    return table(['checkpoint', 'layers', 'linear weights fp32 → NF4', 'val ppl fp32', 'val ppl NF4', 'change', 'source'],
                 [[r['name'], r['quantized_layers'], f"{r['linear_bytes_fp32'] / 2**20:.1f} → {r['linear_bytes_nf4'] / 2**20:.1f} MiB",
                   f"{r['val_ppl_fp32']:.2f}", f"{r['val_ppl_nf4']:.2f}", f"{r['ppl_change_pct']:+.2f}%", f"`{p}`"]
                  for p, r in rows.items()])


def bench_section():
    rows = load('bench/*.json')
    rows = {p: r for p, r in rows.items() if not r.get('quick')}
    if not rows:
        return None
    out = []
    for p, r in rows.items():
        c, t, g = r['ceilings'], r['train'], r['generate']
        out.append(f"Machine ({hw(r)}, load {r['loadavg_before']:.2f} → {r['loadavg_after']:.2f}): fp32 matmul "
                   f"{c['matmul_fp32_1024_gflops']:.0f} GFLOP/s (n=1024, the MFU denominator), bf16 "
                   f"{c['matmul_bf16_512_gflops']:.0f} GFLOP/s, copy {c['copy_gb_s']:.1f} GB/s. Source: `{p}`.\n")
        out.append(table(['shape', 'model', 'tok/s', 'ms/step', 'MFU', 'peak MB'],
                         [[k.split('/')[0], k.split('/')[1], f"{v['tok_s']:,.0f}", f"{v['ms_per_step']:.0f}",
                           f"{100 * v['mfu']:.1f}%", f"{v['peak_memory_mb']:,.0f}"]
                          for k, v in t.items() if isinstance(v, dict)]))
        ratios = ', '.join(f"{k.split('/')[0]} {v:.2f}×" for k, v in t.items() if k.endswith('ratio_ours_over_hf'))
        out.append(f"\nTraining throughput, ours / `transformers.LlamaForCausalLM` of the identical shape: {ratios}.")
        if 'small_vocab_50k/ours' in t:
            out.append(f"The 8k-id vocabulary trains {t['small/ours']['tok_s'] / t['small_vocab_50k/ours']['tok_s']:.2f}× more "
                       f"tokens/s than the full 50,257-id GPT-2 vocabulary at the small shape (it needs 1.2-1.4× more "
                       f"tokens per byte, checked in `tests/test_data.py`), so it pays on this CPU.")
        out.append('')
        out.append(table(['generation (256 new tokens)', 'tok/s'],
                         [[k, f"{v:,.0f}"] for k, v in g.items() if '/' in k and not k.startswith('ragged')]))
        out.append(f"\nKV cache over recompute at batch 1: {g['ratio_cache_over_recompute_b1']:.1f}×; "
                   f"over HF `generate`: {g['ratio_cache_over_hf_b1']:.2f}×.")
        for rows in (32, 64):
            r = g.get(f'ragged_n8/rows{rows}/problems_s')
            if r:
                out.append(f"Sampling 8 solutions each of 64 prompts of 40-120 tokens, {rows} rows a batch (the engine's "
                           f"ragged batches): ours {r['ours']:.2f} problems/s, HF `generate` {r['hf_generate']:.2f} "
                           f"({r['ours'] / r['hf_generate']:.2f}×).")
    return '\n'.join(out)


def sft_section():
    rows = load('sft/*.json')
    if not rows:
        return None
    body = table(['run', 'task', 'from', 'steps', 'val loss', 'greedy EM (val)', '95% CI', 'wall', 'source'],
                 [[r['name'], r['task'], f"`{r['init_from']}`", r['iters'], f"{r['val_loss']:.3f}",
                   '–' if r['val_em'] is None else f"{r['val_em']:.3f} on {r['val_em_n']}",
                   '–' if 'val_em_ci95' not in r else f"{r['val_em_ci95'][0]:.3f}–{r['val_em_ci95'][1]:.3f}",
                   f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"] for p, r in rows.items()])
    body += ("\n\nGreedy exact match after GSM8K normalisation on the first problems of the arithmetic validation split.")
    for r in rows.values():
        if 'wrong_with_arithmetic_slip' in r:
            body += (f" In `{r['name']}`, {r['val_em_n'] - r['format_failures']} of {r['val_em_n']} answers are well-formed "
                     f"(worked steps with `<<expr=result>>` annotations and a `####` line) and "
                     f"{r['wrong_with_arithmetic_slip']} of the {r['wrong']} wrong ones contain a calculation whose "
                     f"arithmetic is wrong (checked by the calculator).")
    return body


def ci(pair):
    return f"{pair[0]:.3f}–{pair[1]:.3f}" if pair else '–'


def dpo_section():
    rows = load('dpo/*.json')
    if not rows:
        return None
    body = table(['run', 'pairs', 'train / val pairs', 'steps', 'val reward acc', 'val margin', 'val logp chosen / rejected',
                  'greedy EM (val)', '95% CI', 'wall', 'source'],
                 [[r['name'], r['pairs'], f"{r['pair_stats']['train_pairs']} / {r['pair_stats']['val_pairs']}", r['iters'],
                   f"{r['val_rewards/accuracies']:.3f}", f"{r['val_rewards/margins']:.3f}",
                   f"{r['val_logps/chosen']:.1f} / {r['val_logps/rejected']:.1f}",
                   f"{r['val_em']:.3f} on {r['val_n_em']}" if r.get('val_em') is not None else '–',
                   ci(r.get('val_em_ci95')), f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"] for p, r in rows.items()])
    body += ("\n\nRewards are DPO's implicit rewards β·log(π/π_ref) on held-out pairs (TRL's `rewards/*` names); "
             "on-policy pairs pair a correct with a wrong sample of the SFT model on the same training problem.")
    for r in rows.values():
        st = r['pair_stats']
        if 'sample_accuracy' in st:
            body += (f" `{r['name']}` drew {st['samples']} samples ({st['sample_accuracy']:.1%} correct) for its pairs.")
    return body


def verifier_section():
    rows = load('verifier/*.json')
    if not rows:
        return None
    body = table(['run', 'generator', 'train samples', 'val samples (problems)', 'AUROC', 'ECE', 'accuracy',
                  'top-1 after reranking', 'random pick', 'oracle', 'source'],
                 [[r['name'], f"`{r['generator']}`", r['train_samples'], f"{r['val_n_val']} ({r['val_n_val_problems']})",
                   f"{r['val_auroc']:.3f}", f"{r['val_ece']:.3f}", f"{r['val_accuracy']:.3f}", f"{r['val_rerank_top1']:.3f}",
                   f"{r['val_random_pick']:.3f}", f"{r['val_oracle']:.3f}", f"`{p}`"] for p, r in rows.items()])
    for r in rows.values():
        if r.get('val_within_problem_auroc') is not None:
            body += (f"\n\n`{r['name']}`: AUROC within a problem (over the {r['val_within_problem_n']} held-out problems "
                     f"with both right and wrong samples) is {r['val_within_problem_auroc']:.3f}, against "
                     f"{r['val_auroc']:.3f} pooled: much of the pooled score is telling easy problems from hard ones.")
    body += ("\n\nHeld out by problem (the task's validation split). *Top-1 after reranking* is the fraction of held-out "
             "problems whose highest-scored sample is correct; *random pick* is the generator's own accuracy and "
             "*oracle* the fraction with at least one correct sample. Calibration: `report/figures/verifier_calibration.png`.")
    return body


def paired(t):
    """A paired test's cell: the difference, its 95% CI and the p-value."""
    return f"{t['delta']:+.3f} ({t['delta_ci95'][0]:+.3f} to {t['delta_ci95'][1]:+.3f}), p = {t['p']:.2g}"


def alignment_section():
    runs = {p: r for p, r in load('alignment/*.json').items() if 'stages' in r}
    if not runs:
        return None
    out = []
    for p, run in runs.items():
        st = run['stages']
        key = next((k for k in st[0] if k.startswith('pass@')), None)
        out.append(f"\n**{run['name']}** (`{p}`; '+tool': decoded with the calculator):\n")
        out.append(table(['stage', f"arith EM (n={st[0]['arith_n_em']})", '95% CI', 'vs previous stage (paired, exact McNemar)']
                         + ([f"{key} (n={st[0]['n_sampled']})"] if key else []),
                         [[s['stage'], f"{s['arith_em']:.3f}", ci(s['arith_em_ci95']),
                           paired(s['vs_previous']) if 'vs_previous' in s else '–']
                          + ([f"{s[key]:.3f}" if key in s else '–'] if key else []) for s in st]))
        last = st[-1]
        budgets = [k for k in last if k.startswith('verifier@')]
        if budgets:
            out.append(f"\nThe verifier on the {last['stage']} model's samples ({last['verifier_strategy']}, chosen on "
                       f"{last['verifier_selection_n']} val problems: {json.dumps(last['verifier_selection_val'])}), against "
                       f"its greedy answers on the same {last['verifier_n']} test problems ({last['greedy_em_same_problems']:.3f}):\n")
            out.append(table(['N', 'EM', '95% CI', 'vs greedy (paired)'],
                             [[k[9:], f"{last[k]['em']:.3f}", ci(last[k]['em_ci95']), paired(last[k]['vs_greedy'])]
                              for k in budgets]))
            out.append(f"\nPooled AUROC {last['verifier_auroc']:.3f}; within a problem (the {last['verifier_within_problem_n']} "
                       f"problems with both right and wrong samples) {last['verifier_within_problem_auroc']}. Oracle at "
                       f"N = {budgets[-1][9:]}: {last['oracle_at_n']:.3f}; the verifier recovers "
                       f"{last['verifier_gap_recovered']:.0%} of the greedy-to-oracle gap.")
        if 'arith_misread_operand' in last:
            out.append(f"\nWhy the {last['stage']} model is wrong ({last['arith_wrong']} of {last['arith_n_em']}): "
                       f"{last['arith_misread_operand']} misread an operand (a step uses a number that is neither in the "
                       f"question nor an earlier result), {last['arith_wrong_with_arithmetic_slip']} miscalculate a step, "
                       f"{last['arith_wrong_plan']} compute every step right but plan wrong, "
                       f"{last['arith_format_failures']} have no `####` line.")
        out.append(f"\nFigure: `report/figures/alignment_{run['name']}.png`.")
    return '\n'.join(out)


def tts_section():
    runs = load('tts/*.json')
    if not runs:
        return None
    out = []
    for p, run in runs.items():
        rows = run['rows']
        Ns = sorted({r['n'] for r in rows if r['strategy'] not in ('greedy', 'greedy_tool')})
        by = {(r['strategy'], r['n']): r for r in rows}
        strategies = list(dict.fromkeys(r['strategy'] for r in rows if r['strategy'] not in ('greedy', 'greedy_tool')))
        out.append(f"**{run['name']}**: {run['n_problems']} {run['task']} {run['split']} problems, generator "
                   f"`{run['generator']}`, verifier `{run['verifier'] or 'none'}`, T = {run['temperature']} (`{p}`).\n")
        out.append(table(['strategy'] + [f'N={n}' for n in Ns],
                         [[s] + [f"{by[s, n]['accuracy']:.3f} ({by[s, n]['tokens_per_problem']:.0f} tok)" for n in Ns]
                          for s in strategies]))
        g, gt = by['greedy', 1], by['greedy_tool', 1]
        out.append(f"\nGreedy: {g['accuracy']:.3f} ({ci(g['ci95'])}); greedy with the calculator writing every "
                   f"`<<expr=` result: {gt['accuracy']:.3f} ({ci(gt['ci95'])}).")
        for c in run['crossings']:
            out.append(f"- {c['a']} and {c['b']} cross between N={c['between'][0]} and N={c['between'][1]}; "
                       f"{c['leader_after']} leads after.")
        if not run['crossings']:
            out.append("- No two sampled strategies change order over the budgets measured.")
        out.append("\nError anatomy (counts over the problems):\n")
        cats = list(next(iter(run['error_anatomy'].values())))
        out.append(table(['answers'] + cats, [[k] + [v[c] for c in cats] for k, v in run['error_anatomy'].items()]))
        out.append(f"\nFigure: `report/figures/tts_{run['name']}.png`; examples: `experiments/tts/{run['name']}_errors.jsonl`.")
        top = max(Ns)
        say = {'self_consistency': "majority vote over the final answers of N samples (Wang et al. 2022); no verifier needed.",
               'best_of_n': "the one sample the verifier scores highest (Cobbe et al. 2021).",
               'weighted_vote': "answers vote with the summed verifier scores of their samples.",
               'gated': f"draw one sample at a time until the verifier scores one ≥ {run['threshold']}, at most N; "
                        "spends fewer tokens on problems it is sure of.",
               'pass@N': "an oracle: some sample among N is right (unbiased estimator); the ceiling for any picker."}
        out.append(f"\nThe strategies, with this run's numbers at N = 1 → {top}:")
        for st in strategies:
            a, b = by[st, min(Ns)], by[st, top]
            out.append(f"- **{st}**: {say.get(st, '')} EM {a['accuracy']:.3f} → {b['accuracy']:.3f} "
                       f"at {b['tokens_per_problem']:.0f} tokens per problem.")
    return '\n'.join(out)


def attention_section():
    rows = load('attention/*.json')
    if not rows:
        return None
    def by_layer(m):
        if len(m) <= 8:
            return ', '.join(f"{x:.3f}" for x in m)
        top = max(range(len(m)), key=m.__getitem__)
        return (f"{len(m)} layers: first {m[0]:.3f}, mean {sum(m) / len(m):.3f}, max {m[top]:.3f} (layer {top}), "
                f"last {m[-1]:.3f}")
    body = table(['model', 'checkpoint', 'context', 'attention on token 0 by layer', 'uniform head', 'source'],
                 [[r['name'], f"`{r['checkpoint']}`", r['context'], by_layer(r['sink_mass_by_layer']),
                   f"{r['uniform_sink_mass']:.3f}", f"`{p}`"] for p, r in rows.items()])
    return body + ("\n\nMean attention that queries at positions ≥ 4 put on the first token of a validation window, "
                   "averaged over heads. Figures: `report/figures/attention_maps.png` (our checkpoint), "
                   "`attention_maps_<name>.png` (HF folders), `attention_sinks_by_layer.png`.")


def finetune_section():
    rows = load('finetune/*.json')
    if not rows:
        return None
    out = []
    for task, metric, cols in (('sst2', 'accuracy', ['accuracy', 'macro_f1']),
                               ('samsum', 'rouge1', ['rouge1', 'rouge2', 'rougeL', 'rougeLsum']),
                               ('gsm8k', 'em', ['em'])):
        rs = {p: r for p, r in rows.items() if r['task'] == task}
        if not rs:
            continue
        out.append(f"**{task}** ({next(iter(rs.values()))['eval_split']}):\n")
        out.append(table(['run', 'model', 'mode', 'trainable params', 'steps', 'n'] + cols + ['95% CI', 'wall', 'source'],
                         [[r['name'], f"`{r['model']}`", r['mode'] + (f" (k={r['k_shot']})" if r['k_shot'] else '')
                           + (' (chat template)' if r['config'].get('chat') else ''),
                           f"{r['trainable_params']:,}", r['iters'], r['n_eval']]
                          + [f"{r[c]:.3f}" if c in ('accuracy', 'macro_f1', 'em') else f"{r[c]:.1f}" for c in cols]
                          + [ci(r.get('accuracy_ci95') or r.get('em_ci95')), f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"]
                          for p, r in rs.items()]))
        out.append('')
    out.append("Published reference points, **not ours** (other models, full finetunes, GPUs): GPT-2 small fully "
               "finetuned on SST-2 ≈ 92.5% accuracy; T5-small on SAMSum ROUGE-1/2/L ≈ 40/16/32. SST-2 rows "
               "score the two label words with the LM head (prompting and LoRA alike); misclassified examples with "
               "their probabilities and error tags (negation, contrast, long, ambiguous) are in "
               "`experiments/finetune/*_examples.jsonl`.")
    return '\n'.join(out)


def finetune_source(row, task, finetuned):
    """finetune.py's own row (among `finetuned`, {path: row}) for the model an eval.py row scored, if any: the
    same folder prompted zero-shot (plain prompt), the folder finetune.py saved, or export.py's folder of our
    checkpoint."""
    ckpt = os.path.normpath(row['checkpoint'])
    for p, r in finetuned.items():
        if r['task'] != task or r['config'].get('chat'):
            continue
        same = (r['mode'] == 'zero_shot' and os.path.normpath(r['model']) in (ckpt, os.path.join(os.path.dirname(ckpt), 'hf'))) \
            or (r.get('saved_to') and os.path.normpath(os.path.relpath(r['saved_to'], REPO)) == ckpt)
        if same and (r['n_eval'] == row['n_eval']):
            return p, r
    return None, None


def benchmark_section():
    """eval.py's sst2/samsum rows: our checkpoints and HF folders through finetune.py's prompts and scorers."""
    out, finetuned = [], load('finetune/*.json')
    for task, cols in (('sst2', ['accuracy', 'macro_f1']), ('samsum', ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'])):
        rows = load(f'{task}/*.json')
        if not rows:
            continue
        body = []
        for p, r in rows.items():
            fp, fr = finetune_source(r, task, finetuned)
            key = cols[0]
            body.append([f"`{r['checkpoint']}`", r['n_eval']] + [f"{r[c]:.3f}" if task == 'sst2' else f"{r[c]:.1f}" for c in cols]
                        + ([ci(r['accuracy_ci95'])] if task == 'sst2' else [])
                        + [(f"{fr[key]:.3f}" if task == 'sst2' else f"{fr[key]:.1f}") + f" (`{fp}`)" if fr else '—',
                           f"{r['wall_time_s'] / 60:.1f} min", f"`{p}`"])
        out.append(f"**{task}** (validation, `python eval.py {task} --ckpt=...`):\n")
        out.append(table(['checkpoint', 'n'] + cols + ['95% CI'] * (task == 'sst2')
                         + [f'finetune.py, same model ({cols[0]})', 'wall', 'source'],
                         body))
        out.append('')
    if not out:
        return None
    out.append("eval.py scores our checkpoints and Llama-family HF folders through our own forward (`GPT.from_hf`, "
               "right-padded batches); finetune.py scores HF models through transformers (left padding). Both read "
               "the prompts, the label words and the metrics from tasks.py, so where both scored the same model the "
               "numbers must agree (the test `test_eval_py_scores_like_finetune_py` checks it example by example).")
    return '\n'.join(out)


def all_section():
    """eval.py all: each suite's headline numbers for one checkpoint, and the suites skipped (with why)."""
    rows = load('all/*.json')
    if not rows:
        return None

    def fmt(v):
        if isinstance(v, (list, tuple)):
            return '(' + ', '.join(fmt(x) for x in v) + ')'
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    out = []
    for p, r in rows.items():
        body = [[suite, f"skipped: {res['skipped']}" if isinstance(res, dict) else
                 '; '.join(', '.join(f"{k} {fmt(v)}" for k, v in row.items()) for row in res)]
                for suite, res in r['suites'].items()]
        out.append(f"`{r['command']}` ({r['wall_time_s'] / 60:.0f} min on {hw(r)}, `{p}`; full rows in each suite's folder):\n")
        out.append(table(['suite', 'headline'], body))
    return '\n'.join(out)


def gpu_section():
    rows = {p: r for p, r in load('gpu/*.json').items() if 'tok_s' in r}
    if not rows:
        return None
    body = table(['run', 'params', 'context', 'micro-batch × accum', 'activation ckpt', 'peak memory', 'tok/s', 'MFU',
                  'device', 'source'],
                 [[os.path.basename(p)[:-5], f"{r['params'] / 1e6:.0f}M", r['config']['block_size'],
                   f"{r['config']['batch_size']} × {r['config']['gradient_accumulation_steps']}",
                   r['config']['activation_checkpointing'], f"{r['peak_memory_mb']:,.0f} MiB", f"{r['tok_s']:,.0f}",
                   f"{r['mfu']:.1%}", r['hardware'].get('gpu', '?'), f"`{p}`"] for p, r in rows.items()])
    return body + ("\n\nShort runs (30–60 optimizer steps) capped at 12 GB with `torch.cuda.set_per_process_memory_fraction` "
                   "(`--memory_limit_gb=12`), so they fit a 12 GB card; speeds are the lent GPU's, not an RTX 3060's. "
                   "`config/train_max.py` without activation checkpointing ran out of memory under the cap "
                   "(`experiments/gpu/NOTES.md`).")


def speedrun_section():
    rows = load('speedrun/*.json')
    if not rows:
        return None
    out = []
    for p, r in rows.items():
        out.append(f"`bash speedrun.sh` at {r['scale']} scale: {r['total_seconds'] / 60:.1f} minutes in all on "
                   f"{hw(r)} (`{p}`):\n")
        out.append(table(['stage', 'seconds'], [[k, v] for k, v in r['stage_seconds'].items()]))
    return '\n'.join(out)


def error_analysis_section():
    """Counts from the error files the stages wrote: where answers go wrong, by category."""
    out = []
    for p, run in load('tts/*.json').items():
        an = run['error_anatomy']
        g, t = an.get('greedy', {}), an.get('greedy_tool', {})
        n = sum(g.values())
        if n:
            out.append(f"- Arithmetic ({run['name']}, {n} test problems, `{p}`): of the greedy answers, "
                       f"{g['arithmetic_slip']} are wrong with a miscalculated step, {g['wrong_plan']} are wrong with "
                       f"every step's arithmetic right (a planning error), {g['format_failure']} have no `####` line, "
                       f"and {g['right_by_accident']} are right despite a miscalculated step. With the calculator "
                       f"writing every `<<expr=` result, the slips go to {t['arithmetic_slip']} and the correct "
                       f"answers from {g['correct'] + g['right_by_accident']} to {t['correct'] + t['right_by_accident']}.")
    finetuned = load('finetune/*.json')
    sst2 = [(p, r, p.replace('.json', '_errors.jsonl')) for p, r in load('sst2/*.json').items()]
    covered = {finetune_source(r, 'sst2', finetuned)[0] for _, r, _ in sst2}  # the same predictions, by eval.py
    sst2 += [(p, r, p.replace('.json', '_examples.jsonl')) for p, r in finetuned.items()
             if r['task'] == 'sst2' and p not in covered]
    for p, r, errors in sst2:
        if r.get('errors_by_category'):
            cats = ', '.join(f"{k} {v}" for k, v in sorted(r['errors_by_category'].items(), key=lambda kv: -kv[1]))
            wrong = round((1 - r['accuracy']) * r['n_eval'])
            by = sorted((r.get('accuracy_by_category') or {}).items(), key=lambda kv: kv[1]['accuracy'])
            acc = f"; accuracy by tag against {r['accuracy']:.3f} overall: " + ', '.join(
                f"{k} {v['accuracy']:.3f} (n={v['n']})" for k, v in by) if by else ''
            out.append(f"- SST-2 ({r['name']}): {wrong} misclassified; tags (one sentence can carry several): {cats}"
                       f"{acc} (`{errors}`).")
    kinds = ('format_failures', 'misread_operand', 'wrong_with_arithmetic_slip', 'wrong_plan', 'right_by_accident')
    for p, run in load('alignment/*.json').items():
        for s in run.get('stages', []):
            if s.get('arith_n_em'):
                out.append(f"- Alignment, {s['stage']} (`{p}`, {s['arith_n_em']} problems, {s['arith_wrong']} wrong): "
                           + ', '.join(f"{s['arith_' + k]} {k.replace('_', ' ')}" for k in kinds if f'arith_{k}' in s)
                           + '.')
    return '\n'.join(out) or None


CHAPTERS = [
    ('4 Language modelling and architecture', [
        ('Language modelling (WikiText-2)', lm_section), ('Architecture ablations', ablation_section),
        ('Attention sinks past the training context', sinks_section), ('Where attention goes', attention_section),
        ('4-bit NF4 base weights', quant_section), ('Speed (bench.py)', bench_section),
        ('The CUDA path at 12 GB', gpu_section), ('The one-button run', speedrun_section)]),
    ('5 Alignment', [
        ('Supervised finetuning', sft_section), ('Direct preference optimisation', dpo_section),
        ('Verifier', verifier_section), ('Alignment stage table', alignment_section)]),
    ('6 Test-time compute', [('Strategies at matched samples', tts_section)]),
    ('7 Finetuning pretrained models', [('SST-2, SAMSum, GSM8K', finetune_section),
                                        ('One scorer for every model (eval.py)', benchmark_section),
                                        ('Every suite on one checkpoint (eval.py all)', all_section)]),
    ('8 Error analysis', [('Where the answers go wrong', error_analysis_section)]),
]

PAPER_INTRO = """# modern-llm: the modern LLM pipeline on one consumer GPU, and on two CPU cores

*Generated by `python report/make.py` from the files under `experiments/`; every number cites its source file.*

## Abstract
We build a minimal, readable PyTorch codebase that walks the modern LLM pipeline: pretraining a Llama-style
decoder from scratch with hand-written grouped-query attention, mixture-of-experts, attention sinks, a KV cache,
LoRA and a 4-bit base, each checked against an independent reference implementation; supervised finetuning,
direct preference optimisation and a learned verifier; test-time compute (self-consistency, verifier reranking,
gated resampling, a calculator tool); and LoRA finetuning of pretrained Hugging Face models on SST-2, SAMSum and
GSM8K beside zero- and few-shot prompting. Results are **CPU-scale** (2 cores, models of 1–135M parameters,
minutes to an hour of training) unless a table says otherwise; the RTX 3060 configurations were checked for
memory and speed on a lent H100 capped at 12 GB, but their full runs have not been made.

## 1 Introduction
Small-scale reproductions make the modern LLM recipe inspectable. Our aim is code a reader can follow top to
bottom and numbers a reader can regenerate: every table below is produced by a script from committed JSON,
and the whole CPU pipeline is one command (`bash speedrun.sh`).

## 2 Method
**Model.** A pre-norm decoder with RMSNorm, rotary position embeddings (HF Llama's rotate-half layout), SwiGLU
feed-forward layers, no biases and tied embeddings, exported losslessly to `LlamaForCausalLM`. GQA shares each
key/value head among n_head / n_kv_head query heads (Ainslie et al. 2023). The MoE layer routes each token to
its top-k of E SwiGLU experts with a Switch load-balancing loss and an ST-MoE z-loss. The streaming cache keeps
n_sink first tokens plus a rolling window and assigns RoPE positions by cache slot (Xiao et al. 2023). LoRA
(Hu et al. 2021) adds a rank-r update to frozen linear layers, optionally over NF4-quantised weights (Dettmers
et al. 2023).
**Alignment.** SFT trains on the response tokens only. DPO (Rafailov et al. 2023, eq. 7) trains the policy
against a frozen copy of the SFT model on pairs of (correct, wrong) answers the SFT model itself sampled for the
same training problem (on-policy pairs), or on HH-RLHF pairs; IPO and conservative DPO are options. The verifier
(Cobbe et al. 2021) is the same trunk with a scalar head trained at every response token to predict whether the
final answer is correct, on the generator's own samples, held out by problem.
**Test-time compute.** N samples per problem share one prefill of the prompt; strategies pick among the same
draws: majority vote (Wang et al. 2022), verifier best-of-N, verifier-weighted vote, and gated resampling (stop
at the first sample the verifier accepts). An `ast`-based calculator, bounded in input size, nesting, exponents
and magnitude, either checks a solution's claimed arithmetic after the fact or writes the result of every
`<<expr=` into the stream during generation.

## 3 Experimental setup
WikiText-2 (raw) is tokenized with GPT-2 BPE, or at CPU scale with `gpt2_8k`: the same BPE cut to its first
8,191 merges (a valid BPE by construction) so that the softmax of a small model is 6× narrower. Training uses
AdamW (β = 0.9, 0.95), linear warm-up and cosine decay, gradient clipping at 1.0, fp32 on CPU and bf16 autocast
on CUDA. The alignment task is `data/arith`: synthetic GSM8K-format word problems (1–4 steps over + − × ÷ with
operands up to 50, distractor sentences, several wordings), 20,000 train / 500 val / 1,000 test problems, with
GSM8K's `<<expr=result>>` annotations and `#### N` answers, scored by exact match after GSM8K normalisation.
Hardware is recorded in every result file.
"""

PAPER_OUTRO = """
## 9 Limitations
All CPU numbers come from 2 cores and models trained for minutes to an hour: they show that each stage works and
how the variants compare at this scale, not what the RTX 3060 configurations reach. The GPU rows are short runs
on an H100 under a 12 GB cap, standing in for a 3060 in memory only. Stage gains are reported with 95% Wilson
intervals and called real only when they clear them. Speed measurements taken while other jobs shared the cores
are flagged by their recorded load average. GSM8K is out of reach of the scratch models (their context and
size); the pretrained 135M model's GSM8K rows are on a 50-problem test prefix.

## 10 Reproducibility
Each result file records the command that produced it, the git commit, the hardware and the wall time.
`bash speedrun.sh` reruns the CPU pipeline from a fresh clone; the commands behind the larger runs are the
`command` fields of their files (`python sft.py config/sft_arith.py`, `python dpo.py config/dpo_arith.py`, ...);
`python report/make.py` rebuilds this file and the README tables.
"""


def headline():
    """The README's table: at most 12 results, each with the file it comes from (the paper has the rest)."""
    def one(path):
        full = os.path.join(EXP, path)
        return json.load(open(full)) if os.path.exists(full) else None

    def ci(lo_hi):
        return f"{lo_hi[0]:.3f}–{lo_hi[1]:.3f}"
    rows = []
    for name, label in (('speedrun_cpu', 'tiny (4 layers, 192 wide, 5 min on CPU)'), ('small', 'small (6 layers, 384 wide, 1 h on CPU)'),
                        ('SmolLM2-135M-Instruct', 'SmolLM2-135M-Instruct, pretrained (reference)')):
        r = one(f'lm/{name}_test.json')
        if r:
            rows.append((f"WikiText-2 test bits/byte, {label}", f"{r['bpb']:.3f}", f'lm/{name}_test.json'))
    al = one('alignment/arith_cpu.json')
    if al:
        stages = al['stages']
        rows.append((f"Arithmetic word problems, greedy EM: {' → '.join(s['stage'] for s in stages)} "
                     f"(n = {stages[0]['arith_n_em']})", ' → '.join(f"{s['arith_em']:.3f}" for s in stages)
                     + (f" (last step p = {stages[-1]['vs_previous']['p']:.2g})" if 'vs_previous' in stages[-1] else ''),
                     'alignment/arith_cpu.json'))
        last = stages[-1]
        if last.get('verifier_strategy') is not None:
            n = [k for k in last if k.startswith('verifier@')][-1][9:]
            rows.append((f"Verifier ({last['verifier_strategy']}) at N = {n} vs greedy, same problems (n = {last['verifier_n']})",
                         f"{last['verifier_em']:.3f} vs {last['greedy_em_same_problems']:.3f} "
                         f"(p = {last['verifier_vs_greedy']['p']:.2g})", 'alignment/arith_cpu.json'))
    tts = one('tts/tts_arith.json')
    if tts:
        top = max((r for r in tts['rows'] if r['n'] == tts['n_max'] and r['strategy'] != 'pass@N'), key=lambda r: r['accuracy'])
        pas = next(r for r in tts['rows'] if r['n'] == tts['n_max'] and r['strategy'] == 'pass@N')
        greedy = tts['rows'][1 if tts['config'].get('tool') else 0]  # the greedy decode made the way the samples are
        rows.append((f"Test-time compute at N = {tts['n_max']}: best strategy vs {greedy['strategy']}, pass@N (n = {tts['n_problems']})",
                     f"{top['strategy']} {top['accuracy']:.3f} vs {greedy['accuracy']:.3f} (p = {top['vs_greedy']['p']:.2g}); "
                     f"pass@N {pas['accuracy']:.3f}",
                     'tts/tts_arith.json'))
    zs, lo = one('finetune/SmolLM2-135M-Instruct_sst2_zero_shot.json'), one('finetune/SmolLM2-135M-Instruct_sst2_lora.json')
    if zs and lo:
        rows.append((f"SST-2 validation accuracy, SmolLM2 zero-shot → LoRA r=8 (n = {lo['n_eval']})",
                     f"{zs['accuracy']:.3f} → {lo['accuracy']:.3f} (CI {ci(lo['accuracy_ci95'])})",
                     'finetune/SmolLM2-135M-Instruct_sst2_lora.json'))
    zs, lo = one('finetune/SmolLM2-135M-Instruct_samsum_zero_shot_chat.json'), one('finetune/SmolLM2-135M-Instruct_samsum_lora.json')
    if zs and lo:
        rows.append((f"SAMSum ROUGE-1, SmolLM2 zero-shot (chat) → LoRA (n = {lo['n_eval']})",
                     f"{zs['rouge1']:.1f} → {lo['rouge1']:.1f}", 'finetune/SmolLM2-135M-Instruct_samsum_lora.json'))
    g = one('gpu/max_ckpt_12gb.json')
    if g:
        rows.append(("train_max (317M) under a 12 GB cap: peak memory (H100 standing in for a 3060)",
                     f"{g['peak_memory_mb'] / 1024:.1f} GiB", 'gpu/max_ckpt_12gb.json'))
    sp = one('speedrun/cpu.json')
    if sp:
        rows.append(("`bash speedrun.sh` on 2 CPU cores, stage time", f"{sp['total_seconds'] / 60:.1f} min", 'speedrun/cpu.json'))
    rows = rows[:12]
    return '\n'.join(['| result | value | source |', '|---|---|---|']
                     + [f"| {a} | {b} | [`{c}`](experiments/{c}) |" for a, b, c in rows]) + '\n'


def main():
    parts = [PAPER_INTRO]
    for chapter, sections in CHAPTERS:
        parts.append(f'## {chapter}\n')
        i = 0
        for title, fn in sections:
            body = fn()
            if body:
                i += 1
                parts.append(f'### {chapter.split()[0]}.{i} {title}\n\n{body}\n')
    parts.append(PAPER_OUTRO)
    os.makedirs(os.path.join(REPO, 'report'), exist_ok=True)
    with open(os.path.join(REPO, 'report', 'paper.md'), 'w') as f:
        f.write('\n'.join(parts))
    path = os.path.join(REPO, 'README.md')
    text = open(path).read()
    block = '<!-- results:start (generated by report/make.py) -->\n' + headline() + '<!-- results:end -->'
    if '<!-- results:start' not in text:
        sys.exit("README.md has no <!-- results:start --> marker")
    text = re.sub(r'<!-- results:start.*?<!-- results:end -->', lambda _: block, text, flags=re.S)
    with open(path, 'w') as f:
        f.write(text)
    print(f"wrote report/paper.md ({sum(1 for p in parts if p.startswith('### '))} result sections) and README results")


if __name__ == '__main__':
    main()
