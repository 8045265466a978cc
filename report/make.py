"""
Fill in the generated parts of report/paper.md and the README's headline table from the files under experiments/.
paper.md is written by hand. Between a marker pair

    <!-- generated: alignment alignment/arith_cpu.json -->  ...  <!-- /generated -->

this script writes what BLOCKS['alignment'] returns for the files matching the pattern (default: all of that
suite's files): tables, the file each row comes from, figure references. Prose stays outside the markers, numbers
stay inside, so every number is read from a file and every sentence is a person's. A number from the literature
is in LITERATURE, with its source.
    python report/make.py
"""
import json
import os
import re
import sys
import glob

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXP = os.path.join(REPO, 'experiments')

# published numbers the paper sets ours against: (value, source). Not ours; not measured here.
LITERATURE = {
    'awd_lstm_wt2_test_ppl': (65.8, "Merity et al. 2017, *Regularizing and Optimizing LSTM Language Models*, "
                                    "Table 2 (AWD-LSTM, WikiText-2 test, no cache)"),
    'smollm2_135m_gsm8k_5shot_pct': (1.4, "SmolLM2-135M model card (HuggingFaceTB/SmolLM2-135M), GSM8K 5-shot; as "
                                          "quoted in issue #17, not re-read here (no hub access)"),
    'nanochat_d20_gsm8k_sft_rl_pct': ((4.55, 7.58), "nanochat's report card (github.com/karpathy/nanochat), d20: GSM8K "
                                                    "after SFT and after RL; as quoted in issue #16"),
}


def pval(p):
    """'= 0.031', or '< 1e-4' where no one of the 10,000 bootstrap resamples crossed zero (p = 0 is not a p-value)."""
    return f"= {p:.2g}" if p > 0 else "< 1e-4"


def load(pattern):
    """{relative path: parsed JSON} for experiments/<pattern>, sorted by path."""
    return {os.path.relpath(p, REPO): json.load(open(p)) for p in sorted(glob.glob(os.path.join(EXP, pattern)))}


def hw(row):
    h = row.get('hardware', {})
    return f"{h.get('cpu_count', '?')}-core {h.get('processor', 'CPU')}, torch {h.get('torch', '?')}" + \
        (f", {h['gpu']}" if h.get('gpu') else '')


def commit(row):
    c = row.get('git_commit') or '?'
    return c[:7] + (f" + diff {row['code_diff_sha256']}" if row.get('code_dirty') else '')


def table(header, rows):
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


def ci(pair):
    return f"{pair[0]:.3f}–{pair[1]:.3f}" if pair else '–'


def paired(t):
    """A paired test's cell: the difference, its 95% CI and the p-value."""
    return f"{t['delta']:+.3f} ({t['delta_ci95'][0]:+.3f} to {t['delta_ci95'][1]:+.3f}), p = {t['p']:.2g}"


def literature():
    return table(['number', 'value', 'source'], [[k, v, s] for k, (v, s) in LITERATURE.items()])


# -----------------------------------------------------------------------------
# one function per generated block: the files matching `pattern` -> markdown tables

def lm_section(pattern='lm/*.json'):
    rows = {p: r for p, r in load(pattern).items() if 'token_ppl' in r}
    if not rows:
        return None
    body = table(['run', 'data', 'split', 'params', 'tokenizer', 'context', 'tokens scored', 'train tokens', 'train wall',
                  'token ppl', 'word ppl', 'bits/byte', 'source'],
                 [[r['name'].rsplit('_', 1)[0], os.path.basename(r['dataset']), r['split'], f"{r['params'] / 1e6:.1f}M",
                   os.path.basename(r['tokenizer']), r['block_size'], f"{r['tokens_scored']:,}",
                   f"{r['train_tokens'] / 1e6:.2f}M" if r.get('train_tokens') else 'pretrained',
                   f"{r['train_wall_s'] / 60:.0f} min" if r.get('train_wall_s') else '–',
                   f"{r['token_ppl']:.1f}", f"{r['word_ppl']:.1f}", f"{r['bpb']:.3f}", f"`{p}`"] for p, r in rows.items()])
    curves = []
    for p, r in rows.items():
        log_path = os.path.join(EXP, 'lm', f"{r['name'].rsplit('_', 1)[0]}_log.jsonl")
        if r['split'] != 'val' or not os.path.exists(log_path):
            continue
        evals = [json.loads(line) for line in open(log_path) if '"val_loss"' in line]
        tail = [e for e in evals if e['iter'] >= 0.8 * evals[-1]['iter']]
        curves.append([r['name'].rsplit('_', 1)[0], evals[-1]['iter'], (r.get('train_hardware') or {}).get('torch_threads', '?'),
                       f"{tail[0]['val_loss'] - tail[-1]['val_loss']:.3f}", f"`{os.path.relpath(log_path, REPO)}`"])
    if curves:
        body += '\n\n' + table(['run', 'steps', 'threads', 'val loss drop over the last fifth of training (nats)', 'log'],
                               curves)
    return body + "\n\nMeasured on " + hw(next(iter(rows.values()))) + ". Figure: `report/figures/training_curves.png`."


def ablation_section(pattern='ablations/*.json'):
    agg = load('ablations/variants.json')
    if agg:  # several seeds per variant: the seed means, and each variant against the first paired by seed
        (src, a), = agg.items()
        def vs(v):
            t = v.get('vs_baseline')
            return f"{t['delta']:+.1f} ({t['delta_ci95'][0]:+.1f} to {t['delta_ci95'][1]:+.1f}), p = {t['p']:.2g}" if t else '–'
        body = table(['variant', 'heads q/kv', 'experts', 'params (active)', 'train tokens', 'seeds',
                      'val ppl, mean ± sd', 'Δ ppl vs ' + a['variants'][0]['variant'] + ' (95% CI), paired t',
                      'train tok/s', 'decode tok/s', 'KV B/token', 'peak RSS MB', 'loss spikes', 'expert load CV first → last'],
                     [[v['variant'], f"{v['n_head']}/{v['n_kv_head']}", f"{v['n_experts']}×top{v['moe_top_k']}" if v['n_experts'] else '–',
                       f"{v['params'] / 1e6:.2f}M ({v['active_params'] / 1e6:.2f}M)", f"{v['train_tokens'] / 1e6:.2f}M",
                       v['n_seeds'], f"{v['val_ppl']:.1f} ± {v['val_ppl_sd']:.1f}", vs(v), f"{v['train_tok_s']:,.0f}",
                       f"{v['decode_tok_s']:,.0f}", v['kv_bytes_per_token'], f"{v['peak_rss_mb']:,.0f}", v['loss_spikes'],
                       f"{v['expert_load_cv_first']:.2f} → {v['expert_load_cv_last']:.2f}" if v.get('expert_load_cv_first') is not None else '–']
                      for v in a['variants']])
        body += (f"\n\nSource: `{src}` (commit {commit(a)}, {hw(a)}, {a['wall_time_s'] / 60:.0f} min), from the per-run "
                 f"files beside it; speeds are medians over the seeds, measured in that one process.")
        return body + "\n\nFigures: `report/figures/ablations.png`, `report/figures/training_curves.png`."
    rows = {p: r for p, r in load(pattern).items() if 'val_ppl' in r}
    if not rows:
        return None
    body = table(['variant', 'heads q/kv', 'experts', 'params (active)', 'train tokens', 'val ppl', 'train tok/s',
                  'decode tok/s', 'KV B/token', 'peak RSS MB', 'loss spikes', 'expert load CV first → last', 'source'],
                 [[r['name'], f"{r['n_head']}/{r['n_kv_head']}", f"{r['n_experts']}×top{r['moe_top_k']}" if r['n_experts'] else '–',
                   f"{r['params'] / 1e6:.2f}M ({r['active_params'] / 1e6:.2f}M)", f"{r['train_tokens'] / 1e6:.2f}M",
                   f"{r['val_ppl']:.1f}", f"{r['train_tok_s']:,.0f}", f"{r['decode_tok_s']:,.0f}", r['kv_bytes_per_token'],
                   f"{r['peak_rss_mb']:,.0f}" if r.get('peak_rss_mb') else '–', r.get('loss_spikes', '–'),
                   f"{r['expert_load_cv_first']:.2f} → {r['expert_load_cv_last']:.2f}" if r.get('expert_load_cv_first') is not None else '–',
                   f"`{p}`"] for p, r in rows.items()])
    return body + "\n\nFigures: `report/figures/ablations.png`, `report/figures/training_curves.png`."


