"""GSM8K normalisation / EM and the calculator, including hostile input refused quickly."""
import time

import pytest

from conftest import needs_data_dir
from engine import calculator_tool, generate_batch, split_prefix, stop_at_text
from metrics import auroc, classification_metrics, ece, pass_at_k, rouge, wilson_ci
from tasks import (CalcError, calculate, check_annotations, exact_match, extract_answer, normalize_number,
                   sst2_categories, sst2_report)


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


def test_pass_at_k_against_enumeration():
    import itertools
    for n, c, k in [(5, 2, 1), (5, 2, 3), (6, 0, 2), (6, 6, 4), (8, 3, 5)]:
        draws = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(d) for d in draws) / len(draws))


def test_auroc_and_ece_by_hand():
    scores, labels = [0.9, 0.8, 0.7, 0.7, 0.2], [1, 0, 1, 0, 0]
    pairs = [(p, q) for p, y in zip(scores, labels) if y for q, z in zip(scores, labels) if not z]
    assert auroc(scores, labels) == pytest.approx(sum((p > q) + 0.5 * (p == q) for p, q in pairs) / len(pairs))
    assert auroc([0.1, 0.2], [1, 1]) is None
    # two bins: [0.9, 0.9] with 1 of 2 correct, [0.1] wrong -> (2/3)*|0.5-0.9| + (1/3)*|0-0.1|
    err, rows = ece([0.9, 0.9, 0.1], [1, 0, 0])
    assert err == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.1) and [r['n'] for r in rows] == [1, 2]


def test_classification_metrics_by_hand():
    # labels 1 1 1 0 0, predicted 1 0 1 1 0: class 1 tp 2 fp 1 fn 1 -> P = R = F1 = 2/3; class 0 tp 1 fp 1 fn 1 -> 1/2
    m = classification_metrics([1, 0, 1, 1, 0], [1, 1, 1, 0, 0])
    assert m['accuracy'] == pytest.approx(3 / 5) and m['accuracy_ci95'] == wilson_ci(3, 5)
    assert m['per_class'][1] == pytest.approx(dict(precision=2 / 3, recall=2 / 3, f1=2 / 3))
    assert m['per_class'][0]['f1'] == pytest.approx(1 / 2) and m['macro_f1'] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert classification_metrics([1, 1], [1, 1])['per_class'][0] == dict(precision=0.0, recall=0.0, f1=0.0)


def test_rouge_by_hand_with_stemming():
    # unigrams: 5 of 6 shared both ways -> R1 = 5/6; bigrams: the cat, on the, the mat of 5 -> R2 = 3/5;
    # longest common subsequence "the cat on the mat" -> RL = 5/6
    r = rouge(['the cat sat on the mat'], ['the cat is on the mat'])
    assert r['rouge1'] == pytest.approx(500 / 6) and r['rouge2'] == pytest.approx(60) and r['rougeL'] == pytest.approx(500 / 6)
    assert rouge(['Cats running.'], ['cat runs'])['rouge1'] == pytest.approx(100)  # Porter stemming on
    # Lsum: union LCS over sentences, so the order of the sentences does not matter; plain L does
    two = rouge(['He left. She stayed.'], ['She stayed. He left.'])
    assert two['rougeLsum'] == pytest.approx(100) and two['rougeL'] < 100
    from rouge_score import rouge_scorer  # the library, called directly, on a real-looking pair
    pred, ref = 'Amanda will bring cookies tomorrow.', 'Amanda baked cookies and will bring Jerry some tomorrow.'
    want = rouge_scorer.RougeScorer(['rouge1', 'rouge2'], use_stemmer=True).score(ref, pred)
    got = rouge([pred], [ref])
    assert got['rouge1'] == pytest.approx(100 * want['rouge1'].fmeasure) and got['rouge2'] == pytest.approx(100 * want['rouge2'].fmeasure)
    # per item: the means are the items' average, and samsum_report's bootstrap CI brackets the mean
    means, items = rouge(['the cat sat on the mat', pred], ['the cat is on the mat', ref], per_item=True)
    assert items['rouge1'] == pytest.approx([500 / 6, 100 * want['rouge1'].fmeasure]) and means['rouge1'] == pytest.approx(sum(items['rouge1']) / 2)
    from tasks import samsum_report
    rows = [dict(dialogue='d', summary=r) for r in ['the cat is on the mat', ref]]
    metrics, _ = samsum_report(rows, ['the cat sat on the mat', pred])
    lo, hi = metrics['rouge1_ci95']
    assert lo == pytest.approx(min(items['rouge1'])) and hi == pytest.approx(max(items['rouge1']))  # 2 items: the extremes
    assert metrics['item_scores']['rouge1'] == [round(x, 2) for x in items['rouge1']]


