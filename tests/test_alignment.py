"""eval.py arith and alignment suites over a tiny Base -> DPO -> verifier chain: rows, CIs, errors files."""
import json
import os
import re

import pytest

from conftest import needs_data_dir, run, small_base
from test_dpo import dpo_args
from test_verifier import sample_file

pytestmark = needs_data_dir()


@pytest.fixture(scope='module')
def chain(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp('chain')
    base = small_base(corpus, tmp_path_factory, 128)
    pairs = d / 'pairs'
    pairs.mkdir()
    for split in ('train', 'val'):
        (pairs / f'{split}.jsonl').write_text(json.dumps(dict(prompt='Pick:', chosen=' yes', rejected=' no')) + '\n')
    run('dpo.py', *dpo_args(base, str(pairs), f'{d}/dpo', iters=4))
    run('verifier.py', f'--generator={d}/dpo/best.pt', f'--samples_from={sample_file(d / "data.json")}',
        f'--out_dir={d}/ver', '--max_iters=2', '--eval_interval=1', '--batch_size=4', '--device=cpu',
        f'--results_dir={d}/res')
    run('data/arith/prepare.py', f'--out_dir={d}/arith', '--n_train=10', '--n_val=5', '--n_test=6', '--max_steps=1')
    return d, base


def test_eval_arith_writes_rows_and_errors(chain, tmp_path):
    d, base = chain
    run('eval.py', 'arith', f'--ckpt={base}', f'--task_dir={d}/arith', '--max_new_tokens=16', '--name=b',
        f'--results_dir={tmp_path}', '--device=cpu', '--tool=True')
    row = json.load(open(tmp_path / 'arith' / 'b.json'))
    assert row['n_em'] == 6 and row['tool'] is True and len(row['em_ci95']) == 2
    errors = [json.loads(x) for x in open(tmp_path / 'arith' / 'b_errors.jsonl')]
    counts = {'format_failure': row['format_failures'], 'misread_operand': row['misread_operand'],
              'arithmetic_slip': row['wrong_with_arithmetic_slip'], 'wrong_plan': row['wrong_plan'],
              'right_by_accident': row['right_by_accident']}
    assert sum(counts.values()) == row['wrong'] + row['right_by_accident']
    kept = {c: sum(e['category'] == c for e in errors) for c in counts}
    assert kept == {c: min(3, n) for c, n in counts.items()}  # a sample: the first 3 of each kind (write_examples)
    assert all(set(e) == {'input', 'output', 'label', 'category'} for e in errors)
    # the held-out wordings: a split of their own, none of its sentences in the training problems
    run('eval.py', 'arith', f'--ckpt={base}', f'--task_dir={d}/arith', '--arith_split=test_heldout', '--n_problems=3',
        '--max_new_tokens=8', '--name=h', f'--results_dir={tmp_path}', '--device=cpu')
    assert json.load(open(tmp_path / 'arith' / 'h.json'))['n_em'] == 3
    held = [json.loads(x)['question'] for x in open(f'{d}/arith/test_heldout.jsonl')]
    trained = [json.loads(x)['question'] for x in open(f'{d}/arith/train.jsonl')]
    phrases = ('In the morning', 'is handed', 'donates', 'grows to', 'th of what', 'hold?')  # held-out wordings
    assert all(q.count('In the morning') == 1 and 'hold?' in q for q in held)
    assert not any(p in q for p in phrases for q in trained)
    # --wordings=rich: more training wordings, still none of the held-out ones, and (--avoid) no question repeated
    run('data/arith/prepare.py', f'--out_dir={d}/rich', '--n_train=300', '--n_val=5', '--n_test=5', '--n_heldout=0',
        '--wordings=rich', f'--avoid={d}/arith,{d}/nothing', '--seed=7')
    rich = [json.loads(x)['question'] for x in open(f'{d}/rich/train.jsonl')]
    assert not any(p in q for p in phrases for q in rich)
    assert any(p in q for p in ('receives', 'multiplies', 'Later, ', 'After all that') for q in rich)
    assert not any(p in q for p in ('receives', 'multiplies', 'Later, ') for q in trained)
    assert not set(rich) & set(held + trained + [json.loads(x)['question'] for x in open(f'{d}/arith/test.jsonl')])
    # --wordings=open: the rich wordings with open-class names and objects, and pronouns
    run('data/arith/prepare.py', f'--out_dir={d}/open', '--n_train=300', '--n_val=5', '--n_test=5', '--n_heldout=0',
        '--wordings=open', f'--avoid={d}/arith', '--seed=7')
    opened = [json.loads(x) for x in open(f'{d}/open/train.jsonl')]
    assert not any(p in r['question'] for p in phrases for r in opened)
    assert any('. She ' in r['question'] or '. He ' in r['question'] for r in opened)
    assert any(r['answer'].startswith(('Mr. ', 'Mrs. ', 'Ms. ', 'Miss ', 'Aunt ', 'Uncle ', 'Grand')) for r in opened)
    # --wordings=made_up: many names and objects appear once, so they can only be copied from the question
    run('data/arith/prepare.py', f'--out_dir={d}/made_up', '--n_train=300', '--n_val=5', '--n_test=5', '--n_heldout=0',
        '--wordings=made_up', f'--avoid={d}/arith', '--seed=7')
    made = [json.loads(x) for x in open(f'{d}/made_up/train.jsonl')]
    assert not any(p in r['question'] for p in phrases for r in made)
    firsts = [r['answer'].split(' starts with ')[0] for r in made]  # 'Name starts with 9 things.'
    things = [re.search(r'starts with \d+ (.+)\.$', r['answer'].split('\n')[0]).group(1) for r in made]
    assert len(set(firsts)) > 200 and len(set(things)) > 100
    assert all(r['answer'].split(' starts with ')[0] in r['question'] for r in made)


def test_eval_alignment_stage_table(chain, tmp_path):
    d, base = chain
    run('eval.py', 'alignment', f'--stages=base={base},again={base},again2={base},dpo+tool={d}/dpo/best.pt',
        f'--verifier={d}/ver/best.pt',
        f'--task_dir={d}/arith', '--n_sampled=3', '--n_samples=4', '--n_select=2', '--gsm8k_problems=2',
        '--hh_pairs=4', '--max_new_tokens=12', f'--results_dir={tmp_path}', '--device=cpu', '--name=al')
    out = json.load(open(tmp_path / 'alignment' / 'al.json'))
    base, again, again2, dpo = out['stages']
    assert base['stage'] == 'base' and dpo['stage'] == 'dpo+tool' and 'delta_em_vs_previous' in dpo
    # the same checkpoint thrice: no change; so each later stage against the first is its test against the one before
    assert again['vs_previous']['delta'] == 0 and again['arith_em'] == base['arith_em']
    assert again2['vs_first'] == again2['vs_previous'] and again2['vs_first']['delta'] == 0
    assert dpo['vs_first'] == dpo['vs_previous'] and 'vs_first' not in again
    assert base['tool'] is False and dpo['tool'] is True and dpo['vs_previous']['n'] == 6
    # the verifier: strategy chosen on val, then N = 1, 2, 4 on the test samples, each paired against greedy
    assert dpo['verifier_strategy'] in ('best_of_n', 'weighted_vote') and dpo['verifier_selection_n'] == 2
    assert [k for k in dpo if k.startswith('verifier@')] == ['verifier@1', 'verifier@2', 'verifier@4']
    assert dpo['verifier@4']['em'] == dpo['verifier_em'] and dpo['verifier@4']['vs_greedy']['n'] == 3
    assert base['arith_n_em'] == 6 and base['n_sampled'] == 3 and 'pass@4' in base and base['gsm8k_n'] == 2
    assert 'verifier_em' in dpo and 'verifier_em' not in base and 'verifier_within_problem_auroc' in dpo
    assert dpo['verifier_delta_em'] == pytest.approx(dpo['verifier_em'] - dpo['greedy_em_same_problems'])
    assert base['hh_pairs'] == 4 and 'hh_reward_accuracy' in dpo and 'hh_reward_accuracy' not in base
    assert 0 <= base['hh_logp_per_token_accuracy'] <= 1
    assert os.path.exists(tmp_path / 'alignment' / 'al_base.json')
    assert os.path.exists(tmp_path / 'alignment' / 'al_errors.jsonl')


def test_alignment_and_calibration_figures(chain, tmp_path):
    d, base = chain
    run('eval.py', 'alignment', f'--stages=base={base},dpo={d}/dpo/best.pt', f'--task_dir={d}/arith', '--n_sampled=2',
        '--n_samples=2', '--gsm8k_problems=0', '--hh_pairs=0', '--max_new_tokens=8', f'--results_dir={d}/res',
        '--device=cpu', '--name=al')
    run('viz.py', 'alignment', f'--results_dir={d}/res', f'--fig_dir={tmp_path}')
    run('viz.py', 'calibration', f'--results_dir={d}/res', f'--fig_dir={tmp_path}')
    assert os.path.getsize(tmp_path / 'alignment_al.png') > 10_000
    assert os.path.getsize(tmp_path / 'verifier_calibration.png') > 10_000
