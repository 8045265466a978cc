"""eval.py lm metrics against hand computation; sample.py and export.py end to end."""
import json
import math
import os

import numpy as np
import pytest
import torch

from common import load_model, nats_to_bpb
from conftest import needs_data_dir, run
from eval_lm import lm_nll
from model import GPT, GPTConfig


def test_bits_per_byte_by_hand():
    # 1000 tokens at 2 nats each over 3000 bytes: 2000 nats = 2885.39 bits -> 0.96180 bits per byte
    assert nats_to_bpb(2.0, 1000, 3000) == pytest.approx(2000 / math.log(2) / 3000)


@pytest.mark.parametrize('stride', [16, 5])
def test_lm_nll_scores_every_token_once(stride):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=1, n_head=2, n_embd=16)).eval()
    tokens = np.random.default_rng(0).integers(0, 50, size=103).astype(np.uint16)
    nll, n = lm_nll(model, tokens, 16, stride, 3, torch.autocast('cpu', enabled=False), 'cpu')
    assert n == len(tokens) - 1
    if stride == 16:  # non-overlapping windows: the plain sum of per-window cross-entropies
        t = torch.from_numpy(tokens.astype(np.int64))
        ref = 0.0
        for s in range(0, 102, 16):
            x, y = t[s:s + 16][None], t[s + 1:s + 17][None]
            x = x[:, :y.size(1)]
            ref += torch.nn.functional.cross_entropy(model(x)[0][0], y[0], reduction='sum').item()
        assert nll == pytest.approx(ref, rel=1e-5)


def test_eval_lm_writes_rows(tiny_ckpt, corpus, tmp_path):
    os.symlink(corpus, f'{tmp_path}/wt_8k')  # eval picks data/<dataset>_8k for the 8k-vocab model
    res = tmp_path / 'exp'
    run('eval.py', 'lm', f'--ckpt={tiny_ckpt}/best.pt', f'--dataset={tmp_path}/wt', '--splits=val',
        f'--results_dir={res}', '--name=tiny', '--max_tokens=2000')
    row = json.load(open(res / 'lm' / 'tiny_val.json'))
    assert row['tokens_scored'] == 1999 and row['token_ppl'] == pytest.approx(math.exp(row['nll_per_token']))
    assert row['git_commit'] and row['command'].startswith('python') and row['wall_time_s'] >= 0
    assert (res / 'lm' / 'results.csv').exists() and (res / 'lm' / 'tiny_log.jsonl').exists()
    p = run('eval.py', 'nonsense', check=False)
    assert p.returncode == 1 and "unknown or missing suite 'nonsense'" in p.stderr


@needs_data_dir()
def test_sample_streams_and_handles_long_prompts(tiny_ckpt, tmp_path):
    p = run('sample.py', f'--out_dir={tiny_ckpt}', '--start=Hello', '--num_samples=2', '--max_new_tokens=8',
            '--device=cpu')
    assert p.stdout.count('Hello') == 2 and p.stdout.count('-' * 40) == 2
    greedy = ['sample.py', f'--out_dir={tiny_ckpt}', '--start=Hello', '--num_samples=1', '--max_new_tokens=12',
              '--temperature=0', '--device=cpu']
    assert run(*greedy, '--compile=True').stdout == run(*greedy).stdout  # the compiled decode step: same text
    prompt = tmp_path / 'p.txt'
    prompt.write_text('word ' * 100)
    p = run('sample.py', f'--out_dir={tiny_ckpt}', f'--start=FILE:{prompt}', check=False)
    assert p.returncode == 1 and "context is 32; shorten it" in p.stderr