def test_sst2_tags_and_report():
    assert sst2_categories("it is not a bad film , but it drags", 0.3) == ['negation', 'contrast']
    assert sst2_categories("not bad at all", 0.2, label=1) == ['negation', 'sentiment_flip']
    assert sst2_categories("a great cast wasted on a boring , dull script", 0.9, label=0) == ['other']
    assert 'sentiment_flip' in sst2_categories("the best worst movie , and great fun", 0.1, label=0)
    assert sst2_categories("a lovely film", 0.55) == ['ambiguous'] and sst2_categories("a lovely film", 0.9) == ['other']
    assert 'long' in sst2_categories(' '.join(['word'] * 26), 0.9)
    rows = [dict(sentence='great', label=1), dict(sentence="isn't great", label=0), dict(sentence='dull', label=0)]
    metrics, wrong = sst2_report(rows, [0.9, 0.8, 0.2])
    assert metrics['accuracy'] == pytest.approx(2 / 3)
    assert metrics['errors_by_category'] == {'negation': 1, 'sentiment_flip': 1}  # "great" in a negative sentence
    assert metrics['accuracy_by_category'] == {'other': dict(n=2, accuracy=1.0), 'negation': dict(n=1, accuracy=0.0),
                                               'sentiment_flip': dict(n=1, accuracy=0.0)}
    assert wrong == [dict(input="isn't great", label=0, predicted=1, p_positive=0.8,
                          categories=['negation', 'sentiment_flip'])]


class FakeEnc:
    """Characters as tokens: enough to drive the calculator hook without a BPE."""
    eot_token = 0

    def encode(self, text):
        return [ord(ch) for ch in text]

    def decode(self, ids):
        return ''.join(chr(i) for i in ids)


def test_calculator_tool_writes_results_into_the_stream():
    import torch
    enc = FakeEnc()
    force, calls = calculator_tool(enc, 2)
    wrong = '<<12*3=99>>'  # what the "model" would write: row 0 with a slip, row 1 not arithmetic
    rows = ['<<12*3=', '<<ab=cd>>']
    out = [[], []]
    for t in range(len(wrong)):
        nxt = torch.tensor([ord(wrong[t]) if t < len(wrong) else 0, ord(rows[1][t]) if t < len(rows[1]) else 0])
        got = force(nxt)
        out[0].append(chr(int(got[0])))
        out[1].append(chr(int(got[1])))
    assert ''.join(out[0]).startswith('<<12*3=36>>') and calls[0] == 1
    assert ''.join(out[1]).startswith('<<ab=cd>>')



@needs_data_dir()  # the GPT-2 BPE files
def test_tool_and_stop_hooks_equal_decoding_every_row_every_step():
    """calculator_tool and stop_at_text decode a row's tail only at a token that can complete a match; on random
    streams of arithmetic pieces they write exactly what decoding every row at every step (the plain way) writes."""
    import random
    import re
    import torch
    from common import get_tokenizer
    from tasks import CalcError, calculate
    enc = get_tokenizer('gpt2_8k')

    def plain(streams):  # the reference: the calculator, then the stop at a blank line, decoding every row every step
        texts, tails, queue, ended, out = [''] * len(streams), [''] * len(streams), [[] for _ in streams], \
            [False] * len(streams), [[] for _ in streams]
        for t in range(len(streams[0])):
            for b, s in enumerate(streams):
                tok = queue[b].pop(0) if queue[b] else s[t]
                texts[b] = (texts[b] + enc.decode([tok]))[-256:]
                m = None if queue[b] else re.search(r'<<([^<>=]{1,200})=$', texts[b])
                if m:
                    try:
                        queue[b] = enc.encode(f"{calculate(m.group(1))}>>")
                    except CalcError:
                        pass
                if ended[b]:
                    tok = enc.eot_token
                else:
                    tails[b] = (tails[b] + enc.decode([tok]))[-2 * 2 - 16:]
                    ended[b] = '\n\n' in tails[b]
                out[b].append(tok)
        return out

    pieces = [enc.encode(p) for p in ['<<', '12', '*', '3', '=', '>>', ' 7', '-', '+', 'x', ' =', '\n', '\n\n', ' coins',
                                      '<<4/0=', '<<12*3=', '(2+', '5)=']]
    rng = random.Random(0)
    streams = []
    for _ in range(16):
        s = []
        while len(s) < 120:
            s += rng.choice(pieces)
        streams.append(s[:120])
    force = stop_at_text(enc, '\n\n', len(streams), calculator_tool(enc, len(streams))[0])
    cols = [force(torch.tensor([s[t] for s in streams])).tolist() for t in range(120)]
    assert [list(r) for r in zip(*cols)] == plain(streams)


