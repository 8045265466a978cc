"""verifier.py: learns a separable signal, score() API (single and batched agree), bad input."""
import json
import os

import pytest

from conftest import assert_stops_after_bad_steps, needs_data_dir, run, small_base

pytestmark = needs_data_dir()


@pytest.fixture(scope='module')
def base_ckpt(corpus, tmp_path_factory):
    return small_base(corpus, tmp_path_factory, 128)


def sample_file(path):
    """Correct solutions say 'carefully', wrong ones 'quickly': a signal a tiny verifier can learn."""
    data = {}
    for split, n in (('train', 40), ('val', 12)):
        rows = []
        for i in range(n):
            q = f'Ava has {i} apples and buys 2 more. How many apples does Ava have?'
            for ok in (True, False):
                word, ans = ('carefully', i + 2) if ok else ('quickly', i + 3)
                rows.append(dict(problem=i, prompt=f'Question: {q}\nAnswer:', reference=f'#### {i + 2}',
                                 text=f'Ava counts {word}: {i}+2 = {ans}.\n#### {ans}', correct=ok))
        data[split] = rows
    path.write_text(json.dumps(data))
    return str(path)


def test_verifier_learns_and_scores(base_ckpt, tmp_path):
    out = str(tmp_path / 'v')
    samples = sample_file(tmp_path / 'data.json')
    run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', f'--out_dir={out}', '--max_iters=60',
        '--eval_interval=20', '--batch_size=8', '--learning_rate=3e-3', '--warmup_iters=2', '--device=cpu',
        f'--results_dir={out}_results')
    row = json.load(open(f'{out}_results/verifier/v.json'))
    assert row['val_auroc'] > 0.9 and row['val_rerank_top1'] > row['val_random_pick']
    assert 0 <= row['val_ece'] <= 1 and row['val_oracle'] == 1.0 and row['git_commit']
    from verifier import score
    q = 'Ava has 5 apples and buys 2 more. How many apples does Ava have?'
    good, bad = 'Ava counts carefully: 5+2 = 7.\n#### 7', 'Ava counts quickly: 5+2 = 8.\n#### 8'
    s_good, s_bad = score(q, good, ckpt=f'{out}/best.pt'), score(q, bad, ckpt=f'{out}/best.pt')
    assert 0 < s_bad < s_good < 1
    assert score([q, q], [good, bad], ckpt=f'{out}/best.pt') == pytest.approx([s_good, s_bad], abs=1e-5)


def test_verifier_bad_input(base_ckpt, tmp_path):
    from common import UserError
    from verifier import score
    with pytest.raises(UserError, match='no verifier at'):
        score('q', 'a', ckpt=str(tmp_path / 'none.pt'))
    with pytest.raises(UserError, match='not a verifier checkpoint'):
        score('q', 'a', ckpt=base_ckpt)
    one_class = tmp_path / 'one.json'
    one_class.write_text(json.dumps({s: [dict(problem=0, prompt='Question: q\nAnswer:', reference='#### 1',
                                              text='#### 2', correct=False)] for s in ('train', 'val')}))
    p = run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={one_class}', f'--out_dir={tmp_path}/o',
            '--device=cpu', check=False)
    assert p.returncode == 1 and 'only wrong samples' in p.stderr
    assert os.path.exists(f'{tmp_path}/o/data.json')


def test_verifier_step_guard(base_ckpt, tmp_path):
    """grad_clip=0 lets the gradient through and non-finite steps stop the run (assert_stops_after_bad_steps)."""
    samples = sample_file(tmp_path / 'data.json')
    p = run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', '--batch_size=8',
            '--warmup_iters=0', '--device=cpu', f'--results_dir={tmp_path}/results', f'--out_dir={tmp_path}/nan',
            '--max_iters=20', '--eval_interval=100', '--grad_clip=0', '--weight_decay=0', '--learning_rate=1e30',
            '--max_bad_steps=2', check=False)
    assert_stops_after_bad_steps(p)


def test_mixed_problems_keeps_problems_with_both_kinds():
    from verifier import mixed_problems
    samples = [dict(problem=p, correct=c, text=t) for p, c, t in
               [(0, True, 'a'), (0, False, 'b'), (1, True, 'c'), (1, True, 'd'), (2, False, 'e'), (0, True, 'f')]]
    assert [s['text'] for s in mixed_problems(samples)] == ['a', 'b', 'f']