def sinks_section(pattern='sinks/*.json'):
    rows = {p: r for p, r in load(pattern).items() if 'ppl_1x' in r}
    gens = {p: r for p, r in load(pattern).items() if 'rep_ngram_rate' in r}
    if not rows:
        return None
    mults = sorted({int(k[4:-1]) for r in rows.values() for k in r if re.fullmatch(r'ppl_\d+x', k)})

    def cell(r, m):  # ppl (95% CI over sequences; paired p against sinks on the same sequences)
        if f'ppl_{m}x' not in r:
            return '–'
        ci, vs = r.get(f'ppl_{m}x_ci95'), r.get(f'vs_sinks_{m}x')
        return (f"{r[f'ppl_{m}x']:.1f}" + (f" ({ci[0]:.1f}–{ci[1]:.1f})" if ci else '')
                + (f"; p = {vs['p']:.2g}" if vs and m > 1 else ''))
    body = table(['policy', 'sequences'] + [f'ppl @ {m}×L' for m in mults] + ['tok/s', 'KV MiB', 'source'],
                 [[r['method'], r.get('n_seqs', '–')] + [cell(r, m) for m in mults] +
                  [f"{r['tokens_per_s']:,.0f}", f"{r['kv_cache_bytes'] / 2**20:.2f}", f"`{p}`"] for p, r in rows.items()])
    if gens:
        body += '\n\n' + table(['generation at 4×L', 'repeated 4-gram rate', 'distinct-2', 'collapsed',
                                 'topic retention', 'tok/s', 'source'],
                               [[r['method'], f"{r['rep_ngram_rate']:.3f}", f"{r['distinct_2']:.3f}",
                                 f"{r['collapsed']:.2f}", f"{r.get('topic_retention', float('nan')):+.3f}",
                                 f"{r['tokens_per_s']:,.0f}", f"`{p}`"] for p, r in gens.items()])
    return body + "\n\nFigure: `report/figures/sinks_perplexity.png`."


def quant_section(pattern='quant/*.json'):
    rows = load(pattern)
    if not rows:
        return None
    def int8(r):  # weight-only int8 decoding (sample.py --quantize=int8), where the run measured it
        return [f"{r['val_ppl_int8']:.2f} ({r['int8_ppl_change_pct']:+.2f}%)",
                f"{100 * r['int8_top1_agreement']:.1f}% of {r['int8_top1_positions']:,}"] if 'val_ppl_int8' in r else ['–', '–']
    return table(['checkpoint', 'layers', 'linear weights fp32 → NF4', 'val ppl fp32', 'val ppl NF4', 'change',
                  'val ppl int8', 'int8 argmax = fp32', 'source'],
                 [[r['name'], r['quantized_layers'], f"{r['linear_bytes_fp32'] / 2**20:.1f} → {r['linear_bytes_nf4'] / 2**20:.1f} MiB",
                   f"{r['val_ppl_fp32']:.2f}", f"{r['val_ppl_nf4']:.2f}", f"{r['ppl_change_pct']:+.2f}%", *int8(r), f"`{p}`"]
                  for p, r in rows.items()])