@needs_data_dir()  # the GPT-2 BPE files
def test_tool_encoding_is_the_token_stream_generation_makes():
    """Training sees exactly the tokens generation produces: a "model" that writes the non-tool tokens of
    encode_response's ids, run through calculator_tool, yields the same ids, tool tokens included. GSM8K's
    rounded claims become the calculator's result; a non-arithmetic annotation stays the model's."""
    import torch
    from common import get_tokenizer
    from tasks import encode_response
    enc = get_tokenizer('gpt2_8k')
    text = (' Ava has 12*3 = <<12*3=36>>36 coins.\nThen 36-5 = <<36-5=31>>31 left.\nShe pays <<10/3=3.33>>3.33 each'
            ' and <<ab=cd>>cd.\n#### 31')
    ids, written = encode_response(enc, text, tool=True)
    assert enc.decode(ids) == text.replace('<<10/3=3.33>>', '<<10/3=3.333333>>')
    force, calls = calculator_tool(enc, 1)
    out = [int(force(torch.tensor([ids[t] if t not in written else 0]))[0]) for t in range(len(ids))]
    assert out == ids and calls[0] == 3
    assert encode_response(enc, text) == (enc.encode(text), [])


@needs_data_dir()  # the GPT-2 BPE files
def test_ragged_batches_decode_what_each_prompt_decodes_alone():
    """generate_batch packs prompts of different lengths into one left-padded batch: every prompt's greedy
    completion equals its own batch-of-one decode, in the caller's order, and seeded sampling repeats."""
    import torch
    from common import get_tokenizer
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    enc = get_tokenizer('gpt2_8k')
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=8192)).eval()
    prompts = ['Question: 2+2\nAnswer:', 'Question: Ava has 3 apples and buys 4 more. How many?\nAnswer:', 'Hi',
               'Question: 12 coins, 5 spent\nAnswer:']
    batched = generate_batch(model, enc, prompts, max_new_tokens=12)
    assert batched == [generate_batch(model, enc, [p], max_new_tokens=12)[0] for p in prompts]
    shots = enc.encode('Question: 1+1\nAnswer: 2\n\n')  # a shared prefix, prefilled once: the same completions
    assert generate_batch(model, enc, prompts, max_new_tokens=12, prefix=shots) == \
        generate_batch(model, enc, [shots + enc.encode(p) for p in prompts], max_new_tokens=12)
    cuts = generate_batch(model, enc, prompts, max_new_tokens=12, stop_text='::')  # a row ends once it writes '::'
    assert sum('::' in full for [(full, _)] in batched) == 3  # (this random model repeats a one-character token)
    for [(full, _)], [(cut, _)] in zip(batched, cuts):
        assert cut == (full[:full.index('::') + 2] if '::' in full else full)
    draw = lambda: generate_batch(model, enc, prompts, n=3, temperature=1.0, max_new_tokens=12,
                                  generator=torch.Generator().manual_seed(5))
    assert draw() == draw()
    # a prompt too long for max_new_tokens more (40 + 30 > 64) decodes 64 - 30 = 34 tokens; it must not cut the
    # others short (a batch's budget is set by its longest prompt, so they do not share one)
    long = enc.decode(list(range(1000, 1030)))
    assert len(enc.encode(long)) == 30
    batched = generate_batch(model, enc, prompts + [long], max_new_tokens=40)
    assert batched == [generate_batch(model, enc, [p], max_new_tokens=40)[0] for p in prompts + [long]]
    assert [tokens for [(_, tokens)] in batched] == [41, 41, 41, 41, 35]  # (no row wrote <|endoftext|>)