@needs_data_dir()
def test_export_to_hf_and_sample_from_it(tiny_ckpt, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    hf_dir = tmp_path / 'hf'
    run('export.py', f'--ckpt={tiny_ckpt}/best.pt', f'--hf_dir={hf_dir}')
    ours, _ = load_model(f'{tiny_ckpt}/best.pt')
    hf = AutoModelForCausalLM.from_pretrained(str(hf_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    ids = tok('Hello world, this is a test')['input_ids']
    from common import get_tokenizer
    assert ids == get_tokenizer('gpt2_8k').encode('Hello world, this is a test')
    x = torch.tensor([ids])
    torch.testing.assert_close(hf(x).logits, ours.eval()(x)[0], atol=1e-4, rtol=1e-4)
    p = run('sample.py', f'--ckpt={hf_dir}', '--start=Hello', '--num_samples=1', '--max_new_tokens=5')
    assert 'Hello' in p.stdout


def test_ablation_and_sinks_suites_and_figures(tiny_ckpt, corpus, tmp_path):
    os.symlink(corpus, f'{tmp_path}/wt_8k')
    res, figs = tmp_path / 'exp', tmp_path / 'fig'
    run('eval.py', 'ablations', f'--runs={tiny_ckpt}', f'--dataset={tmp_path}/wt', f'--results_dir={res}',
        '--max_tokens=1000')
    row = json.load(open(res / 'ablations' / f'{os.path.basename(tiny_ckpt)}.json'))
    assert row['kv_bytes_per_token'] == 2 * 2 * 2 * 8 * 4 and row['decode_tok_s'] > 0 and row['val_ppl'] > 1
    # seeds: <variant>_s<k> folders are aggregated per variant, and each variant is paired by seed with the first
    seeds = [f'{tmp_path}/{v}_s{k}' for v in ('a', 'b') for k in (1, 2)]
    for d in seeds:
        os.symlink(tiny_ckpt, d)
    run('eval.py', 'ablations', f'--runs={",".join(seeds)}', f'--dataset={tmp_path}/wt', f'--results_dir={tmp_path}/seeds',
        '--max_tokens=1000')
    agg = json.load(open(tmp_path / 'seeds' / 'ablations' / 'variants.json'))
    a, b = agg['variants']
    assert (a['variant'], a['n_seeds'], b['runs']) == ('a', 2, ['_s1', '_s2']) and 'vs_baseline' not in a
    assert a['val_ppl'] == pytest.approx(row['val_ppl']) and a['val_ppl_sd'] == pytest.approx(0, abs=1e-9)
    assert b['vs_baseline']['test'] == 'paired_t' and b['vs_baseline']['delta'] == pytest.approx(0, abs=1e-9)
    assert sorted(f for f in os.listdir(tmp_path / 'seeds' / 'ablations') if f.endswith('_log.jsonl')) == ['a_s1_log.jsonl', 'b_s1_log.jsonl']
    run('eval.py', 'sinks', f'--ckpt={tiny_ckpt}/best.pt', f'--dataset={tmp_path}/wt', f'--results_dir={res}',
        '--lengths=1,2,4', '--n_seqs=2', '--name=t')
    rows = {m: json.load(open(res / 'sinks' / f't_{m}.json')) for m in ('dense', 'window', 'sinks', 'recompute')}
    # within the training context every policy sees the same tokens at the same positions
    assert len({round(r['ppl_1x'], 3) for r in rows.values()}) == 1
    assert rows['window']['vs_sinks_1x']['delta'] == pytest.approx(0, abs=1e-5) and 'vs_sinks_1x' not in rows['sinks']
    lo, hi = rows['sinks']['ppl_4x_ci95']
    assert lo <= rows['sinks']['ppl_4x'] <= hi and rows['sinks']['n_seqs'] == 2
    # the whole split (n_seqs=0) in batches of 2, recompute on the first 2 sequences: the batched NLL is the same
    run('eval.py', 'sinks', f'--ckpt={tiny_ckpt}/best.pt', f'--dataset={tmp_path}/wt', f'--results_dir={res}',
        '--lengths=1,2,4', '--n_seqs=0', '--recompute_seqs=2', '--batch_size=2', '--name=all')
    every = {m: json.load(open(res / 'sinks' / f'all_{m}.json')) for m in ('window', 'recompute')}
    assert every['window']['n_seqs'] > 2 and every['recompute']['n_seqs'] == 2
    assert every['recompute']['ppl_4x'] == pytest.approx(rows['recompute']['ppl_4x'], rel=1e-4)
    assert every['recompute']['vs_sinks_4x']['n'] == 2
    assert rows['dense']['kv_cache_bytes'] > rows['sinks']['kv_cache_bytes']
    assert 0 <= json.load(open(res / 'sinks' / 't_gen_sinks.json'))['rep_ngram_rate'] <= 1
    run('eval.py', 'quant', f'--ckpt={tiny_ckpt}/best.pt', f'--dataset={tmp_path}/wt', f'--results_dir={res}',
        '--max_tokens=1000', '--name=t')
    q = json.load(open(res / 'quant' / 't.json'))
    assert q['quantized_layers'] == 2 * 4 and 0.14 < q['memory_ratio'] < 0.15 and abs(q['ppl_change_pct']) < 20
    from model import int8_supported
    if int8_supported('cpu'):  # int8 decoding's cost, measured beside NF4's
        assert abs(q['int8_ppl_change_pct']) < 5 and 0.5 < q['int8_top1_agreement'] <= 1 and q['int8_top1_positions'] > 0
    p = run('viz.py', f'--results_dir={res}', f'--fig_dir={figs}')
    assert {'ablations.png', 'sinks_perplexity.png', 'training_curves.png'} <= set(os.listdir(figs)), p.stdout


@needs_data_dir()
def test_eval_attention_and_its_figures(tiny_ckpt, corpus, tmp_path):
    os.symlink(corpus, f'{tmp_path}/wt_8k')
    res = tmp_path / 'exp'
    run('eval.py', 'attention', f'--ckpt={tiny_ckpt}/best.pt', f'--dataset={tmp_path}/wt', f'--results_dir={res}',
        '--name=tiny', '--n_seqs=2')
    row = json.load(open(res / 'attention' / 'tiny.json'))
    assert len(row['sink_mass_by_layer']) == 2 and all(0 <= m <= 1 for m in row['sink_mass_by_layer'])
    maps = np.array(row['maps'])  # (layers, heads, T, T) of the first sequence: causal rows summing to 1
    assert maps.shape[:2] == (2, 4) and np.allclose(maps.sum(-1), 1, atol=1e-3) and np.triu(maps[0, 0], 1).max() == 0
    run('viz.py', 'attention', f'--results_dir={res}', f'--fig_dir={tmp_path}/fig')
    assert os.path.getsize(tmp_path / 'fig' / 'attention_maps.png') > 10_000
    assert os.path.exists(tmp_path / 'fig' / 'attention_sinks_by_layer.png')


@needs_data_dir()
def test_eval_all_runs_every_suite_and_skips_what_has_no_data(corpus, tmp_path_factory, tmp_path):
    """eval.py all on one checkpoint: lm, attention, arith, sst2, samsum and tts write their rows; gsm8k, whose
    data this DATA_DIR lacks, is reported and skipped while the rest still run; TinyStories val joins the lm
    suite once it is prepared."""
    from conftest import small_base
    gen = small_base(corpus, tmp_path_factory, 128)
    os.symlink(corpus, f'{tmp_path}/wt_8k')
    data = tmp_path / 'data'
    data.mkdir()
    for d in ('gpt2_bpe', 'sst2', 'samsum'):
        os.symlink(os.path.join(os.environ['DATA_DIR'], d), data / d)
    run('data/arith/prepare.py', f'--out_dir={tmp_path}/arith', '--n_train=10', '--n_val=5', '--n_test=5', '--max_steps=1')
    res = tmp_path / 'exp'
    common = [f'--ckpt={gen}', f'--dataset={tmp_path}/wt', f'--extra_datasets={tmp_path}/ts', '--max_tokens=2000',
              f'--results_dir={res}', '--device=cpu']
    p = run('eval.py', 'all', *common, f'--task_dir={tmp_path}/arith', '--n_problems=3', '--n_samples=2',
            '--max_new_tokens=8', '--summary_tokens=8', '--name=t', env=dict(DATA_DIR=str(data)))
    summary = json.load(open(res / 'all' / 't.json'))['suites']
    assert "no 'gsm8k/' folder" in summary['gsm8k']['skipped']
    assert all(isinstance(summary[s], list) and summary[s] for s in ('lm', 'attention', 'arith', 'sst2', 'samsum', 'tts'))
    assert [r['name'] for r in summary['lm']] == ['t_val', 't_test'] and 'ts_8k/val.bin missing' in p.stdout
    sst2 = json.load(open(res / 'sst2' / 't.json'))
    assert sst2['n_eval'] == 3 and sst2['accuracy'] in (0, 1 / 3, 2 / 3, 1) and sst2['git_commit']
    samsum = json.load(open(res / 'samsum' / 't.json'))
    assert samsum['n_eval'] == 3 and 0 <= samsum['rouge1'] <= 100 and len(open(res / 'samsum' / 't_examples.jsonl').readlines()) == 3
    tts = json.load(open(res / 'tts' / 't.json'))
    assert {r['n'] for r in tts['rows'] if r['strategy'] == 'self_consistency'} == {1, 2} and tts['n_problems'] == 3
    assert summary['tts'][0]['best_strategy'] == 'self_consistency@2' and 0 <= summary['tts'][0]['greedy_em'] <= 1
    os.symlink(corpus, f'{tmp_path}/ts_8k')
    run('eval.py', 'lm', *common, '--splits=val', '--name=u')
    assert json.load(open(res / 'lm' / 'u_ts_val.json'))['tokens_scored'] == 1999
