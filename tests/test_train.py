"""train.py end to end: learning, exact resume after SIGKILL, DDP equivalence, NaN handling, bad input."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO, TINY, make_corpus, run, run_and_kill
from common import UserError, load_checkpoint


def losses(out_dir, key='loss'):
    with open(os.path.join(out_dir, 'log.jsonl')) as f:
        return {r['iter']: r[key] for r in map(json.loads, f) if key in r}


def test_loss_goes_down_and_files_written(tiny_ckpt):
    val = losses(tiny_ckpt, 'val_loss')
    assert val[30] < val[0] - 1.0, val
    for f in ('ckpt.pt', 'best.pt', 'config.json', 'summary.json', 'log.jsonl'):
        assert os.path.exists(os.path.join(tiny_ckpt, f)), f
    ckpt = load_checkpoint(os.path.join(tiny_ckpt, 'ckpt.pt'))
    assert ckpt['iter_num'] == 30 and ckpt['config']['max_iters'] == 30 and 'optimizer' in ckpt
    summary = json.load(open(os.path.join(tiny_ckpt, 'summary.json')))
    assert summary['tokens'] == 30 * 4 * 32 and summary['git_commit'] and summary['hardware']['cpu_count']


def test_resume_after_sigkill_or_sigterm_is_exact(corpus, tmp_path):
    """Kill a run mid-training and resume it: losses and final weights equal the uninterrupted run. SIGKILL loses
    the steps since the last checkpoint; SIGTERM saves a resumable checkpoint at the step it arrives and exits with
    the shell's code for that signal (Ctrl-C, SIGINT, takes the same path: test_second_run_into_a_live_out_dir)."""
    import signal
    common = [f'--dataset={corpus}', '--max_iters=24', '--eval_interval=4', '--dropout=0.1', *TINY]
    ref = str(tmp_path / 'ref')
    run('train.py', f'--out_dir={ref}', *common)
    for sig in (signal.SIGKILL, signal.SIGTERM):
        cut, codes = str(tmp_path / sig.name), []
        run_and_kill('train.py', [f'--out_dir={cut}', *common], cut, past_iter=10, sig=sig, returncodes=codes)
        killed_at = max(losses(cut))
        assert 10 <= killed_at < 24, killed_at
        if sig != signal.SIGKILL:  # saved at once: the checkpoint is the step after the last one logged
            assert codes == [128 + sig] and load_checkpoint(os.path.join(cut, 'ckpt.pt'))['iter_num'] == killed_at + 1
            assert not os.path.exists(os.path.join(cut, 'summary.json'))  # an interrupted run is not a finished one
        run('train.py', f'--out_dir={cut}', '--init_from=resume', *common)
        assert losses(cut) == losses(ref), sig
        assert losses(cut, 'val_loss') == losses(ref, 'val_loss'), sig
        a, b = load_checkpoint(os.path.join(ref, 'ckpt.pt')), load_checkpoint(os.path.join(cut, 'ckpt.pt'))
        for k in a['model']:
            assert torch.equal(a['model'][k], b['model'][k]), (sig, k)