def test_pairs_and_ranking_loss_by_hand():
    """draw_pairs lays out (right, wrong) of one problem; ranking_loss is -log sigmoid(s_right - s_wrong) averaged."""
    import math

    import torch
    from verifier import draw_pairs, mixed_groups, ranking_loss
    samples = [dict(problem=p, correct=c) for p, c in
               [(0, True), (0, False), (1, True), (1, True), (2, False), (0, True), (3, False), (3, True)]]
    groups = mixed_groups(samples, range(len(samples)))
    assert sorted(groups) == [([0, 5], [1]), ([7], [6])]
    idx = draw_pairs(groups, 50, torch.Generator().manual_seed(0))
    assert len(idx) == 100 and {(idx[i], idx[i + 1]) for i in range(0, 100, 2)} == {(0, 1), (5, 1), (7, 6)}
    d1, d2 = 2.0, -1.0  # s_right - s_wrong of two pairs
    by_hand = (-math.log(1 / (1 + math.exp(-d1))) - math.log(1 / (1 + math.exp(-d2)))) / 2
    assert ranking_loss(torch.tensor([2.5, 0.5, 0.0, 1.0])).item() == pytest.approx(by_hand, abs=1e-6)


def test_samples_from_gets_this_runs_filters(base_ckpt, tmp_path):
    """--mixed_only and --balance apply to another run's samples (--samples_from) as to new ones: the run's
    data.json keeps only the problems with both kinds, balanced (they were once silently skipped)."""
    data = json.loads(open(sample_file(tmp_path / 'data.json')).read())
    data['train'] += [dict(problem=100 + i, prompt='Question: q\nAnswer:', reference='#### 1', text=f'#### {i}',
                           correct=i == 1) for i in range(3)]  # three one-sample problems
    (tmp_path / 'more.json').write_text(json.dumps(data))
    run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={tmp_path}/more.json', '--mixed_only=True',
        f'--out_dir={tmp_path}/m', '--max_iters=2', '--eval_interval=100', '--batch_size=8', '--device=cpu',
        f'--results_dir={tmp_path}/results')
    kept = json.load(open(f'{tmp_path}/m/data.json'))['train']
    assert {s['problem'] for s in kept} == set(range(40))
    assert sum(s['correct'] for s in kept) == len(kept) // 2 == 40


def test_step_labels_turn_wrong_where_the_solution_leaves_the_reference():
    """right_tokens counts the response tokens before the first departure: the tokens of ' ' + the text up to
    there, the same tokens the whole response starts with."""
    from common import get_tokenizer
    from verifier import right_tokens
    enc = get_tokenizer('gpt2')
    ref = 'Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.\n#### 29'
    wrong = 'Ava starts with 32 shells.\nThen Ava has 32-5 = <<32-5=27>>27 shells left.\n#### 27'
    k = right_tokens(enc, wrong, ref)
    ids = enc.encode(' ' + wrong)
    assert enc.decode(ids[:k]) == ' Ava starts with 32 shells.\nThen Ava has 32-' and enc.decode(ids[k:k + 1]) == '5'
    assert right_tokens(enc, ref, ref) == 0  # no departure: the outcome label everywhere


def test_step_labels_train(base_ckpt, tmp_path):
    """--step_labels=True trains on the samples (their references are in the file) and still learns the signal."""
    samples = sample_file(tmp_path / 'data.json')
    out = str(tmp_path / 's')
    run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', f'--out_dir={out}', '--max_iters=60',
        '--eval_interval=20', '--batch_size=8', '--learning_rate=3e-3', '--warmup_iters=2', '--device=cpu',
        '--step_labels=True', f'--results_dir={out}_results')
    row = json.load(open(f'{out}_results/verifier/s.json'))
    assert row['config']['step_labels'] is True and row['val_auroc'] > 0.9
    p = run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', f'--out_dir={out}_f',
            '--step_labels=True', '--token_level=False', '--device=cpu', check=False)
    assert p.returncode == 1 and 'needs token_level=True' in p.stderr
    # with the ranking term: every batch is (right, wrong) pairs of one problem, and it still learns
    run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', f'--out_dir={out}_p', '--max_iters=60',
        '--eval_interval=20', '--batch_size=8', '--learning_rate=3e-3', '--warmup_iters=2', '--device=cpu',
        '--step_labels=True', '--pair_loss=1.0', f'--results_dir={out}_results')
    row = json.load(open(f'{out}_results/verifier/s_p.json'))
    assert row['config']['pair_loss'] == 1.0 and row['val_auroc'] > 0.9 and row['val_within_problem_auroc'] > 0.9
    p = run('verifier.py', f'--generator={base_ckpt}', f'--samples_from={samples}', f'--out_dir={out}_o',
            '--pair_loss=1.0', '--batch_size=7', '--device=cpu', check=False)
    assert p.returncode == 1 and 'even batch_size' in p.stderr
