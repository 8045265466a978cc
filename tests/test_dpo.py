"""dpo.py: the loss against the formula by hand, gradients into the policy only, learning a preference,
exact resume after SIGKILL, and bad input."""
import json
import math
import os

import pytest
import torch

from common import load_checkpoint
from conftest import assert_stops_after_bad_steps, needs_data_dir, run, run_and_kill, small_base
from dpo import dpo_loss  # dpo.py trains only when run as a script
from model import GPT, GPTConfig, sequence_logps


def test_dpo_loss_matches_the_formula_by_hand():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(6, generator=g) * 5 - 20 for _ in range(4))
    beta = 0.3
    sig = lambda z: 1 / (1 + math.exp(-z))
    for i in range(6):
        h = (pc[i] - rc[i]).item() - (pr[i] - rr[i]).item()
        losses, r_c, r_r = dpo_loss(pc, pr, rc, rr, beta)
        assert losses[i].item() == pytest.approx(-math.log(sig(beta * h)), rel=1e-5)  # DPO eq. 7
        assert r_c[i].item() == pytest.approx(beta * (pc[i] - rc[i]).item(), rel=1e-5)
        assert r_r[i].item() == pytest.approx(beta * (pr[i] - rr[i]).item(), rel=1e-5)
        cdpo = dpo_loss(pc, pr, rc, rr, beta, label_smoothing=0.2)[0]
        assert cdpo[i].item() == pytest.approx(-0.8 * math.log(sig(beta * h)) - 0.2 * math.log(sig(-beta * h)), rel=1e-5)
        ipo = dpo_loss(pc, pr, rc, rr, beta, loss_type='ipo')[0]
        assert ipo[i].item() == pytest.approx((h - 1 / (2 * beta)) ** 2, rel=1e-5)
        n_tokens = torch.arange(1, 7)  # RPO (Pang et al. 2024 eq. 1): DPO + alpha * NLL(chosen) / |chosen|
        rpo = dpo_loss(pc, pr, rc, rr, beta, nll_weight=0.5, chosen_tokens=n_tokens)[0]
        assert rpo[i].item() == pytest.approx(-math.log(sig(beta * h)) - 0.5 * pc[i].item() / (i + 1), rel=1e-5)


def test_sequence_logps_sum_response_tokens_and_grads_reach_only_the_policy():
    torch.manual_seed(0)
    policy = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, vocab_size=50))
    reference = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, vocab_size=50)).requires_grad_(False)
    x = torch.randint(0, 50, (4, 10))
    y = torch.full((4, 10), -1)
    y[:, 5:8] = torch.randint(0, 50, (4, 3))
    y[0, 1:3], y[3, 6:8] = torch.randint(0, 50, (2,)), -1  # ragged: responses of 5, 3, 3 and 1 tokens
    logits, _ = policy(x)  # the head on every position, summed over the response tokens' log-probabilities
    logp = torch.log_softmax(logits, -1).gather(-1, y.clamp(min=0)[..., None])[..., 0]
    by_hand = (logp * (y != -1)).sum(-1)
    assert torch.allclose(sequence_logps(policy, x, y), by_hand, atol=1e-5)
    pi, ref = sequence_logps(policy, x, y), sequence_logps(reference, x, y)
    dpo_loss(pi[:2], pi[2:], ref[:2], ref[2:], 0.1)[0].mean().backward()
    assert all(p.grad is not None for p in policy.parameters())
    assert all(p.grad is None for p in reference.parameters())


@pytest.fixture(scope='module')
def base_ckpt(corpus, tmp_path_factory):
    return small_base(corpus, tmp_path_factory, 128)


