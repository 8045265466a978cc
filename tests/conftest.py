"""Shared fixtures: a synthetic token corpus, a tiny trained checkpoint, and a helper to run the scripts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny test models gain nothing from threads, and CI's 2 cores may be shared

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# the model every script-level test trains: small enough for a few seconds on 2 cores
TINY = ['--n_layer=2', '--n_head=4', '--n_kv_head=2', '--n_embd=32', '--block_size=32', '--batch_size=4',
        '--eval_iters=2', '--log_interval=1', '--warmup_iters=2', '--learning_rate=1e-2', '--device=cpu']


def run(script, *args, env=None, check=True, timeout=300):
    """Run a repo script as `python script args` with 1 thread per process (deterministic, and fair to the 2
    cores): in a child of the warm interpreter (tests/forkserver.py: the imports are paid once per worker), or in
    a plain subprocess when the test sets more than DATA_DIR in the environment or TEST_FORK=0."""
    base = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    argv, e = [os.path.join(REPO, script), *map(str, args)], dict(base, **(env or {}))
    if os.environ.get('TEST_FORK', '1') == '0' or set(env or {}) - {'DATA_DIR'}:
        p = subprocess.run([sys.executable, *argv], cwd=REPO, env=e, capture_output=True, text=True, timeout=timeout)
    else:
        p = forked_run(argv, e, base, timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{script} {args} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


_server = []  # this worker's forkserver process, started at its first run()


def forked_run(argv, env, server_env, timeout):
    """`python *argv` as a child of tests/forkserver.py: a subprocess.CompletedProcess, or TimeoutExpired
    (the child killed) as subprocess.run gives."""
    import tempfile
    if not _server or _server[0].poll() is not None:
        _server[:] = [subprocess.Popen([sys.executable, os.path.join(REPO, 'tests', 'forkserver.py')], cwd=REPO,
                                       env=server_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)]
    server = _server[0]
    with tempfile.TemporaryDirectory() as d:
        out, err = os.path.join(d, 'out'), os.path.join(d, 'err')
        server.stdin.write(json.dumps(dict(argv=argv, env=env, cwd=REPO, out=out, err=err, timeout=timeout)) + '\n')
        server.stdin.flush()
        line = server.stdout.readline()
        if not line:  # the server died (an import failed?): its traceback is on this worker's stderr
            raise RuntimeError(f"tests/forkserver.py exited ({server.wait()}); TEST_FORK=0 runs without it")
        reply = json.loads(line)
        code, timed_out = reply['code'], reply['timed_out']
        text = [open(f, encoding='utf-8', errors='replace').read() for f in (out, err)]
    if timed_out:
        raise subprocess.TimeoutExpired([sys.executable, *argv], timeout, *text)
    return subprocess.CompletedProcess([sys.executable, *argv], code, *text)


def make_corpus(path, vocab=8192, n_train=60_000, n_val=6_000, seed=0):
    """Token stream of 40 fixed 'sentences' in random order: learnable structure, no tokenizer needed."""
    rng = np.random.default_rng(seed)
    sentences = rng.integers(0, vocab - 1, size=(40, 12))
    os.makedirs(path, exist_ok=True)
    meta = dict(tokenizer='gpt2_8k', vocab_size=vocab, eot_token=vocab - 1, dtype='uint16', source='synthetic', splits={})
    for split, n in (('train', n_train), ('val', n_val), ('test', n_val)):
        toks = sentences[rng.integers(0, 40, size=n // 12 + 1)].reshape(-1)[:n].astype(np.uint16)
        toks.tofile(os.path.join(path, f'{split}.bin'))
        meta['splits'][split] = dict(tokens=n, bytes=4 * n, words=n)
    with open(os.path.join(path, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    return path


@pytest.fixture(scope='session')
def corpus(tmp_path_factory):
    return make_corpus(str(tmp_path_factory.mktemp('corpus')))


@pytest.fixture(scope='session')
def tiny_ckpt(corpus, tmp_path_factory):
    """A tiny model trained for 30 steps: out_dir with ckpt.pt, best.pt, log.jsonl, summary.json."""
    out = str(tmp_path_factory.mktemp('tiny_run'))
    run('train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=30', '--eval_interval=10', *TINY)
    return out


def run_and_kill(script, args, out_dir, past_iter, timeout=120, sig=None, returncodes=None):
    """Start a script, send it `sig` (default SIGKILL) once its log.jsonl has a row past `past_iter` (between
    checkpoints), and return the last iteration it logged: the first half of every kill-and-resume test.
    The exit code is appended to `returncodes` when given."""
    import signal
    import time
    p = subprocess.Popen([sys.executable, script, *args], cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path, deadline = os.path.join(out_dir, 'log.jsonl'), time.time() + timeout
    logged = lambda: [json.loads(line)['iter'] for line in open(path)] if os.path.exists(path) else []
    while time.time() < deadline and max(logged() or [0]) < past_iter:
        time.sleep(0.02)
    p.send_signal(sig or signal.SIGKILL)
    p.wait(timeout=timeout)
    if returncodes is not None:
        returncodes.append(p.returncode)
    return max(logged() or [0])


def small_base(corpus, tmp_path_factory, block_size):
    """A 2-layer model trained for 4 steps with the given context: the start checkpoint of stage tests."""
    out = str(tmp_path_factory.mktemp(f'base{block_size}'))
    run('train.py', f'--dataset={corpus}', f'--out_dir={out}', '--max_iters=4', '--eval_interval=4', '--n_layer=2',
        '--n_head=4', '--n_embd=64', f'--block_size={block_size}', '--batch_size=2', '--eval_iters=1', '--device=cpu')
    return f'{out}/ckpt.pt'


def tiny_hf_folder(path, arch):
    """A tiny randomly initialised HF model ('gpt2', 'llama' or 't5') with the GPT-2 BPE tokenizer from
    $DATA_DIR/gpt2_bpe, saved as a folder: the offline stand-in for hub models in the tests."""
    from transformers import (GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, LlamaConfig, LlamaForCausalLM,
                              T5Config, T5ForConditionalGeneration)
    bpe = os.path.join(os.environ['DATA_DIR'], 'gpt2_bpe')
    merges = [tuple(line.split()) for line in open(os.path.join(bpe, 'vocab.bpe'), encoding='utf-8').read().splitlines()[1:]
              if line.strip()]
    tok = GPT2TokenizerFast(vocab=json.load(open(os.path.join(bpe, 'encoder.json'))), merges=merges,
                            eos_token='<|endoftext|>', bos_token='<|endoftext|>', unk_token='<|endoftext|>')
    assert tok.vocab_size == 50257 and tok(' positive')['input_ids'] == [3967]
    eos = tok.eos_token_id
    if arch == 'gpt2':
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=512))
    elif arch == 'llama':
        model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                             hidden_size=16, intermediate_size=32, vocab_size=tok.vocab_size,
                                             bos_token_id=eos, eos_token_id=eos, max_position_embeddings=512))
    else:
        model = T5ForConditionalGeneration(T5Config(num_layers=1, num_decoder_layers=1, num_heads=2, d_model=16, d_kv=8,
                                                    d_ff=32, vocab_size=tok.vocab_size, pad_token_id=eos,
                                                    eos_token_id=eos, decoder_start_token_id=eos))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def needs_data_dir():
    return pytest.mark.skipif(not os.environ.get('DATA_DIR'), reason='needs DATA_DIR (../shared/data) for GPT-2 BPE files')


def assert_stops_after_bad_steps(p, n=2):
    """The shared step guard, checked on one run of a stage started with grad_clip=0, weight_decay=0 and lr=1e30:
    the first step must reach the weights (a clip to norm 0 used to zero every gradient, and with no weight decay
    nothing would then move), the moved weights go to inf, and n non-finite steps in a row end the run with one line."""
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    assert f'{n} non-finite steps in a row' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert 'step skipped (1 in a row)' in p.stdout