def bench_section(pattern='bench/*.json'):
    rows = {p: r for p, r in load(pattern).items() if not r.get('quick')}
    if not rows:
        return None
    out = []
    for p, r in rows.items():
        if r.get('experiment') == 'sft_head':  # experiments/bench/sft_head.py
            ratio = r['speedup_head_on_responses']
            out += [table([f"SFT step (`{p}`, commit {commit(r)}, {hw(r)}, {r['threads']} threads)", 'value'],
                          [['shape, batch', f"{r['shape']['n_layer']} layers, {r['shape']['n_embd']} wide, vocab "
                                            f"{r['shape']['vocab_size']:,}; {r['batch_size']} arith SFT examples"],
                           ['positions with a target (the response)', f"{r['target_share_of_positions']:.0%}"],
                           ['ms a step: LM head on every position / on the responses only',
                            ' / '.join(f"{v:,.0f}" for v in r['ms_per_step'].values())],
                           ['speed, head on the responses only / everywhere',
                            f"{ratio['ratio']:.2f}× (95% CI {ratio['ci95'][0]:.2f}–{ratio['ci95'][1]:.2f}, "
                            f"{ratio['rounds']} paired rounds)"]]), '']
            continue
        if r.get('experiment') == 'fused_backward':  # experiments/bench/fused_backward.py
            ratio = r['speedup_hand_written']
            out += [table([f"Training step, RMSNorm and SwiGLU backward (`{p}`, commit {commit(r)}, {hw(r)})", 'value'],
                          [['ms a step: autograd / hand-written backward',
                            ' / '.join(f"{v:,.0f}" for v in r['ms_per_step'].values())],
                           ['speed, hand-written / autograd', f"{ratio['ratio']:.3f}× (95% CI {ratio['ci95'][0]:.3f}–"
                                                              f"{ratio['ci95'][1]:.3f}, {ratio['rounds']} paired rounds)"],
                           ['largest weight difference after the same steps', f"{r['max_weight_difference_after']:.1e}"]]), '']
            continue
        if r.get('experiment') == 'compiled_decode':  # experiments/bench/compiled_decode.py
            out += [table([f"Batch-1 decode, {r['new_tokens']} new tokens, eager / `GPT.compile_decode` (`{p}`, commit "
                           f"{commit(r)}, {hw(r)})", 'tok/s eager', 'tok/s compiled', 'compiled / eager (paired)'],
                          [[w] + [f"{v['tok_s'][k]:,.0f}" + (f" ({100 * v['fraction_of_fp32_floor'][k]:.0f}% of the "
                                  f"{r['decode_floor_tok_s_fp32']:,.0f} tok/s floor)" if 'fraction_of_fp32_floor' in v
                                  else '') for k in ('eager', 'compiled')] + [
                            f"{v['speedup_compiled']['ratio']:.2f}× (95% CI {v['speedup_compiled']['ci95'][0]:.2f}–"
                            f"{v['speedup_compiled']['ci95'][1]:.2f}, {v['speedup_compiled']['rounds']} rounds)"]
                           for w, v in r['results'].items()]), '']
            continue
        if r.get('experiment') == 'malloc_thresholds':  # experiments/bench/malloc.py
            out += [table([f"glibc malloc thresholds (`{p}`, commit {commit(r)}, {hw(r)})", 'default', 'tuned'],
                          [['environment', 'none', ' '.join(f"{k}={v}" for k, v in r['tuned_env'].items())]] +
                          [[f"median per process: {k.replace('_', ' ')}", f"{r['median']['default'][k]:,.1f}",
                            f"{r['median']['tuned'][k]:,.1f}"] for k in ('minor_faults', 'sys_s', 'max_rss_mb')] +
                          [[f"training tok/s, tuned / default: {m}",
                            f"{v['ratio']:.3f}× (95% CI {v['ci95'][0]:.3f}–{v['ci95'][1]:.3f}, p {pval(v['p'])})", '']
                           for m, v in r['speedup_tuned_over_default'].items()]), '']
            continue
        if r.get('experiment') == 'gomp_spincount':  # experiments/bench/spin.py
            out += [table([f"OpenMP spin before sleeping (`{p}`, commit {commit(r)}, {hw(r)}, "
                           f"{r['matmul_peak_gflops']:.0f} GFLOP/s)", 'GOMP_SPINCOUNT=30000 / 0 (PASSIVE), tok/s'],
                          [[m.replace('_', ' '), f"{v['ratio']:.2f}× (95% CI {v['ci95'][0]:.2f}–{v['ci95'][1]:.2f}, "
                                                 f"p {pval(v['p'])}, {v['rounds']} rounds)"]
                           for m, v in r['speedup_spin_over_passive'].items()] +
                          [[f"ours / classic GPT-2 block, {k}", f"{v['ratio']:.3f}× (95% CI {v['ci95'][0]:.3f}–"
                                                               f"{v['ci95'][1]:.3f})"]
                           for k, v in r['ours_over_classic'].items()]), '']
            continue
        if os.path.basename(p).startswith('decode_rows'):  # experiments/bench/decode_rows.py
            ratio = lambda v: f"{v['ratio']:.2f}× ({v['ci95'][0]:.2f}–{v['ci95'][1]:.2f}, p {pval(v['p'])})"
            out += [table([f"rows decoded at once (`{p}`, commit {commit(r)}, {hw(r)}, {r['matmul_peak_gflops']:.0f} "
                           f"GFLOP/s, {r['rounds']} rounds)", 'sampling, problems/s', 'vs 64 rows',
                           'greedy, problems/s', 'vs 64 rows'],
                          [[str(rows)] + [x for job in ('sample', 'greedy') for x in (
                              f"{r[f'{job}_{rows}']['problems_per_s_median']:.1f}",
                              ratio(r[f'{job}_{rows}']['speed_over_64']) if rows != 64 else '–')]
                           for rows in (64, 256, 512)]), '']
            continue
        c, t, g = r['ceilings'], r['train'], r['generate']
        out.append(table(['machine (`' + p + '`, commit ' + commit(r) + ')', 'value'],
                         [['hardware', hw(r)], ['load average before → after', f"{r['loadavg_before']:.2f} → {r['loadavg_after']:.2f}"],
                          ['fp32 matmul, n = 1024 (the MFU denominator)', f"{c['matmul_fp32_1024_gflops']:.0f} GFLOP/s"],
                          ['bf16 matmul, n = 512', f"{c['matmul_bf16_512_gflops']:.0f} GFLOP/s"],
                          ['copy bandwidth', f"{c['copy_gb_s']:.1f} GB/s"]]))
        out.append('')
        separate = [[k.split('/')[0], k.split('/')[1], f"{v['tok_s']:,.0f}", f"{v['ms_per_step']:.0f}",
                     f"{100 * v['mfu']:.1f}%", f"{v['peak_memory_mb']:,.0f}"]
                    for k, v in t.items() if isinstance(v, dict) and 'tok_s' in v]
        if separate:  # absent from a bench.py --only=interleaved run
            out.append(table(['shape', 'model', 'tok/s', 'ms/step', 'MFU', 'peak MB'], separate))
        ratios = [[f"training, {k.split('/')[0]}: ours / {k.split('_over_')[1]}", f"{v:.2f}×"]
                  for k, v in t.items() if '/ratio_ours_over_' in k]
        for k, v in t.items():
            if k.endswith('/interleaved'):  # steps taken in turn in one process: the fair comparison
                ratios += [[f"training, {k.split('/')[0]}, interleaved in one process"
                            f"{' (torch.compile: ours, classic_gpt2)' if r.get('compile') else ''}: ours / {b}",
                            f"{v['ours']['tok_s']:,.0f} / {v[b]['tok_s']:,.0f} tok/s = {v['ratio_ours_over_' + b]:.2f}× "
                            f"(MFU {100 * v['ours']['mfu']:.1f}% / {100 * v[b]['mfu']:.1f}%)" + paired_ratio(v, b)]
                           for b in ('classic_gpt2', 'hf_llama')]
        if 'small_vocab_50k/ours' in t:
            ratios.append(["training, small: 8k vocabulary / 50,257 (tok/s)",
                           f"{t['small/ours']['tok_s'] / t['small_vocab_50k/ours']['tok_s']:.2f}×"])
        if g:
            ratios += [['decode, batch 1: KV cache / recompute', f"{g['ratio_cache_over_recompute_b1']:.1f}×"],
                       ['decode, batch 1: ours / HF `generate`', f"{g['ratio_cache_over_hf_b1']:.2f}×"]]
        if 'decode_floor_tok_s_fp32' in g:  # batch 1 against copy bandwidth / fp32 weight bytes
            ratios += [[f"decode, batch 1: fp32 / the bandwidth floor ({g['decode_weight_mb_fp32']:.0f} MB a token at "
                        f"{c['copy_gb_s']:.1f} GB/s = {g['decode_floor_tok_s_fp32']:,.0f} tok/s)",
                        f"{100 * g['decode_b1_fraction_of_fp32_floor']:.0f}%"],
                       [f"decode, batch 1: int8 weights ({g['decode_weight_mb_int8']:.0f} MB a token) / that floor",
                        f"{100 * g['decode_b1_int8_fraction_of_fp32_floor']:.0f}% ({g['ratio_int8_over_fp32_b1']:.2f}× fp32)"]]
        if 'dense/b1/matmuls_only' in g:  # how far the kernels alone get, and how much of a step is not matmuls
            ratios += [['decode, batch 1: the weight matmuls alone, one thread / that floor',
                        f"fp32 {100 * g['decode_b1_matmuls_only_fp32_fraction_of_fp32_floor']:.0f}%, int8 "
                        f"{100 * g['decode_b1_matmuls_only_int8_fraction_of_fp32_floor']:.0f}%"],
                       ['decode, batch 1: a whole step / its matmuls alone',
                        f"fp32 {100 * g['decode_b1_fp32_fraction_of_matmuls_only']:.0f}%, int8 "
                        f"{100 * g['decode_b1_int8_fraction_of_matmuls_only']:.0f}%"]]
        if 'dense/b1/kv_cache_compiled' in g:  # GPT.compile_decode: one torch.compile graph a step
            ratios.append(['decode, batch 1: the step compiled (`sample.py --compile=True`) / that floor',
                           f"fp32 {100 * g['decode_b1_compiled_fp32_fraction_of_fp32_floor']:.0f}% "
                           f"({g['dense/b1/kv_cache_compiled'] / g['dense/b1/kv_cache']:.2f}× eager), int8 "
                           f"{100 * g['decode_b1_compiled_int8_fraction_of_fp32_floor']:.0f}% "
                           f"({g['dense/b1/kv_cache_int8_compiled'] / g['dense/b1/kv_cache_int8']:.2f}× eager)"])
        if 'ratio_one_over_all_threads_b1_int8' in g:  # GPT.stream's one decode thread for <= 4 rows
            ratios.append(['decode, batch 1, int8: one thread / all threads (OMP_WAIT_POLICY=PASSIVE)',
                           f"{g['ratio_one_over_all_threads_b1_int8']:.2f}× (fp32: "
                           f"{g['dense/b1/kv_cache'] / g['dense/b1/kv_cache_all_threads']:.2f}×)"])
        for n_rows in (32, 64):
            s = g.get(f'ragged_n8/rows{n_rows}/problems_s')
            if s:
                ratios.append([f"sampling 8 solutions each of 64 ragged prompts (40–120 tokens), {n_rows} rows a batch: "
                               f"ours / HF `generate`", f"{s['ours']:.2f} / {s['hf_generate']:.2f} problems/s = "
                               f"{s['ours'] / s['hf_generate']:.2f}×"])
        s = g.get('task_sampling')
        if s:
            ratios.append([f"`sample_solutions(n={s['n_samples']})` on {s['n_problems']} arith test problems with "
                           f"`{s['checkpoint']}`, {s['rows']} rows a batch, stopping at <|endoftext|>: ours / HF `generate`",
                           f"{s['ours_problems_s']:.2f} / {s['hf_problems_s']:.2f} problems/s = {s['ratio_ours_over_hf']:.2f}× "
                           f"(samples right {s['ours_sample_accuracy']:.3f} / {s['hf_sample_accuracy']:.3f}); with the "
                           f"calculator {s['ours_tool_problems_s']:.2f} problems/s, {s['ours_tool_sample_accuracy']:.3f} right"
                           + (f"; int8 weights {s['ours_int8_problems_s']:.2f} problems/s ({s['ratio_ours_int8_over_hf']:.2f}× HF)"
                              if 'ours_int8_problems_s' in s else '')])
        out.append('')
        out.append(table(['ratio, measured in the same run', 'value'], ratios))
        out.append('')
        if g:
            out.append(table(['generation (256 new tokens)', 'tok/s'],
                             [[k, f"{v:,.0f}"] for k, v in g.items() if '/' in k and not k.startswith('ragged')]))
            out.append('')  # a blank line ends the table: the next file's table must not run into it
    return '\n'.join(out).rstrip('\n')