@pytest.fixture(scope='module')
def pairs_dir(tmp_path_factory):
    """Prompt 'Pick:', chosen ' yes yes', rejected ' no no' (and a chosen == rejected row to skip)."""
    d = tmp_path_factory.mktemp('pairs')
    rows = [dict(prompt=f'Pick {i}:', chosen=' yes yes', rejected=' no no') for i in range(20)]
    for split in ('train', 'val'):
        with open(d / f'{split}.jsonl', 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in rows + [dict(prompt='x', chosen=' same', rejected='same ')])
    return str(d)


def dpo_args(base_ckpt, pairs_dir, out, iters=24):
    return [f'--init_from={base_ckpt}', f'--pairs={pairs_dir}', f'--out_dir={out}', f'--max_iters={iters}',
            '--eval_interval=8', '--eval_iters=2', '--batch_size=4', '--learning_rate=1e-3', '--warmup_iters=2',
            '--beta=0.5', '--log_interval=1', '--device=cpu', f'--results_dir={out}_results']


@needs_data_dir()
def test_dpo_learns_the_preference_and_resumes_exactly(base_ckpt, pairs_dir, tmp_path):
    ref, cut = str(tmp_path / 'ref'), str(tmp_path / 'cut')
    p = run('dpo.py', *dpo_args(base_ckpt, pairs_dir, ref))
    assert '1 chosen == rejected' in p.stdout
    evals = [json.loads(line) for line in open(os.path.join(ref, 'log.jsonl'))]
    evals = [r for r in evals if r['split'] == 'val']
    assert evals[0]['rewards/margins'] == pytest.approx(0, abs=1e-4)  # policy == reference at the start
    assert evals[-1]['rewards/accuracies'] == 1.0 and evals[-1]['rewards/margins'] > 1.0
    assert evals[-1]['loss'] < evals[0]['loss'] - 0.3
    row = json.load(open(f'{ref}_results/dpo/ref.json'))
    for key in ('val_rewards/chosen', 'val_rewards/rejected', 'val_logps/chosen', 'val_logps/rejected', 'git_commit'):
        assert key in row
    assert row['heldout_pairs'] == 20 and row['heldout_reward_accuracy'] == 1.0  # every held-out pair, once
    # SIGKILL after the iteration-8 checkpoint, resume: same losses, same weights
    run_and_kill('dpo.py', dpo_args(base_ckpt, pairs_dir, cut), cut, past_iter=11)
    run('dpo.py', *dpo_args(base_ckpt, pairs_dir, cut), '--init_from=resume')
    a, b = load_checkpoint(os.path.join(ref, 'ckpt.pt')), load_checkpoint(os.path.join(cut, 'ckpt.pt'))
    assert a['iter_num'] == b['iter_num'] == 24 and b['ref_from'] == base_ckpt
    for k in a['model']:
        assert torch.equal(a['model'][k], b['model'][k]), k
    train = lambda d: [(r['iter'], r['loss']) for r in map(json.loads, open(os.path.join(d, 'log.jsonl')))
                       if r['split'] == 'train']
    assert train(ref) == train(cut)


@needs_data_dir()
def test_beta_zero_trains_on_the_chosen_half_alone_as_the_full_loss_would(base_ckpt, pairs_dir, tmp_path):
    """beta = 0: the training step skips the rejected half and the reference (the preference term has no gradient
    there). Against the full computation at beta = 1e-9 (a preference gradient ~1e-9 of the NLL's): the same
    train losses and weights to rounding, and the evals (which run everything) the same."""
    runs = {}
    for beta in ('0', '1e-9'):
        out = str(tmp_path / f'b{beta}')
        run('dpo.py', *dpo_args(base_ckpt, pairs_dir, out, iters=6), f'--beta={beta}', '--nll_weight=1.0')
        log = [json.loads(line) for line in open(os.path.join(out, 'log.jsonl'))]
        runs[beta] = (log, load_checkpoint(os.path.join(out, 'ckpt.pt'))['model'])
    (log0, w0), (log1, w1) = runs['0'], runs['1e-9']
    train = lambda log: [r['loss'] for r in log if r['split'] == 'train']
    assert len(train(log0)) == 6 and train(log0) == pytest.approx(train(log1), abs=1e-5)
    assert 'rewards/margins' not in [r for r in log0 if r['split'] == 'train'][0]  # not computed in training
    val = lambda log, k: [r[k] for r in log if r['split'] == 'val']
    assert val(log0, 'iter') == val(log1, 'iter') == [0, 6]
    for k in ('rewards/accuracies', 'logps/chosen', 'logps/rejected', 'loss'):
        assert val(log0, k) == pytest.approx(val(log1, k), abs=1e-4), k
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], atol=1e-5, rtol=1e-4)
    p = run('dpo.py', *dpo_args(base_ckpt, pairs_dir, str(tmp_path / 'bad'), iters=1), '--beta=0', check=False)
    assert p.returncode == 1 and 'beta must be > 0, or 0 with nll_weight > 0' in p.stderr


