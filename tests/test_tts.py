"""tts.py end to end on a tiny generator and verifier: every strategy at every budget, the plot, the error file."""
import json
import os

import pytest

from conftest import needs_data_dir, run, small_base, tiny_hf_folder
from test_verifier import sample_file

pytestmark = needs_data_dir()


@pytest.fixture(scope='module')
def models(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp('tts')
    gen = small_base(corpus, tmp_path_factory, 128)
    run('verifier.py', f'--generator={gen}', f'--samples_from={sample_file(d / "data.json")}',
        f'--out_dir={d}/ver', '--max_iters=4', '--eval_interval=2', '--batch_size=4', '--device=cpu',
        f'--results_dir={d}/res')
    run('data/arith/prepare.py', f'--out_dir={d}/arith', '--n_train=10', '--n_val=5', '--n_test=5', '--max_steps=1')
    return d, gen


def test_tts_all_strategies(models, tmp_path):
    d, gen = models
    run('tts.py', f'--generator={gen}', f'--verifier={d}/ver/best.pt', f'--task_dir={d}/arith',
        '--n_problems=4', '--budgets=(1, 2, 4)', '--max_new_tokens=12', '--device=cpu', f'--results_dir={tmp_path}',
        '--name=t')
    out = json.load(open(tmp_path / 'tts' / 't.json'))
    got = {(r['strategy'], r['n']) for r in out['rows']}
    for s in ('self_consistency', 'best_of_n', 'weighted_vote', 'gated', 'pass@N'):
        assert {(s, 1), (s, 2), (s, 4)} <= got
    assert ('greedy', 1) in got and ('greedy_tool', 1) in got
    rows = {(r['strategy'], r['n']): r for r in out['rows']}
    for N in (1, 2, 4):  # gated never spends more than the fixed-N strategies; best_of_n spends exactly N samples
        assert rows['gated', N]['tokens_per_problem'] <= rows['best_of_n', N]['tokens_per_problem'] + 1e-9
        assert rows['pass@N', N]['accuracy'] >= rows['best_of_n', N]['accuracy'] - 1e-9
    assert rows['best_of_n', 1]['accuracy'] == rows['self_consistency', 1]['accuracy']  # one sample: no choice
    assert sum(out['error_anatomy']['greedy'].values()) == 4
    assert os.path.getsize(tmp_path / 'figures' / 'tts_t.png') > 10_000
    assert os.path.exists(tmp_path / 'tts' / 't_errors.jsonl') and out['git_commit']
    v = out['verifier_auroc']  # within-problem AUROC over the problems with right and wrong samples (maybe none here)
    assert v['within_problem_n'] == len(v['within_problem_by_index']) <= 4
    assert all(0 <= a <= 1 and 0 <= i < 4 for i, a in v['within_problem_by_index'])


def test_tts_runs_an_hf_decoder_folder(models, tmp_path):
    """A Llama-architecture HF folder (SmolLM2's route) goes through GPT.from_hf and its own tokenizer, with
    few-shot exemplars (SmolLM2's GSM8K protocol): the greedy answers are those of the whole prompts decoded
    without a shared prefix, cut at the first blank line."""
    import random
    import torch
    from common import load_for_inference
    from engine import generate_batch
    from tasks import load_task
    d, _ = models
    folder = tiny_hf_folder(tmp_path / 'llama', 'llama')
    run('tts.py', f'--generator={folder}', "--verifier=''", f'--task_dir={d}/arith', '--n_problems=2', '--k_shot=2',
        '--budgets=(1, 2)', '--max_new_tokens=12', '--device=cpu', f'--results_dir={tmp_path}', '--name=hf')
    out = json.load(open(tmp_path / 'tts' / 'hf.json'))
    assert out['n_problems'] == 2 and {r['strategy'] for r in out['rows']} == {'greedy', 'greedy_tool', 'self_consistency', 'pass@N'}
    model, enc, _ = load_for_inference(folder)
    shots = ''.join(p + r + '\n\n' for p, r, _ in random.Random(1337 + 1).sample(load_task('arith', 'train', f'{d}/arith')[0], 2))
    with torch.no_grad():
        whole = generate_batch(model, enc, [shots + p for p, _, _ in load_task('arith', 'test', f'{d}/arith')[0][:2]],
                               max_new_tokens=12)
    errors = [json.loads(line) for line in open(tmp_path / 'tts' / 'hf_errors.jsonl')]
    greedy = {e['question']: e['output'] for e in errors if e['category'].startswith('greedy:')}
    for (text, _), (_, _, row) in zip((w[0] for w in whole), load_task('arith', 'test', f'{d}/arith')[0][:2]):
        cut = text[:text.index('\n\n') + 2] if '\n\n' in text else text
        assert greedy[row['question']] == cut
    p = run('tts.py', f'--generator={folder}', "--verifier=''", f'--task_dir={d}/arith', '--k_shot=11', '--device=cpu',
            f'--results_dir={tmp_path}', '--name=hf', check=False)  # more exemplars than train problems
    assert p.returncode != 0 and 'k_shot=11: choose 0 to 10' in p.stderr + p.stdout
    assert json.load(open(tmp_path / 'tts' / 'hf.json'))['config']['k_shot'] == 2  # the earlier result is kept


def test_within_problem_comparison_pairs_two_verifiers(tmp_path):
    """experiments/verifier/within_problem.py pairs two tts runs' per-problem AUROCs by problem, and refuses runs
    whose samples cannot be the same."""
    import subprocess
    import sys
    from common import REPO

    def tts_run(path, by_index, **changes):
        row = dict(dict(generator='g.pt', verifier=f'{path.stem}.pt', task='arith', split='test', n_problems=5,
                        n_max=4, temperature=0.8, config=dict(seed=1, task_dir='d', tool=True, max_new_tokens=64),
                        verifier_auroc=dict(pooled=0.8, within_problem_by_index=by_index),
                        rows=[dict(strategy='weighted_vote', n=4, accuracy=0.6)]), **changes)
        path.write_text(json.dumps([row]))
        return str(path)

    a = tts_run(tmp_path / 'a.json', [[0, 0.5], [2, 0.75], [3, 1.0]])
    b = tts_run(tmp_path / 'b.json', [[0, 1.0], [2, 1.0], [3, 1.0]])
    script = os.path.join(REPO, 'experiments', 'verifier', 'within_problem.py')
    out_file = str(tmp_path / 'within.json')
    subprocess.run([sys.executable, script, a, b, out_file], check=True, capture_output=True)
    out = json.load(open(out_file))
    os.remove(out_file)
    assert out['n_mixed_problems'] == 3 and out['within_problem_auroc']['a'] == pytest.approx(0.75)
    assert out['b_minus_a']['delta'] == pytest.approx(0.25) and out['b_minus_a']['delta_ci95'][0] >= 0
    c = tts_run(tmp_path / 'c.json', [[0, 1.0], [2, 1.0], [3, 1.0]], temperature=1.0)
    p = subprocess.run([sys.executable, script, a, c, out_file], capture_output=True, text=True)
    assert p.returncode != 0 and 'not the same samples: temperature' in p.stderr and not os.path.exists(out_file)
    # the comparison is written where verifier.py writes its runs: it replaces an earlier comparison, never a run
    subprocess.run([sys.executable, script, a, b, out_file], check=True, capture_output=True)
    subprocess.run([sys.executable, script, b, a, out_file], check=True, capture_output=True)
    assert json.load(open(out_file))['b_minus_a']['delta'] == pytest.approx(-0.25)
    run_file = tmp_path / 'run.json'
    run_file.write_text(json.dumps(dict(name='run', val_auroc=0.8)))
    p = subprocess.run([sys.executable, script, a, b, str(run_file)], capture_output=True, text=True)
    assert p.returncode != 0 and 'holds another result' in p.stderr
    assert json.load(open(run_file)) == dict(name='run', val_auroc=0.8)