def test_second_run_into_a_live_out_dir_is_refused(corpus, tmp_path):
    """Two runs writing one out_dir would interleave checkpoints and logs: the second stops with one line. Then
    Ctrl-C (SIGINT) stops the first: it saves a resumable checkpoint and exits 130, and the folder is free again."""
    import signal
    import time
    out = str(tmp_path / 'live')
    first = subprocess.Popen([sys.executable, 'train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=100000',
                              '--eval_interval=100000', *TINY], cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60  # a logged step: past the SIGINT handler's installation
        while not (os.path.exists(os.path.join(out, 'log.jsonl')) and losses(out)) and time.time() < deadline:
            time.sleep(0.05)
        config = open(os.path.join(out, 'config.json')).read()
        p = run('train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=2', *TINY, check=False)
        assert p.returncode == 1 and f'out_dir={out} is in use by a running process (pid {first.pid})' in p.stderr
        assert 'Traceback' not in p.stderr and p.stdout == ''  # refused before printing or writing anything
        assert open(os.path.join(out, 'config.json')).read() == config
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 130
        ckpt = load_checkpoint(os.path.join(out, 'ckpt.pt'))
        assert ckpt['iter_num'] == max(losses(out)) + 1 and 'optimizer' in ckpt
    finally:
        first.kill()
        first.wait()
    run('train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=2', *TINY)  # a dead run holds nothing


def test_full_disk_mid_save_keeps_previous_checkpoint(tiny_ckpt, tmp_path, monkeypatch):
    """ENOSPC in the middle of torch.save: one clear error, the old ckpt.pt intact, no temp file left behind."""
    import errno
    import common
    path = str(tmp_path / 'ckpt.pt')
    shutil.copy(os.path.join(tiny_ckpt, 'ckpt.pt'), path)
    before = open(path, 'rb').read()
    ckpt = load_checkpoint(path)
    model = common.model_from_checkpoint(ckpt)

    def full_disk(obj, f):
        f.write(b'PK' + b'x' * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(UserError, match=r'could not write .*ckpt.pt: No space left on device \(disk full\?\); the previous ckpt.pt is intact'):
        common.save_checkpoint(path, model, ckpt['model_args'], ckpt['config'])
    assert open(path, 'rb').read() == before and not os.path.exists(path + '.tmp')


def test_plan_epochs_warning_and_second_eval_set(corpus, tmp_path):
    """train.py states tokens, tokens/parameter and epochs at start, warns past 4 epochs, and scores eval_dataset's
    val split beside the training data's own."""
    small = make_corpus(str(tmp_path / 'small'), n_train=5_000)
    base = [f'--out_dir={tmp_path}/o', '--eval_only=True', *TINY]
    p = run('train.py', f'--dataset={corpus}', '--max_iters=100', f'--eval_dataset={small}', *base)
    assert 'plan: 100 iters x 128 tokens = 12,800 tokens' in p.stdout and '0.21 epochs of' in p.stdout
    assert 'WARNING' not in p.stdout and f'{small} val bpb' in p.stdout
    rows = losses(f'{tmp_path}/o', 'eval_val_bpb')
    assert set(rows) == {0} and 0 < rows[0] < 20
    p = run('train.py', f'--dataset={small}', '--max_iters=1000', *base)
    assert 'WARNING: 26 epochs of' in p.stdout and 'python data/fineweb_edu/prepare.py' in p.stdout
    other = make_corpus(str(tmp_path / 'c4k'), vocab=4096)
    meta = json.load(open(os.path.join(other, 'meta.json')))
    json.dump(dict(meta, tokenizer='gpt2'), open(os.path.join(other, 'meta.json'), 'w'))
    p = run('train.py', f'--dataset={corpus}', f'--eval_dataset={other}', *base, check=False)
    assert p.returncode == 1 and 'uses tokenizer gpt2, the training data gpt2_8k' in p.stderr


def test_torchrun_two_processes_match_one(corpus, tmp_path):
    """2 gloo ranks x 1 micro-step see the same global batch as 1 process x 2 micro-steps."""
    common = [f'--dataset={corpus}', '--max_iters=6', '--eval_interval=3', *TINY]
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    run('train.py', f'--out_dir={one}', '--gradient_accumulation_steps=2', *common)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                        'train.py', f'--out_dir={two}', '--gradient_accumulation_steps=1', *common],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-6000:]
    v1, v2 = losses(one, 'val_loss'), losses(two, 'val_loss')
    assert v1.keys() == v2.keys()
    for k in v1:
        assert abs(v1[k] - v2[k]) < 1e-4, (k, v1[k], v2[k])
    a, b = load_checkpoint(os.path.join(one, 'ckpt.pt')), load_checkpoint(os.path.join(two, 'ckpt.pt'))
    for k in a['model']:
        torch.testing.assert_close(a['model'][k], b['model'][k], atol=1e-5, rtol=1e-4)


def test_failing_rank_brings_job_down(corpus, tmp_path):
    """A rank that dies (here: rank 1 gets an unknown dataset) ends the whole job with an error, not a hang."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train.py',
           f'--dataset={tmp_path}/missing', f'--out_dir={tmp_path}/o', '--max_iters=2', *TINY]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and 'train.bin is missing' in p.stderr


def test_nan_steps_are_skipped_then_stop(corpus, tmp_path):
    out = str(tmp_path / 'nan')
    p = run('train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=40', '--eval_interval=1',
            '--learning_rate=1e30', '--max_bad_steps=3', '--warmup_iters=0', *TINY[:-3], check=False)
    assert p.returncode == 1
    assert 'non-finite steps in a row' in p.stderr and 'Traceback' not in p.stderr
    assert 'step skipped' in p.stdout
    if os.path.exists(os.path.join(out, 'ckpt.pt')):  # whatever was saved is finite
        ckpt = load_checkpoint(os.path.join(out, 'ckpt.pt'))
        assert all(torch.isfinite(v).all() for v in ckpt['model'].values())


def test_kill_during_save_keeps_previous_checkpoint(tiny_ckpt, tmp_path):
    """A process killed in the middle of torch.save leaves the old ckpt.pt intact and loadable."""
    path = str(tmp_path / 'ckpt.pt')
    shutil.copy(os.path.join(tiny_ckpt, 'ckpt.pt'), path)
    before = open(path, 'rb').read()
    code = f"""