@needs_data_dir()  # the GPT-2 BPE files
def test_few_shot_prefix_is_what_every_whole_prompt_starts_with():
    """split_prefix (tts.py and finetune.py few-shot): the exemplars' '\n\n' is one token at the end of the
    exemplars alone but two before 'Question', so the shared prefix stops short of it and every prompt's tokens
    are still exactly its whole text's."""
    from common import get_tokenizer
    enc = get_tokenizer('gpt2')
    shots = 'Question: 1+1\nAnswer: 2\n\n'
    whole = [enc.encode(shots + q) for q in ('Question: 2+2\nAnswer:', 'Question: 7 apples\nAnswer:')]
    head, rest = split_prefix(whole, enc.encode(shots))
    assert enc.encode(shots)[-1] == enc.encode('\n\n')[0] and rest[0][:2] == enc.encode('\n') * 2
    assert [head + r for r in rest] == whole and len(head) == len(enc.encode(shots)) - 1
    assert split_prefix(whole, []) == ([], whole)  # no exemplars: nothing shared


@needs_data_dir()  # the GPT-2 BPE files
def test_n_samples_of_one_prompt_greedy_and_sampled():
    import torch
    from common import get_tokenizer
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    enc = get_tokenizer('gpt2_8k')
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=8192)).eval()
    greedy, = generate_batch(model, enc, ['Question: 2+2\nAnswer:'], n=3, temperature=0, max_new_tokens=10)
    assert len({t for t, _ in greedy}) == 1 and all(k <= 11 for _, k in greedy)
    sampled, = generate_batch(model, enc, ['Question: 2+2\nAnswer:'], n=4, temperature=1.0, max_new_tokens=10,
                              generator=torch.Generator().manual_seed(0))
    assert len({t for t, _ in sampled}) > 1


@needs_data_dir()  # the GPT-2 BPE files
def test_generate_batch_equals_one_by_one():
    import torch
    from common import get_tokenizer
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    enc = get_tokenizer('gpt2_8k')
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=8192)).eval()
    prompts = ['Question: 2+2\nAnswer:', 'Question: 3+5\nAnswer:', 'Question: 10 times 7\nAnswer:', 'x' * 300]
    got = generate_batch(model, enc, prompts, max_new_tokens=12)
    assert got[3] is None  # longer than the context
    for p, g in zip(prompts[:3], got):  # greedy: batching changes nothing
        assert g == generate_batch(model, enc, [p], max_new_tokens=12)[0]
    sampled = generate_batch(model, enc, prompts[:3], n=4, temperature=1.0, max_new_tokens=12,
                             generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in sampled] == [4, 4, 4] and len({t for s in sampled for t, _ in s}) > 3


def test_within_group_auroc():
    from metrics import within_group_auroc
    # pooled, the scores separate easy (group a) from hard (group b); within each group they are useless
    scores = [0.9, 0.9, 0.1, 0.1]
    labels = [1, 0, 1, 0]
    assert within_group_auroc(scores, labels, ['a', 'a', 'b', 'b']) == (0.5, 2)
    assert within_group_auroc([0.8, 0.2, 0.3], [1, 0, 1], ['a', 'a', 'c']) == (1.0, 1)  # 'c' has one class


def test_categorize_first_cause():
    from tasks import categorize
    q = 'Olga has 39 marbles. Olga buys 24 more marbles. How many marbles does Olga have now?'
    ref = '#### 63'
    assert categorize('39+24 = <<39+24=63>>63\n#### 63', ref, q) == 'correct'
    assert categorize('39+24 = <<39+24=62>>63\n#### 63', ref, q) == 'right_by_accident'
    assert categorize('39+24 = <<39+24=63>>63', ref, q) == 'format_failure'
    assert categorize('39+9 = <<39+9=48>>48\n#### 48', ref, q) == 'misread_operand'  # 9 is not in the question
    assert categorize('39+24 = <<39+24=62>>62\n#### 62', ref, q) == 'arithmetic_slip'
    assert categorize('39-24 = <<39-24=15>>15\n#### 15', ref, q) == 'wrong_plan'
    assert categorize('39+9 = <<39+9=48>>48\n#### 48', ref) == 'wrong_plan'  # without the question: no operand check