@needs_data_dir()
def test_dpo_bad_input(base_ckpt, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'train.jsonl').write_text('{"prompt": "a", "chosen": "b", "rejected": "b"}\n{"prompt": "a"}\n')
    (empty / 'val.jsonl').write_text('')
    p = run('dpo.py', f'--init_from={base_ckpt}', f'--pairs={empty}', f'--out_dir={tmp_path}/o', check=False)
    assert p.returncode == 1 and 'no usable train pairs' in p.stderr and '1 malformed or empty rows' in p.stdout
    p = run('dpo.py', f'--init_from={base_ckpt}', f'--pairs={tmp_path}/nowhere', f'--out_dir={tmp_path}/o', check=False)
    assert p.returncode == 1 and 'train.jsonl is missing' in p.stderr
    p = run('dpo.py', f'--init_from={base_ckpt}', '--loss_type=kto', check=False)
    assert p.returncode == 1 and 'loss_type' in p.stderr
    p = run('dpo.py', f'--init_from={base_ckpt}', f'--pairs={tmp_path}/nowhere.json', f'--out_dir={tmp_path}/o', check=False)
    assert p.returncode == 1 and 'nowhere.json is missing' in p.stderr
    p = run('dpo.py', f'--init_from={base_ckpt}', '--own_steps=2', f'--out_dir={tmp_path}/o', check=False)
    assert p.returncode == 1 and 'step_pairs=True' in p.stderr


@needs_data_dir()
def test_dpo_step_guard(base_ckpt, pairs_dir, tmp_path):
    """grad_clip=0 lets the gradient through and non-finite steps stop the run (assert_stops_after_bad_steps)."""
    p = run('dpo.py', *dpo_args(base_ckpt, pairs_dir, str(tmp_path / 'nan'), iters=20), '--learning_rate=1e30',
            '--grad_clip=0', '--weight_decay=0', '--max_bad_steps=2', '--eval_interval=100', check=False)
    assert_stops_after_bad_steps(p)


def test_pair_up_puts_the_greedy_solution_on_one_side():
    import random
    from dpo import pair_up
    group = [dict(text=t, correct=c) for t, c in [('a', True), ('a', True), ('b', True), ('x', False), ('y', False)]]
    every = pair_up(group, 10, random.Random(0))
    assert sorted(every) == [('a', 'x'), ('a', 'y'), ('b', 'x'), ('b', 'y')]  # duplicates dropped
    assert len(pair_up(group, 3, random.Random(0))) == 3
    assert sorted(pair_up(group, 10, random.Random(0), greedy=('g', True))) == [('g', 'x'), ('g', 'y')]
    assert sorted(pair_up(group, 10, random.Random(0), greedy=('g', False))) == [('a', 'g'), ('b', 'g')]
    assert pair_up([dict(text='a', correct=True)], 4, random.Random(0), greedy=('g', True)) == []


