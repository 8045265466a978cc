"""GSM8K normalisation / EM and the calculator, including hostile input refused quickly."""
import time

import pytest

from tasks import CalcError, calculate, check_annotations, exact_match, extract_answer, normalize_number, wilson_ci


@pytest.mark.parametrize('text, want', [('1,234', '1234'), ('$5.00', '5'), ('18.', '18'), ('-3', '-3'), ('7.50', '7.5'),
                                        ('The answer is 42 apples', '42'), ('none', None), ('0.0', '0')])
def test_normalize(text, want):
    assert normalize_number(text) == want


def test_extract_and_exact_match():
    ref = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nTotal 48+24 = <<48+24=72>>72.\n#### 72"
    assert extract_answer(ref) == '72'
    assert exact_match("... so 72 in all\n#### 72.0", ref)
    assert exact_match("#### $72", ref) and exact_match("72", ref)
    assert not exact_match("#### 71", ref) and not exact_match("#### ", ref)
    assert extract_answer("no final line") is None


@pytest.mark.parametrize('expr, want', [('48/2', 24), ('2+3*4', 14), ('(2+3)*4', 20), ('7//2', 3), ('7%3', 1),
                                        ('2**10', 1024), ('-3+5', 2), ('1,000*3', 3000), ('3 × 4', 12),
                                        ('10 ÷ 4', 2.5), ('1/3', 0.333333), ('$5*2', 10)])
def test_calculator(expr, want):
    assert calculate(expr) == want


@pytest.mark.parametrize('expr, reason', [
    ("__import__('os').system('echo hi')", 'not arithmetic'),
    ('9**9**9**9', 'power too large'),
    ('2**1000', 'power too large'),
    ('10**15*1000', 'beyond'),
    ('(' * 100_000 + '1' + ')' * 100_000, 'longer than'),
    ('1+' * 500_000 + '1', 'longer than'),
    ('(((((((((((((((((((((((1)))))))))))))))))))))))', None),
    ('-' * 30 + '1', 'nested deeper'),
    ('1/0', 'division by zero'),
    ('x.y', 'not an arithmetic expression'),
    ('[1,2]', 'not arithmetic'),
    ('"a"*3', 'not arithmetic'),
    ('True+1', 'not arithmetic'),
    ('(-8)**0.5', 'complex'),
    ('', 'empty'),
])
def test_calculator_refuses_hostile_input_quickly(expr, reason):
    t0 = time.perf_counter()
    if reason is None:  # parentheses alone are fine
        assert calculate(expr) == 1
    else:
        with pytest.raises(CalcError, match=reason):
            calculate(expr)
    assert time.perf_counter() - t0 < 0.1


def test_calculator_refuses_a_megabyte_quickly():
    t0 = time.perf_counter()
    with pytest.raises(CalcError, match='longer than'):
        calculate('9' * 1_000_000)
    assert time.perf_counter() - t0 < 0.1


def test_check_annotations():
    checked, wrong, examples = check_annotations("a <<3*4=12>> b <<10-3=6>> c <<oops=1>>")
    assert (checked, wrong) == (2, 1) and examples == ['10-3=6 (is 7)']


def test_arith_prepare_is_deterministic_correct_and_disjoint(tmp_path):
    import json
    from conftest import run
    for d in ('a', 'b'):
        run('data/arith/prepare.py', f'--out_dir={tmp_path / d}', '--n_train=300', '--n_val=50', '--n_test=1000',
            '--distractors=2')
    rows = {}
    for split in ('train', 'val', 'test'):
        text = (tmp_path / 'a' / f'{split}.jsonl').read_text()
        assert text == (tmp_path / 'b' / f'{split}.jsonl').read_text()  # same seed, same problems
        rows[split] = [json.loads(line) for line in text.splitlines()]
    assert len(rows['test']) == 1000
    questions = [{r['question'] for r in rows[s]} for s in rows]
    assert not (questions[0] & questions[1] or questions[0] & questions[2] or questions[1] & questions[2])
    for r in rows['test']:
        checked, wrong, _ = check_annotations(r['answer'])
        assert 1 <= checked <= 4 and wrong == 0
        assert extract_answer(r['answer']) == r['answer'].rsplit('<<', 1)[1].split('=')[1].split('>>')[0]


def test_wilson_ci_by_hand():
    # 8/10: p = .8, z = 1.96 -> centre (0.8 + 0.19208) / 1.38416 = 0.71681,
    # half 1.96 * sqrt(0.016 + 0.009604) / 1.38416 = 0.22658 -> (0.4902, 0.9434)
    lo, hi = wilson_ci(8, 10)
    assert abs(lo - 0.4902) < 1e-3 and abs(hi - 0.9434) < 1e-3
    assert wilson_ci(0, 0) == (0.0, 1.0) and wilson_ci(0, 50)[0] == 0.0