def test_first_departure_by_hand():
    from tasks import first_departure
    ref = 'Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.\n#### 29'
    assert first_departure(ref, ref) is None
    assert first_departure(ref.replace('Then', 'After that,'), ref) is None  # other words, the same numbers
    misread = 'Ava starts with 32 shells.\nThen Ava has 32-5 = <<32-5=27>>27 shells left.\n#### 27'
    assert misread[first_departure(misread, ref):].startswith('5 = <<32-5')  # at the misread operand
    start = 'Ava starts with 23 shells.\n#### 23'
    assert first_departure(start, ref) == start.index('23')
    short = 'Ava starts with 32 shells.\n#### 32'  # skips the step: the answer line where the step should be
    assert short[first_departure(short, ref):] == '#### 32'
    early = 'Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.'
    assert first_departure(early, ref) == len(early)  # stops before the answer line
    extra = ref + '\n#### 30'
    assert first_departure(extra, ref) == len(ref) + 1  # a line the reference does not have
    assert first_departure('Then 1,200 - 3 = 1,197\n#### 1197', 'Then 1,200 - 3 = 1,197\n#### 1197') is None


def test_step_pair_by_hand():
    """Step-DPO pairs: the shared lines, the reference's step and the wrong step, each keeping its newline when more
    lines follow; and encode_pair scores only the step (the shared lines join the prompt, EOT only after a last line)."""
    from common import get_tokenizer
    from tasks import encode_pair, encode_response, step_pair
    ref = 'Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.\n#### 29'
    assert step_pair(ref, ref) is None and step_pair('', ref) is None
    misread = ' Ava starts with 32 shells.\nThen Ava has 32-5 = <<32-5=27>>27 shells left.\n#### 27'
    assert step_pair(misread, ref) == ('Ava starts with 32 shells.\n', 'Then Ava has 32-3 = <<32-3=29>>29 shells left.\n',
                                       'Then Ava has 32-5 = <<32-5=27>>27 shells left.\n')
    assert step_pair('Ava starts with 23 shells.\n#### 23', ref) == ('', 'Ava starts with 32 shells.\n',
                                                                      'Ava starts with 23 shells.\n')
    assert step_pair('Ava starts with 32 shells.\n#### 32', ref) == (  # the answer where a step should be: then EOT
        'Ava starts with 32 shells.\n', 'Then Ava has 32-3 = <<32-3=29>>29 shells left.\n', '#### 32')
    assert step_pair(ref.replace('#### 29', '#### 28'), ref)[1:] == ('#### 29', '#### 28')
    early = 'Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.'  # stops: EOT against going on
    step = 'Then Ava has 32-3 = <<32-3=29>>29 shells left.'
    assert step_pair(early, ref) == ('Ava starts with 32 shells.\n', step + '\n', step)
    assert step_pair(ref + '\n#### 30', ref) is None  # past the reference's last line: no step of its own there
    enc = get_tokenizer('gpt2_8k')
    shared, chosen, rejected = step_pair(misread, ref)
    (p, (c, c_skip), (r, r_skip)), why = encode_pair(enc, 'Question: q\nAnswer:', chosen, rejected, 256, True, ' ' + shared)
    assert why == ''
    assert p == enc.encode('Question: q\nAnswer:') + enc.encode(' ' + shared)  # no tool call in the shared line
    full, written = encode_response(enc, ' ' + shared + chosen, True)
    n = len(enc.encode(' ' + shared))
    assert c == full[n:] and enc.decode(c) == chosen and c[-1] != enc.eot_token  # one step, no EOT after it
    assert c_skip == [j - n for j in written] and enc.decode([c[j] for j in c_skip]) == '29>>'  # the tool's tokens
    assert enc.decode([r[j] for j in r_skip]) == '27>>'
    (_, (c2, _), (r2, r2_skip)), _ = encode_pair(enc, 'Q', chosen, rejected, 256, True, ' ' + shared, cut_rejected=True)
    assert c2 == c and r2_skip == [] and enc.decode(r2).endswith('32-5') and r2[:-1] == c[:len(r2) - 1] != r2  # to '5'
    (_, (c, _), (r, _)), _ = encode_pair(enc, 'Q', *step_pair(early, ref)[1:], 256, True, ' ' + step_pair(early, ref)[0])
    assert c[:-1] == r[:-1] and c[-1] == enc.encode('\n')[0] and r[-1] == enc.eot_token  # the same line, then go on / stop
    (_, (c, _), (r, _)), _ = encode_pair(enc, 'Q', '#### 29', '#### 28', 256, True, ' ' + shared + step + '\n')
    assert c[-1] == r[-1] == enc.eot_token and enc.decode(c[:-1]) == '#### 29'  # answer lines: EOT on both sides
    assert encode_pair(enc, 'Q', ' a\n', ' a', 256, shared='')[1] == ''  # a step that goes on vs one that stops: a pair
    assert encode_pair(enc, 'Q', ' same', 'same ', 256)[1] == 'same'  # whole responses compare stripped
    (_, (c, _), _), _ = encode_pair(enc, 'Q', ' a\n', ' b\n', 256)
    assert c[-1] == enc.eot_token  # and always end at EOT