@needs_data_dir()
def test_on_policy_step_pairs_run(base_ckpt, tmp_path):
    """--step_pairs=True: on-policy pairs of one step each (the untrained model's answers are all wrong, so every
    problem gives its greedy answer's first step against the reference's first step), trained and scored."""
    run('data/arith/prepare.py', f'--out_dir={tmp_path}/arith', '--n_train=12', '--n_val=4', '--n_test=2',
        '--n_heldout=0', '--max_steps=2')
    out = tmp_path / 'step'
    run('dpo.py', f'--init_from={base_ckpt}', f'--task_dir={tmp_path}/arith', '--tool=True', '--step_pairs=True',
        '--n_prompts=8', '--n_samples=2', '--max_new_tokens=24', '--val_fraction=0.25', '--batch_size=2',
        '--max_iters=4', '--eval_interval=2', '--eval_iters=1', '--n_eval=4', '--device=cpu', f'--out_dir={out}',
        f'--results_dir={tmp_path}/res')
    saved = json.load(open(out / 'pairs.json'))
    refs = {json.loads(line)['answer'].split('\n')[0] for line in open(tmp_path / 'arith' / 'train.jsonl')}
    rows = saved['train'] + saved['val']
    assert len({r['problem'] for r in rows}) == 8  # every problem: its greedy answer is wrong
    for r in rows:  # the untrained model leaves the path in its first line: no shared steps, the reference's first line
        assert r['shared'] == '' and r['chosen'][1:-1] in refs and r['chosen'].endswith('\n')
    row = json.load(open(tmp_path / 'res' / 'dpo' / 'step.json'))
    assert row['heldout_pairs'] == row['pair_stats']['val_pairs'] == len(saved['val']) > 0 and 'val_em' in row


def test_own_chosen_steps_keep_the_first_sample_on_the_path(monkeypatch):
    """Lai et al.'s chosen step: the first of the model's own draws after the shared steps whose numbers stay on the
    reference's path; a step that goes on keeps its newline, a last line none; pairs with no such draw are dropped."""
    import dpo
    from common import get_tokenizer
    ref = ' Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.\n#### 29'
    rows = [dict(problem=0, prompt='Q:', shared=' Ava starts with 32 shells.\n', chosen='x\n', rejected='y\n'),
            dict(problem=0, prompt='Q:', shared='', chosen=' x\n', rejected=' y\n'),
            dict(problem=0, prompt='Q:', shared=' Ava starts with 32 shells.\nThen Ava has 32-3 = <<32-3=29>>29 shells left.\n',
                 chosen='#### 29', rejected='#### 28')]
    draws = [[('Then Ava has 32-5 = <<32-5=27>>27 shells left.\nAft', 20),   # misread: off the path
              ('Then Ava has 32-3 = <<32-3=29>>29 shells.\n', 18),            # other words, right numbers
              ('Then Ava has 32-3 = <<32-3=29>>29 shells left.\n', 19)],
             [(' Ava starts with 23 shells.\n', 8), (' Ava starts with 32 shells', 48)],  # cut at 48: not a step
             [('#### 29', 3), ('#### 28', 3)]]
    seen = {}

    def fake_generate(model, enc, prompts, n, *args, **kw):
        seen.update(prompts=prompts, n=n, stop_text=kw['stop_text'])
        return draws

    monkeypatch.setattr(dpo, 'generate_batch', fake_generate)
    enc = get_tokenizer('gpt2_8k')
    out = dpo.own_chosen_steps(torch.nn.Linear(1, 1), enc, rows, [ref], 3, 0.8, None, 0, tool=True)
    assert [r['chosen'] for r in out] == ['Then Ava has 32-3 = <<32-3=29>>29 shells.\n', '#### 29']
    assert [r['rejected'] for r in out] == ['y\n', '#### 28']  # the rejected step stays the wrong answer's
    assert seen['n'] == 3 and seen['stop_text'] == '\n'
    assert seen['prompts'][0] == enc.encode('Q:') + enc.encode(' Ava starts with 32 shells.\n')  # shared steps follow