import os, sys, torch
sys.path.insert(0, {REPO!r})
import common
from common import load_checkpoint, model_from_checkpoint, save_checkpoint
ckpt = load_checkpoint({path!r})
model = model_from_checkpoint(ckpt)
def dying_save(obj, f):
    f.write(b'PK' + os.urandom(1000)); f.flush()
    os.kill(os.getpid(), 9)
torch.save = dying_save
save_checkpoint({path!r}, model, ckpt['model_args'], ckpt['config'])
"""
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -9
    assert open(path, 'rb').read() == before and os.path.exists(path + '.tmp')
    load_checkpoint(path)


@pytest.mark.parametrize('args, message', [
    (['--batch_sise=2'], "unknown config key 'batch_sise'; did you mean batch_size"),
    (['--max_iters=ten'], "config key 'max_iters' expects int"),
    (['--dataset=/nonexistent/wt'], "train.bin is missing or empty; prepare it with: python data/wt/prepare.py"),
    (['--dataset=/nonexistent/wt_8k'], "prepare.py --tokenizer=gpt2_8k"),
    (['--n_kv_head=3'], 'n_head=4 must be divisible by n_kv_head=3'),
    (['--device=cuda'], "device='cuda' asked for but CUDA is not available"),
    (['--out_dir=/dev/null/run'], 'cannot write to out_dir=/dev/null/run'),
    (['config/does_not_exist.py'], "config file 'config/does_not_exist.py' does not exist"),
])
def test_bad_input_is_one_clear_line(corpus, args, message):
    if torch.cuda.is_available() and args == ['--device=cuda']:
        pytest.skip('CUDA is present')
    base = [f'--dataset={corpus}', '--max_iters=1', '--out_dir=/tmp/unused_run', *TINY[:-1]]
    p = run('train.py', *base, *args, check=False)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_bad_checkpoints(tiny_ckpt, tmp_path, corpus):
    good = open(os.path.join(tiny_ckpt, 'ckpt.pt'), 'rb').read()
    (tmp_path / 'trunc.pt').write_bytes(good[:len(good) // 2])
    (tmp_path / 'text.pt').write_text('hello')
    torch.save({'weights': torch.zeros(2)}, tmp_path / 'other.pt')
    ckpt = torch.load(os.path.join(tiny_ckpt, 'ckpt.pt'), weights_only=True)
    torch.save(dict(ckpt, format_version=99), tmp_path / 'newer.pt')
    torch.save(dict(ckpt, model_args=dict(ckpt['model_args'], n_layer=3)), tmp_path / 'arch.pt')
    cases = {'missing.pt': 'no checkpoint at', 'trunc.pt': 'not a readable checkpoint', 'text.pt': 'not a readable checkpoint',
             'other.pt': 'not a modern-llm checkpoint', 'newer.pt': 'newer than this code',
             'arch.pt': 'do not match its architecture'}
    for name, msg in cases.items():
        with pytest.raises(UserError, match=msg):
            from common import model_from_checkpoint
            model_from_checkpoint(load_checkpoint(str(tmp_path / name)))
    # the same through a script: one line, and the good run folder untouched
    p = run('train.py', f'--dataset={corpus}', f'--init_from={tmp_path}/trunc.pt', f'--out_dir={tmp_path}/x', *TINY,
            check=False)
    assert p.returncode == 1 and 'not a readable checkpoint' in p.stderr and 'Traceback' not in p.stderr


def test_vocab_and_tokenizer_mismatch_refused(tiny_ckpt, tmp_path):
    other = make_corpus(str(tmp_path / 'c4k'), vocab=4096)
    p = run('train.py', f'--dataset={other}', f'--init_from={tiny_ckpt}/ckpt.pt', f'--out_dir={tmp_path}/o', *TINY,
            check=False)
    assert p.returncode == 1 and 'vocab 8192' in p.stderr
    meta = json.load(open(os.path.join(other, 'meta.json')))
    json.dump(dict(meta, tokenizer='gpt2'), open(os.path.join(other, 'meta.json'), 'w'))
    p = run('train.py', f'--dataset={other}', f'--init_from={tiny_ckpt}/ckpt.pt', f'--out_dir={tmp_path}/o', *TINY,
            check=False)
    assert p.returncode == 1 and 'checkpoint tokenizer gpt2_8k != dataset tokenizer gpt2' in p.stderr


def test_batch_too_large_gives_a_hint(corpus, tmp_path):
    # the first activation (400,000 x 32 x 1024 floats, 52 GB) is already more than the machine has
    p = run('train.py', f'--dataset={corpus}', f'--out_dir={tmp_path}/oom', '--max_iters=1', '--eval_iters=1',
            *TINY[:5], '--n_layer=1', '--n_embd=1024', '--batch_size=400000', check=False)
    assert p.returncode == 1 and 'out of memory at batch_size=400000' in p.stderr and 'Traceback' not in p.stderr


def test_train_max_config_starts(corpus, tmp_path):
    """The 3060 config parses, prints its memory plan and takes 2 steps (scaled down in width only for CPU time)."""
    p = run('train.py', 'config/train_max.py', f'--dataset={corpus}', f'--eval_dataset={corpus}',
            f'--out_dir={tmp_path}/max', '--max_iters=2',
            '--n_layer=2', '--n_embd=64', '--block_size=64', '--batch_size=2', '--gradient_accumulation_steps=2',
            '--compile=False', '--eval_iters=1', '--device=cpu')
    assert 'memory plan (GB)' in p.stdout and 'done: best val loss' in p.stdout


def test_out_dir_too_small_for_a_checkpoint(tmp_path):
    from common import check_writable
    with pytest.raises(UserError, match='a checkpoint needs'):
        check_writable(str(tmp_path / 'run'), need_bytes=10**18)
    check_writable(str(tmp_path / 'run'), need_bytes=1)


def test_optimizer_step_clips_skips_and_stops():
    """The step guard every loop shares, by hand: grad_clip=0 leaves the gradient alone, grad_clip>0 scales it to
    that norm, a non-finite loss skips the step, and max_bad_steps of those in a row stop with one line."""
    from common import optimizer_step
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = torch.optim.SGD([w], lr=1.0)
    bad = dict(row=0, total=0)
    w.grad = torch.tensor([3.0, 4.0])  # norm 5
    assert optimizer_step(opt, [w], torch.tensor(1.0), 0, bad, 3, 0, 'hint').item() == pytest.approx(5.0)
    assert w.tolist() == [0.0, 0.0] and w.grad is None  # the full gradient was applied, then zeroed
    w.grad = torch.tensor([3.0, 4.0])
    optimizer_step(opt, [w], torch.tensor(1.0), 1.0, bad, 3, 1, 'hint')
    assert w.tolist() == pytest.approx([-0.6, -0.8])  # clipped to norm 1
    for i in range(2):
        w.grad = torch.tensor([1.0, 1.0])
        optimizer_step(opt, [w], torch.tensor(float('nan')), 1.0, bad, 3, 2 + i, 'hint')
    assert w.tolist() == pytest.approx([-0.6, -0.8]) and bad == dict(row=2, total=2)  # both skipped
    w.grad = torch.tensor([0.0, 1.0])
    optimizer_step(opt, [w], torch.tensor(1.0), 1.0, bad, 3, 4, 'hint')
    assert bad == dict(row=0, total=2)  # a good step resets the run of bad ones
    with pytest.raises(UserError, match='3 non-finite steps in a row at iter 7; stopping. lower it'):
        for i in range(3):
            w.grad = torch.tensor([float('inf'), 0.0])
            optimizer_step(opt, [w], torch.tensor(1.0), 0, bad, 3, 5 + i, 'lower it')


def test_wandb_log_switch(corpus, tmp_path):
    """wandb_log=True sends every log row to a wandb run (a stand-in package here: the real one is optional and
    its offline mode writes files only); without the package it is one line naming the install."""
    fake = tmp_path / 'fake'
    fake.mkdir()
    (fake / 'wandb.py').write_text(
        "import json, os\n"
        "class Run:\n"
        "    def log(self, row, step): open(os.environ['WANDB_FAKE'], 'a').write(json.dumps([step, row]) + '\\n')\n"
        "    def finish(self): open(os.environ['WANDB_FAKE'], 'a').write('finish\\n')\n"
        "def init(project, name, config):\n"
        "    open(os.environ['WANDB_FAKE'], 'a').write(json.dumps([project, name, config['max_iters']]) + '\\n')\n"
        "    return Run()\n")
    calls = tmp_path / 'calls.txt'
    env = {'PYTHONPATH': str(fake), 'WANDB_FAKE': str(calls)}
    run('train.py', f'--dataset={corpus}', f'--out_dir={tmp_path}/w', '--max_iters=4', '--eval_interval=2',
        '--wandb_log=True', '--wandb_run_name=t', *TINY, env=env)
    lines = calls.read_text().splitlines()
    assert json.loads(lines[0]) == ['modern-llm', 't', 4] and lines[-1] == 'finish'
    rows = [json.loads(x) for x in lines[1:-1]]
    assert [s for s, _ in rows] == [r['iter'] for r in map(json.loads, open(f'{tmp_path}/w/log.jsonl'))]
    assert any('val_loss' in r for _, r in rows) and any('loss' in r for _, r in rows)
    p = run('train.py', f'--dataset={corpus}', f'--out_dir={tmp_path}/x', '--max_iters=1', '--wandb_log=True', *TINY,
            check=False)
    assert p.returncode == 1 and 'wandb_log=True needs the wandb package: pip install wandb' in p.stderr