def test_vote_by_hand():
    from metrics import vote
    answers = ['3', '5', None, '5', '3', '7']
    assert vote(answers, [1] * 6) == 0                         # '3' and '5' tie at 2 votes: the first seen wins
    assert vote(answers, [0.1, 0.2, 0.9, 0.3, 0.1, 0.6]) == 5  # by score: '7' 0.6 > '5' 0.5 > '3' 0.2; None votes not
    assert vote([None, None], [1, 1]) == 0


def test_mcnemar_exact_by_hand():
    """The exact binomial form by hand: 1 item only a gets right, 9 only b: p = 2 (C(10,0) + C(10,1)) / 2^10."""
    from metrics import mcnemar_exact, paired_test
    a = [1] * 1 + [0] * 9 + [1] * 20 + [0] * 70   # 1 a-only, 9 b-only, 20 both right, 70 both wrong
    b = [0] * 1 + [1] * 9 + [1] * 20 + [0] * 70
    assert mcnemar_exact(a, b) == dict(a_only=1, b_only=9, p=2 * 11 / 1024)
    assert mcnemar_exact(b, a)['p'] == 2 * 11 / 1024  # symmetric
    assert mcnemar_exact([1, 0], [1, 0])['p'] == 1.0  # no discordant pair: no evidence
    assert mcnemar_exact([0] * 5, [1] * 5)['p'] == 2 / 32  # 5 of 5 discordant one way: p = 2 * (1/2)^5
    row = paired_test(a, b)
    assert row['test'] == 'mcnemar_exact' and row['p'] == 2 * 11 / 1024 and row['delta'] == pytest.approx(0.08)
    assert row['a_ci95'] == wilson_ci(21, 100) and row['b_ci95'] == wilson_ci(29, 100)
    lo, hi = row['delta_ci95']
    assert 0 < lo < 0.08 < hi < 0.2


def test_paired_bootstrap_resolves_what_unpaired_cis_cannot():
    """Items of very different difficulty, b better by a constant 0.02 on each: the two systems' CIs overlap,
    the paired test still finds the difference; a null difference gets a large p. Deterministic by seed."""
    import random
    from metrics import paired_test
    rng = random.Random(0)
    a = [rng.random() for _ in range(300)]
    b = [x + 0.02 + rng.gauss(0, 0.01) for x in a]
    row = paired_test(a, b)
    assert row['test'] == 'paired_bootstrap' and row['p'] == 2 / 10_001  # no resample crosses 0: add-one, not 0
    assert row['a_ci95'][1] > row['b_ci95'][0]  # unpaired, the CIs overlap
    assert 0.015 < row['delta_ci95'][0] < 0.02 < row['delta_ci95'][1] < 0.025
    null = paired_test(a, [x + rng.gauss(0, 0.01) for x in a])
    assert null['p'] > 0.05 and null['delta_ci95'][0] < 0 < null['delta_ci95'][1]
    assert paired_test(a, b) == row
    with pytest.raises(ValueError):
        paired_test([1, 0], [1])
    assert paired_test([0, 0, 0], [0, 0, 1], binary=False)['test'] == 'paired_bootstrap'  # ROUGE that happens to be 0/1


def test_paired_t_textbook():
    """Student's sleep data (Cushny & Peebles 1905, R's `t.test(extra ~ group, sleep, paired = TRUE)`): mean
    difference -1.58, 95% CI -2.4599 to -0.7001, p = 0.002833; and t(0.975) for 2 and 10 degrees of freedom."""
    from metrics import paired_t, t_cdf
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    row = paired_t(g2, g1)
    assert row['delta'] == pytest.approx(-1.58) and row['p'] == pytest.approx(0.002833, abs=1e-6)
    assert row['delta_ci95'] == pytest.approx((-2.4598858, -0.7001142), abs=1e-6)
    assert t_cdf(4.303, 2) == pytest.approx(0.975, abs=1e-4) and t_cdf(2.228, 10) == pytest.approx(0.975, abs=1e-4)
    assert t_cdf(-1.0, 3) == pytest.approx(1 - t_cdf(1.0, 3))
    with pytest.raises(ValueError):
        paired_t([1.0], [2.0])