def paired_ratio(inter, baseline):
    """', paired over N rounds: geometric mean ratio (95% CI)' where bench.py kept each round's step times."""
    p = inter.get(f'paired_ours_over_{baseline}')
    return (f"; paired over {p['rounds']} rounds: {p['ratio']:.3f}× (95% CI {p['ci95'][0]:.3f}–{p['ci95'][1]:.3f}, "
            f"p {pval(p['p'])})" if p else '')


def gpu_section(pattern='gpu/*.json'):
    rows = {p: r for p, r in load(pattern).items() if 'tok_s' in r}
    if not rows:
        return None
    return table(['run', 'params', 'context', 'micro-batch × accum', 'activation ckpt', 'peak memory', 'tok/s', 'MFU',
                  'device', 'source'],
                 [[os.path.basename(p)[:-5], f"{r['params'] / 1e6:.0f}M", r['config']['block_size'],
                   f"{r['config']['batch_size']} × {r['config']['gradient_accumulation_steps']}",
                   r['config']['activation_checkpointing'], f"{r['peak_memory_mb']:,.0f} MiB", f"{r['tok_s']:,.0f}",
                   f"{r['mfu']:.1%}", r['hardware'].get('gpu', '?'), f"`{p}`"] for p, r in rows.items()])


def speedrun_section(pattern='speedrun/*.json'):
    rows = load(pattern)
    if not rows:
        return None
    out = []
    for p, r in rows.items():
        if 'before_run' in r:  # experiments/speedrun/before_after.py: two commits' training stages, back to back
            a, b = r['after'], r['before_run']
            out.append(table(['stage', f"before ({r['before'][:7]})", f"after ({commit(r)})", 'speedup'],
                             [[s, f"{b[s]['seconds']:.0f} s", f"{a[s]['seconds']:.0f} s", f"{r['speedup'][s]:.2f}×"]
                              for s in r['speedup']]))
            out.append(f"\n`{p}`: in the order after, before, after; the second after-pretraining took "
                       f"{r['after_again']['pretrain']['seconds']:.0f} s ({r['drift_pretrain_after_again_over_after']:.2f}× "
                       f"the first); {hw(r)}, {r['matmul_peak_gflops_start']:.0f} GFLOP/s at the start, "
                       f"{r['matmul_peak_gflops_end']:.0f} at the end.\n")
            continue
        if r.get('experiment') == 'spin_ab':  # experiments/speedrun/spin_ab.py: one stage, two environments
            out.append(table(['DPO stage, one host', 'GOMP_SPINCOUNT=0 (PASSIVE)', 'GOMP_SPINCOUNT=30000', 'speedup'],
                             [['whole stage', f"{r['passive']['seconds']:.0f} s", f"{r['spin']['seconds']:.0f} s",
                               f"{r['speedup']['stage']:.2f}×"],
                              ['its sampling', f"{r['passive']['sampling_seconds']} s", f"{r['spin']['sampling_seconds']} s",
                               f"{r['speedup']['sampling']:.2f}×"]]))
            out.append(f"\n`{p}`: in the order spin, passive; the same samples and model: {r['same_result']}; "
                       f"{hw(r)}, {r['matmul_peak_gflops_start']:.0f} GFLOP/s at the start, "
                       f"{r['matmul_peak_gflops_end']:.0f} at the end, commit {commit(r)}.\n")
            continue
        out.append(table(['stage', 'seconds'], [[k, v] for k, v in r['stage_seconds'].items()]
                         + [['**all**', f"{r['total_seconds']:.0f} ({r['total_seconds'] / 60:.1f} min)"]]))
        peak = f", {r['matmul_peak_gflops']:.0f} GFLOP/s fp32 measured at the start" if r.get('matmul_peak_gflops') else ''
        out.append(f"\n`{p}`: {r['scale']} scale on {hw(r)}{peak}, commit {commit(r)}.\n")
    return '\n'.join(out)


def sft_section(pattern='sft/*.json'):
    rows = load(pattern)
    if not rows:
        return None
    return table(['run', 'task', 'from', 'steps', 'val loss', 'greedy EM (val)', '95% CI', 'format failures',
                  'wrong with an arithmetic slip', 'wall', 'source'],
                 [[r['name'], r['task'], f"`{r['init_from']}`", r['iters'], f"{r['val_loss']:.3f}",
                   '–' if r['val_em'] is None else f"{r['val_em']:.3f} on {r['val_em_n']}",
                   '–' if 'val_em_ci95' not in r else ci(r['val_em_ci95']), r.get('format_failures', '–'),
                   f"{r['wrong_with_arithmetic_slip']} of {r['wrong']}" if 'wrong_with_arithmetic_slip' in r else '–',
                   f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"] for p, r in rows.items()])


def dpo_section(pattern='dpo/*.json'):
    rows = load(pattern)
    if not rows:
        return None
    return table(['run', 'pairs', 'samples (correct)', 'train / val pairs', 'steps', 'val reward acc', 'val margin',
                  'val logp chosen / rejected', 'greedy EM (val)', '95% CI', 'wall', 'source'],
                 [[r['name'], r['pairs'],
                   f"{r['pair_stats']['samples']} ({r['pair_stats']['sample_accuracy']:.1%})" if 'sample_accuracy' in r['pair_stats'] else '–',
                   f"{r['pair_stats']['train_pairs']} / {r['pair_stats']['val_pairs']}", r['iters'],
                   f"{r['val_rewards/accuracies']:.3f}", f"{r['val_rewards/margins']:.3f}",
                   f"{r['val_logps/chosen']:.1f} / {r['val_logps/rejected']:.1f}",
                   f"{r['val_em']:.3f} on {r['val_n_em']}" if r.get('val_em') is not None else '–',
                   ci(r.get('val_em_ci95')), f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"] for p, r in rows.items()])


def verifier_section(pattern='verifier/*.json'):
    rows = load(pattern)
    pairs = {p: r for p, r in rows.items() if r.get('experiment') == 'verifier_within_problem'}
    rows = {p: r for p, r in rows.items() if p not in pairs}
    if not rows:
        return None
    return table(['run', 'generator', 'train samples', 'val samples (problems)', 'AUROC', 'AUROC within a problem (n)',
                  'ECE', 'accuracy', 'top-1 after reranking', 'random pick', 'oracle', 'source'],
                 [[r['name'], f"`{r['generator']}`", r['train_samples'], f"{r['val_n_val']} ({r['val_n_val_problems']})",
                   f"{r['val_auroc']:.3f}",
                   f"{r['val_within_problem_auroc']:.3f} ({r['val_within_problem_n']})" if r.get('val_within_problem_auroc') is not None else '–',
                   f"{r['val_ece']:.3f}", f"{r['val_accuracy']:.3f}", f"{r['val_rerank_top1']:.3f}",
                   f"{r['val_random_pick']:.3f}", f"{r['val_oracle']:.3f}", f"`{p}`"] for p, r in rows.items()]) + \
        "\n\nCalibration: `report/figures/verifier_calibration.png`." + ''.join(
            "\n\n" + within_problem_table(p, r) for p, r in pairs.items())


def within_problem_table(p, r):
    """experiments/verifier/within_problem.py: two verifiers on the same samples, paired by problem."""
    w, d = r['within_problem_auroc'], r['b_minus_a']
    return table([f"two verifiers on the same {r['n_samples']} samples of {r['n_problems']} {r['task_dir'] or r['task']} "
                  f"test problems from `{r['generator']}` (`{p}`, commit {commit(r)})", 'A', 'B'],
                 [['verifier', f"`{r['a']['verifier']}`", f"`{r['b']['verifier']}`"],
                  ['AUROC, pooled', f"{r['pooled_auroc']['a']:.3f}", f"{r['pooled_auroc']['b']:.3f}"],
                  [f"AUROC within a problem ({r['n_mixed_problems']} problems with right and wrong samples)",
                   f"{w['a']:.3f} ({ci(w['a_ci95'])})", f"{w['b']:.3f} ({ci(w['b_ci95'])})"],
                  ['B − A, paired by problem', f"{d['delta']:+.3f} ({d['delta_ci95'][0]:+.3f} to {d['delta_ci95'][1]:+.3f}), "
                                               f"p {pval(d['p'])}", '']] +
                 [[f"EM at N = {r['n_samples']}: {k.replace('_', ' ')}", f"{r['accuracy_at_n_max']['a'][k]:.3f}",
                   f"{r['accuracy_at_n_max']['b'][k]:.3f}"] for k in r['accuracy_at_n_max']['a']])


def alignment_section(pattern='alignment/*.json'):
    runs = {p: r for p, r in load(pattern).items() if 'stages' in r}
    if not runs:
        return None
    out = []
    for p, run in runs.items():
        st = run['stages']
        key = next((k for k in st[0] if k.startswith('pass@')), None)
        out.append(f"**{run['name']}** (`{p}`, commit {commit(run)}; '+tool': decoded with the calculator):\n")
        out.append(table(['stage', f"arith EM (n={st[0]['arith_n_em']})", '95% CI', 'vs previous stage (paired, exact McNemar)']
                         + ([f"{key} (n={st[0]['n_sampled']})"] if key else []),
                         [[s['stage'], f"{s['arith_em']:.3f}", ci(s['arith_em_ci95']),
                           paired(s['vs_previous']) if 'vs_previous' in s else '–']
                          + ([f"{s[key]:.3f}" if key in s else '–'] if key else []) for s in st]))
        last = st[-1]
        if 'vs_first' in last:  # what the stages after the first add together
            out.append(f"\n{last['stage']} against {st[0]['stage']} (paired, exact McNemar): {paired(last['vs_first'])}.")
        budgets = [k for k in last if k.startswith('verifier@')]
        if budgets:
            out.append(f"\nThe verifier on the {last['stage']} model's samples ({last['verifier_strategy']}), against its "
                       f"greedy answers on the same {last['verifier_n']} test problems:\n")
            out.append(table(['N', 'EM', '95% CI', 'vs greedy (paired)'],
                             [['greedy', f"{last['greedy_em_same_problems']:.3f}", '', '']]
                             + [[k[9:], f"{last[k]['em']:.3f}", ci(last[k]['em_ci95']), paired(last[k]['vs_greedy'])]
                                for k in budgets]))
            out.append('\n' + table(['verifier', 'value'], [
                ['strategy, chosen on val problems (EM there)',
                 f"{last['verifier_strategy']} of {json.dumps(last['verifier_selection_val'])} on {last['verifier_selection_n']}"],
                ['AUROC, pooled', f"{last['verifier_auroc']:.3f}"],
                [f"AUROC within a problem ({last['verifier_within_problem_n']} problems with right and wrong samples)",
                 f"{last['verifier_within_problem_auroc']:.3f}"],
                [f"oracle (pass@{budgets[-1][9:]})", f"{last['oracle_at_n']:.3f}"],
                ['share of the greedy → oracle gap recovered', f"{last['verifier_gap_recovered']:.0%}"]]))
        out.append(f"\nFigure: `report/figures/alignment_{run['name']}.png`.\n")
    return '\n'.join(out)


def tts_section(pattern='tts/*.json'):
    runs = load(pattern)
    if not runs:
        return None
    out = []
    for p, run in runs.items():
        rows = run['rows']
        Ns = sorted({r['n'] for r in rows if r['strategy'] not in ('greedy', 'greedy_tool')})
        by = {(r['strategy'], r['n']): r for r in rows}
        strategies = list(dict.fromkeys(r['strategy'] for r in rows if r['strategy'] not in ('greedy', 'greedy_tool')))
        cfg = run.get('config', {})
        where = os.path.basename(os.path.normpath(cfg['task_dir'])) if cfg.get('task_dir') else run['task']  # its draw
        shots = f", {cfg['k_shot']}-shot" if cfg.get('k_shot') else ''
        out.append(f"**{run['name']}**: {run['n_problems']} {where} {run['split']} problems, generator "
                   f"`{run['generator']}`, verifier `{run['verifier'] or 'none'}`, T = {run['temperature']}"
                   f"{shots}{', calculator in the loop' if cfg.get('tool') else ''} (`{p}`, commit {commit(run)}).\n")
        g, gt = by['greedy', 1], by['greedy_tool', 1]
        out.append(table(['strategy'] + [f'N={n}' for n in Ns] + [f'N={max(Ns)} vs greedy (paired)'],
                         [[s] + [f"{by[s, n]['accuracy']:.3f} ({by[s, n]['tokens_per_problem']:.0f} tok)" for n in Ns]
                          + [paired(by[s, max(Ns)]['vs_greedy']) if by[s, max(Ns)].get('vs_greedy') else '–']
                          for s in strategies]
                         + [['greedy', f"{g['accuracy']:.3f} ({ci(g['ci95'])})"] + [''] * len(Ns),
                            ['greedy, calculator', f"{gt['accuracy']:.3f} ({ci(gt['ci95'])})"] + [''] * (len(Ns) - 1)
                            + [paired(gt['vs_greedy']) + ' (calculator vs none)' if gt.get('vs_greedy') else '']]))
        if run['crossings']:
            out.append('\nCrossings: ' + '; '.join(f"{c['a']} and {c['b']} between N={c['between'][0]} and "
                                                     f"N={c['between'][1]}, {c['leader_after']} ahead after"
                                                     for c in run['crossings']) + '.')
        cats = list(next(iter(run['error_anatomy'].values())))
        out.append('\n' + table(['answers'] + cats, [[k] + [v[c] for c in cats] for k, v in run['error_anatomy'].items()]))
        out.append(f"\nFigure: `report/figures/tts_{run['name']}.png`; examples: "
                   f"`experiments/tts/{run['name']}_errors.jsonl`.\n")
    return '\n'.join(out)


def attention_section(pattern='attention/*.json'):
    rows = load(pattern)
    if not rows:
        return None

    def by_layer(m):
        if len(m) <= 8:
            return ', '.join(f"{x:.3f}" for x in m)
        top = max(range(len(m)), key=m.__getitem__)
        return (f"{len(m)} layers: first {m[0]:.3f}, mean {sum(m) / len(m):.3f}, max {m[top]:.3f} (layer {top}), "
                f"last {m[-1]:.3f}")
    return table(['model', 'checkpoint', 'context', 'attention on token 0 by layer', 'uniform head', 'source'],
                 [[r['name'], f"`{r['checkpoint']}`", r['context'], by_layer(r['sink_mass_by_layer']),
                   f"{r['uniform_sink_mass']:.3f}", f"`{p}`"] for p, r in rows.items()]) + \
        ("\n\nFigures: `report/figures/attention_maps.png` (our checkpoint), `attention_maps_<name>.png` (HF folders), "
         "`attention_sinks_by_layer.png`.")


def finetune_section(pattern='finetune/*.json'):
    rows = load(pattern)
    if not rows:
        return None
    out = []

    def paired(r, c):  # this run against its paired_with baseline on the same items
        t = (r.get('paired') or {}).get(c)
        if not t:
            return '–'
        f = '.1f' if c.startswith('rouge') else '.3f'
        return (f"{t['delta']:+{f}} ({t['delta_ci95'][0]:+{f}} to {t['delta_ci95'][1]:+{f}}) vs {t['baseline']}, "
                f"{'McNemar' if t['test'] == 'mcnemar_exact' else 'paired bootstrap'} p {pval(t['p'])}")
    for task, cols in (('sst2', ['accuracy', 'macro_f1']), ('samsum', ['rouge1', 'rouge2', 'rougeL', 'rougeLsum']),
                       ('gsm8k', ['em'])):
        rs = {p: r for p, r in rows.items() if r['task'] == task}
        if not rs:
            continue
        out.append(f"**{task}**:\n")
        out.append(table(['run', 'model', 'mode', 'trainable params', 'steps', 'split', 'n'] + cols
                         + [f'{cols[0]} 95% CI', f'{cols[0]} paired difference', 'wall', 'source'],
                         [[r['name'], f"`{r['model']}`", r['mode'] + (f" (k={r['k_shot']})" if r['k_shot'] else '')
                           + (' (chat template)' if r['config'].get('chat') else ''),
                           f"{r['trainable_params']:,}", r['iters'], r['eval_split'], r['n_eval']]
                          + [f"{r[c]:.3f}" if c in ('accuracy', 'macro_f1', 'em') else f"{r[c]:.1f}" for c in cols]
                          + [(ci(r[cols[0] + '_ci95']) if task != 'samsum' else f"{r['rouge1_ci95'][0]:.1f}–{r['rouge1_ci95'][1]:.1f}")
                             if r.get(cols[0] + '_ci95') else '–', paired(r, cols[0]),
                             f"{r['wall_time_s'] / 60:.0f} min", f"`{p}`"]
                          for p, r in rs.items()]))
        out.append('')
    return '\n'.join(out) + "Examples: `experiments/finetune/*_examples.jsonl`."


def finetune_source(row, task, finetuned):
    """finetune.py's own row (among `finetuned`, {path: row}) for the model an eval.py row scored, if any: the
    same folder prompted zero-shot (plain prompt), the folder finetune.py saved (its absolute path ends in the
    checkpoint's relative one, wherever the clone lives), or export.py's folder of our checkpoint."""
    ckpt = os.path.normpath(row['checkpoint'])
    for p, r in finetuned.items():
        if r['task'] != task or r['config'].get('chat'):
            continue
        same = (r['mode'] == 'zero_shot' and os.path.normpath(r['model']) in (ckpt, os.path.join(os.path.dirname(ckpt), 'hf'))) \
            or (r.get('saved_to') and (os.path.normpath(r['saved_to']) + os.sep).endswith(os.sep + ckpt + os.sep))
        if same and (r['n_eval'], r['eval_split']) == (row['n_eval'], row.get('split')):
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
            body.append([f"`{r['checkpoint']}`", r.get('split', '?'), r['n_eval']] + [f"{r[c]:.3f}" if task == 'sst2' else f"{r[c]:.1f}" for c in cols]
                        + ([ci(r['accuracy_ci95'])] if task == 'sst2' else [])
                        + [(f"{fr[key]:.3f}" if task == 'sst2' else f"{fr[key]:.1f}") + f" (`{fp}`)" if fr else '—',
                           f"{r['wall_time_s'] / 60:.1f} min", f"`{p}`"])
        out.append(f"**{task}** (`python eval.py {task} --ckpt=...`):\n")
        out.append(table(['checkpoint', 'split', 'n'] + cols + ['95% CI'] * (task == 'sst2')
                         + [f'finetune.py, same model ({cols[0]})', 'wall', 'source'], body))
        out.append('')
    return '\n'.join(out) or None


def all_section(pattern='all/*.json'):
    """eval.py all: each suite's headline numbers for one checkpoint, and the suites skipped (with why)."""
    rows = load(pattern)
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
        out.append(f"`{r['command']}` ({r['wall_time_s'] / 60:.0f} min on {hw(r)}, commit {commit(r)}, `{p}`):\n")
        out.append(table(['suite', 'headline'], body))
    return '\n'.join(out)


def errors_section():
    """Where answers go wrong, by kind: the counts the suites stored (the *_errors.jsonl files hold a sample)."""
    kinds = ('format_failures', 'misread_operand', 'wrong_with_arithmetic_slip', 'wrong_plan', 'right_by_accident')
    rows = []
    for p, run in load('alignment/*.json').items():
        for s in run.get('stages', []):
            if s.get('arith_n_em'):
                rows.append([f"{run['name']}: {s['stage']}", s['arith_n_em'], s['arith_wrong']]
                            + [s.get(f'arith_{k}', '–') for k in kinds] + [f"`{p}`"])
    out = []
    if rows:
        out.append(table(['arith, greedy', 'problems', 'wrong'] + [k.replace('_', ' ') for k in kinds] + ['source'], rows))
    sst = []
    for p, r in load('sst2/*.json').items():
        if r.get('errors_by_category'):
            by = sorted((r.get('accuracy_by_category') or {}).items(), key=lambda kv: kv[1]['accuracy'])
            sst.append([r['name'], r['n_eval'], round((1 - r['accuracy']) * r['n_eval']),
                        ', '.join(f"{k} {v}" for k, v in sorted(r['errors_by_category'].items(), key=lambda kv: -kv[1])),
                        ', '.join(f"{k} {v['accuracy']:.3f} (n={v['n']})" for k, v in by), f"`{p}`"])
    if sst:
        out.append('\n' + table(['SST-2', 'n', 'wrong', 'wrong, by tag (a sentence can carry several)',
                                 'accuracy by tag', 'source'], sst))
    return '\n'.join(out) or None


def test_set(command):
    """The test set an eval.py alignment command scored: its --task_dir's folder (default data/arith), and
    'held-out wordings' for --arith_split=test_heldout."""
    folder = re.search(r'--task_dir=(\S+)', command)
    name = os.path.basename(os.path.normpath(folder.group(1))) if folder else 'arith'
    return name + (' held-out wordings' if '--arith_split=test_heldout' in command else '')


def splits_section(pattern):
    """One row per test set (an alignment file each, the same stages in each): every stage's greedy EM, and each
    later stage against the first, paired (exact McNemar)."""
    runs = {p: r for p, r in load(pattern).items() if 'stages' in r}
    if not runs:
        return None
    names = [s['stage'] for s in next(iter(runs.values()))['stages']]
    rows = []
    for p, run in runs.items():
        st = run['stages']
        versus = [s.get('vs_first') or (s['vs_previous'] if i == 1 else None) for i, s in enumerate(st)][1:]
        rows.append([test_set(run['command']), st[0]['arith_n_em']] + [f"{s['arith_em']:.3f}" for s in st]
                    + [paired(v) if v else '–' for v in versus] + [f"`{p}` ({commit(run)})"])
    return table(['test set', 'n'] + names + [f"{n} − {names[0]}" for n in names[1:]] + ['source'], rows)


def provenance_section():
    """Which commits the result files come from: the files, their suites and dates per commit, oldest first, and
    how many of them ran from code that differed from the commit (the diff hash in each file says how)."""
    by = {}
    for p, r in load('**/*.json').items():
        if not isinstance(r, dict):
            continue
        c = (r.get('git_commit') or 'none recorded')[:7]
        e = by.setdefault(c, dict(files=0, dirty=0, suites=set(), dates=[]))
        e['files'] += 1
        e['dirty'] += bool(r.get('code_dirty'))
        e['suites'].add(p.split(os.sep)[1])
        if r.get('date'):
            e['dates'].append(r['date'][:10])
    rows = sorted(by.items(), key=lambda kv: (min(kv[1]['dates']) if kv[1]['dates'] else '', kv[0]))
    return (f"{sum(e['files'] for e in by.values())} result files under `experiments/` from {len(by)} commits:\n\n"
            + table(['commit', 'dates', 'files', 'from changed code', 'suites'],
                    [[c, '–'.join(sorted({min(e['dates']), max(e['dates'])})) if e['dates'] else '–', e['files'],
                      e['dirty'] or '', ', '.join(sorted(e['suites']))] for c, e in rows]))


BLOCKS = {'lm': lm_section, 'ablations': ablation_section, 'sinks': sinks_section, 'quant': quant_section,
          'bench': bench_section, 'gpu': gpu_section, 'speedrun': speedrun_section, 'sft': sft_section,
          'dpo': dpo_section, 'verifier': verifier_section, 'alignment': alignment_section, 'tts': tts_section,
          'attention': attention_section, 'finetune': finetune_section, 'benchmarks': benchmark_section,
          'all': all_section, 'errors': errors_section, 'literature': literature, 'provenance': provenance_section,
          'splits': splits_section}
MARKER = re.compile(r'(<!-- generated: ([\w-]+)\s*([^ >]*)\s*-->\n).*?(<!-- /generated -->)', re.S)


def fill(text):
    """Replace every marked block's contents with what its function makes now."""
    def one(m):
        name, pattern = m.group(2), m.group(3)
        if name not in BLOCKS:
            sys.exit(f"report/paper.md: unknown generated block '{name}'; known: {', '.join(BLOCKS)}")
        made = BLOCKS[name](pattern) if pattern else BLOCKS[name]()
        return m.group(1) + (made or f"*(no results yet under experiments/{pattern or name})*") + '\n' + m.group(4)
    return MARKER.sub(one, text)


def headline():
    """The README's table: at most 13 results, each with the file it comes from (the paper has the rest)."""
    def one(path):
        full = os.path.join(EXP, path)
        return json.load(open(full)) if os.path.exists(full) else None

    def ci(lo_hi):
        return f"{lo_hi[0]:.3f}–{lo_hi[1]:.3f}"

    def chain(stages):  # each stage's EM with its paired p against the stage before
        return ' → '.join(f"{s['arith_em']:.3f}" + (f" (p = {s['vs_previous']['p']:.2g})" if 'vs_previous' in s else '')
                          for s in stages)
    rows = []
    sr = one('speedrun/cpu.json')  # the tiny model is the speedrun's: its pretraining stage's minutes
    tiny_min = f"{sr['stage_seconds']['pretrain'] / 60:.0f} min" if sr else 'minutes'
    for name, label in (('speedrun_cpu', f'tiny (4 layers, 192 wide, {tiny_min} on CPU)'), ('small', 'small (6 layers, 384 wide, ½–1 h on CPU)'),
                        ('SmolLM2-135M-Instruct', 'SmolLM2-135M-Instruct, pretrained (reference)')):
        r = one(f'lm/{name}_test.json')
        if r:
            rows.append((f"WikiText-2 test bits/byte, {label}", f"{r['bpb']:.3f}", f'lm/{name}_test.json'))
    al = one('alignment/arith_cpu.json')
    if al:
        stages = al['stages']
        rows.append((f"Arithmetic word problems, greedy EM: {' → '.join(s['stage'] for s in stages)} "
                     f"(n = {stages[0]['arith_n_em']}; each step's paired p)", chain(stages), 'alignment/arith_cpu.json'))
        last = stages[-1]
        if last.get('verifier_strategy') is not None:
            n = [k for k in last if k.startswith('verifier@')][-1][9:]
            rows.append((f"Verifier ({last['verifier_strategy']}) at N = {n} vs greedy, same problems (n = {last['verifier_n']})",
                         f"{last['verifier_em']:.3f} vs {last['greedy_em_same_problems']:.3f} "
                         f"(p = {last['verifier_vs_greedy']['p']:.2g})", 'alignment/arith_cpu.json'))
    other, ours = one('alignment/arith_cpu_other_dpo_both.json'), one('alignment/arith_cpu_dpo_both.json')
    if other and ours:  # DPO where the SFT model's errors are fixable: new names it must copy
        ends = [(r['stages'][0], dict(r['stages'][-1], vs_previous=r['stages'][-1]['vs_first'])) for r in (other, ours)]
        rows.append((f"DPO on problems with new names and ours, greedy EM: {ends[0][0]['stage']} → {ends[0][1]['stage']} "
                     f"on a separately written generator (n = {ends[0][0]['arith_n_em']}); on our test set "
                     f"(n = {ends[1][0]['arith_n_em']}); paired", '; '.join(chain(e) for e in ends),
                     'alignment/arith_cpu_other_dpo_both.json'))
    tts = one('tts/tts_arith.json')
    if tts:
        top = max((r for r in tts['rows'] if r['n'] == tts['n_max'] and r['strategy'] != 'pass@N'), key=lambda r: r['accuracy'])
        pas = next(r for r in tts['rows'] if r['n'] == tts['n_max'] and r['strategy'] == 'pass@N')
        greedy = tts['rows'][1 if tts['config'].get('tool') else 0]  # the greedy decode made the way the samples are
        rows.append((f"Test-time compute at N = {tts['n_max']}: best strategy vs {greedy['strategy']}, pass@N (n = {tts['n_problems']})",
                     f"{top['strategy']} {top['accuracy']:.3f} vs {greedy['accuracy']:.3f} (p = {top['vs_greedy']['p']:.2g}); "
                     f"pass@N {pas['accuracy']:.3f}",
                     'tts/tts_arith.json'))
    for task, run, metric, f in (('SST-2 accuracy', 'sst2_lora', 'accuracy', '.3f'),  # GSM8K's null is in the paper, §7.1
                                 ('SAMSum ROUGE-1', 'samsum_lora_chat', 'rouge1', '.1f')):
        lo = one(f'finetune/SmolLM2-135M-Instruct_{run}.json')
        t = lo and (lo.get('paired') or {}).get(metric)
        if t:
            rows.append((f"{task}, SmolLM2 zero-shot → LoRA r=8, same prompt format"
                         f"{' (chat template)' if lo['config'].get('chat') else ''} ({lo['eval_split']}, n = {t['n']}, paired)",
                         f"{t['a_mean']:{f}} → {t['b_mean']:{f}} ({t['delta']:+{f}}, p {pval(t['p'])})",
                         f'finetune/SmolLM2-135M-Instruct_{run}.json'))
    g = one('gpu/max_ckpt_12gb.json')
    if g:
        rows.append(("train_max (317M) under a 12 GB cap: peak memory (H100 standing in for a 3060)",
                     f"{g['peak_memory_mb'] / 1024:.1f} GiB", 'gpu/max_ckpt_12gb.json'))
    b = one('bench/cpu.json')
    benches = load('bench/*.json')
    runs = {p: r for p, r in benches.items()  # eager runs: the compiled comparison is its own row
            if 'small/interleaved' in r.get('train', {}) and not r.get('quick') and not r.get('compile')}
    if runs:  # the newest run of the comparison: ratios hold across hosts, absolute tok/s do not
        p, r = max(runs.items(), key=lambda kv: kv[1]['date'])
        t = r['train']['small/interleaved']
        pc = t.get('paired_ours_over_classic_gpt2')
        value = (f"{pc['ratio']:.2f}× (95% CI {pc['ci95'][0]:.2f}–{pc['ci95'][1]:.2f}, {pc['rounds']} paired rounds)"
                 if pc else f"{t['ratio_ours_over_classic_gpt2']:.2f}×")
        value += f" on a {r['ceilings']['matmul_fp32_1024_gflops']:.0f} GFLOP/s host"  # the ratio moves with the host
        others = [o['train']['small/interleaved'] for q, o in runs.items() if q != p]
        others = [(o.get('paired_ours_over_classic_gpt2') or {}).get('ratio', o['ratio_ours_over_classic_gpt2'])
                  for o in others]  # the paired ratio where the run kept its rounds, else the plain one
        if others:  # every other run beside it, so that no host is picked for its number
            value += f"; the {len(others)} other runs (other hosts, commits): {min(others):.2f}–{max(others):.2f}×"
        compiled = [o for o in benches.values() if o.get('compile') and 'small/interleaved' in o['train']]
        if compiled:  # bench.py --only=interleaved --compile=True: both blocks compiled, as nanoGPT trains
            c = max(compiled, key=lambda o: o['date'])['train']['small/interleaved']['paired_ours_over_classic_gpt2']
            value += f"; both compiled (torch.compile), newest run: {c['ratio']:.2f}× ({c['ci95'][0]:.2f}–{c['ci95'][1]:.2f})"
        rows.append(("Training tok/s at equal FLOPs, our block / nanoGPT's classic GPT-2 block (small shape, CPU, "
                     "steps interleaved in one process)", value, os.path.relpath(p, 'experiments')))
    if b and b['generate'].get('task_sampling'):
        s = b['generate']['task_sampling']
        rows.append((f"Sampling {s['n_samples']} solutions per arith problem, our engine / HF `generate` "
                     f"({s['n_problems']} problems, {s['rows']} rows a batch)", f"{s['ratio_ours_over_hf']:.2f}×",
                     'bench/cpu.json'))
    sp = one('speedrun/cpu.json')
    if sp:
        peak = f" on a host measuring {sp['matmul_peak_gflops']:.0f} GFLOP/s fp32" if sp.get('matmul_peak_gflops') else ''
        rows.append(("`bash speedrun.sh` on 2 CPU cores, stage time (it follows the host's matmul speed)",
                     f"{sp['total_seconds'] / 60:.1f} min{peak}", 'speedrun/cpu.json'))
    rows = rows[:13]
    return '\n'.join(['| result | value | source |', '|---|---|---|']
                     + [f"| {a} | {b} | [`{c}`](experiments/{c}) |" for a, b, c in rows]) + '\n'


def main():
    paper = os.path.join(REPO, 'report', 'paper.md')
    text = fill(open(paper).read())
    with open(paper, 'w') as f:
        f.write(text)
    path = os.path.join(REPO, 'README.md')
    readme = open(path).read()
    block = '<!-- results:start (generated by report/make.py) -->\n' + headline() + '<!-- results:end -->'
    if '<!-- results:start' not in readme:
        sys.exit("README.md has no <!-- results:start --> marker")
    readme = re.sub(r'<!-- results:start.*?<!-- results:end -->', lambda _: block, readme, flags=re.S)
    with open(path, 'w') as f:
        f.write(readme)
    print(f"filled {len(MARKER.findall(text))} generated blocks in report/paper.md, and the README's results table")


if __name__ == '__main__':
    main()
