"""sft.py: response-only loss masking, learning on a tiny task, exact resume after SIGKILL, bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch

from common import load_checkpoint
from conftest import REPO, assert_stops_after_bad_steps, needs_data_dir, run, run_and_kill, small_base, tiny_hf_folder

pytestmark = needs_data_dir()


@pytest.fixture(scope='module')
def base_ckpt(corpus, tmp_path_factory):
    return small_base(corpus, tmp_path_factory, 256)


@pytest.fixture(scope='module')
def arith(tmp_path_factory):
    d = tmp_path_factory.mktemp('arith')
    run('data/arith/prepare.py', f'--out_dir={d}', '--n_train=400', '--n_val=40', '--n_test=40', '--max_steps=1')
    return str(d)


def sft_args(base_ckpt, arith, out, iters=30):
    return [f'--init_from={base_ckpt}', f'--task_dir={arith}', f'--out_dir={out}', f'--max_iters={iters}',
            '--eval_interval=10', '--eval_iters=2', '--n_eval=4', '--max_new_tokens=40', '--batch_size=8',
            '--learning_rate=3e-3', '--warmup_iters=2', '--log_interval=1', '--device=cpu',
            f'--results_dir={out}_results']


def test_loss_mask_covers_the_response_only():
    from tasks import pad_batch
    rows = [([10, 11, 12, 20, 21, 99], 3), ([13, 22, 99], 1)]  # (prompt + response + EOT ids, prompt length)
    x, y = pad_batch(rows)
    assert x.tolist() == [[10, 11, 12, 20, 21], [13, 22, 0, 0, 0]]
    assert y.tolist() == [[-1, -1, 20, 21, 99], [22, 99, -1, -1, -1]]



def test_tool_tokens_carry_no_loss_by_hand():
    """The tool-masked SFT loss, against a hand sum: mean of -log p(token) over the response tokens the model
    writes, leaving out the prompt and the calculator's 'result>>' tokens."""
    import math
    from common import get_tokenizer
    from model import GPT, GPTConfig
    from tasks import encode_response, pad_batch
    enc = get_tokenizer('gpt2_8k')
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=8192)).eval()
    prompt = enc.encode('Question: Ava has 3 apples and buys 4 more.\nAnswer:')
    response, written = encode_response(enc, ' She has 3+4 = <<3+4=7>>7 apples.\n#### 7', tool=True)
    assert enc.decode([response[j] for j in written]) == '7>>'
    ids = prompt + response + [enc.eot_token]
    x, y = pad_batch([(ids, len(prompt), [len(prompt) + j for j in written])])
    with torch.no_grad():
        logits, loss = model(x, y)
        logp = torch.log_softmax(logits[0].double(), -1)
    learned = [t for t in range(len(prompt), len(ids)) if t - len(prompt) not in written]
    assert len(learned) == len(response) + 1 - len(written)
    by_hand = -sum(logp[t - 1, ids[t]].item() for t in learned) / len(learned)  # position t-1 predicts token t
    assert math.isclose(loss.item(), by_hand, rel_tol=1e-5)

def test_sft_learns_and_resumes_exactly(base_ckpt, arith, tmp_path):
    """SIGKILL mid-run, resume: the same losses and the same final weights as the uninterrupted run."""
    ref, cut = str(tmp_path / 'ref'), str(tmp_path / 'cut')
    run('sft.py', *sft_args(base_ckpt, arith, ref))
    log = [json.loads(line) for line in open(os.path.join(ref, 'log.jsonl'))]
    evals = [r for r in log if 'val_loss' in r]
    assert evals[-1]['val_loss'] < evals[0]['val_loss'] - 1.0, evals
    assert os.path.exists(os.path.join(ref, 'samples.jsonl')) and os.path.exists(os.path.join(ref, 'summary.json'))
    row = json.load(open(f'{ref}_results/sft/ref.json'))
    assert row['iters'] == 30 and 0 <= row['val_em'] <= 1 and row['git_commit']
    # SIGKILL after the iteration-10 checkpoint, resume, compare
    run_and_kill('sft.py', sft_args(base_ckpt, arith, cut), cut, past_iter=13)
    run('sft.py', *sft_args(base_ckpt, arith, cut), '--init_from=resume')
    a, b = load_checkpoint(os.path.join(ref, 'ckpt.pt')), load_checkpoint(os.path.join(cut, 'ckpt.pt'))
    assert a['iter_num'] == b['iter_num'] == 30
    for k in a['model']:
        assert torch.equal(a['model'][k], b['model'][k]), k
    losses = lambda d: [(r['iter'], r['loss']) for r in map(json.loads, open(os.path.join(d, 'log.jsonl'))) if 'loss' in r]
    assert losses(ref) == losses(cut)


def test_sft_starts_from_an_hf_llama_folder(arith, tmp_path):
    """init_from a Hugging Face Llama folder (SmolLM2's route): the checkpoint it writes names the folder as its
    tokenizer, and at learning rate 0 its weights give the logits of the HF model itself."""
    from transformers import LlamaForCausalLM
    from common import HFTokenizer, load_for_inference
    folder = tiny_hf_folder(tmp_path / 'llama', 'llama')
    out = str(tmp_path / 'o')
    run('sft.py', *sft_args(folder, arith, out, iters=2), '--learning_rate=0', '--min_lr=0', '--eval_interval=2')
    model, enc, meta = load_for_inference(os.path.join(out, 'best.pt'))
    assert isinstance(enc, HFTokenizer) and meta['config']['tokenizer'] == folder and meta['iter_num'] == 2
    # our run folder holds a config.json too: it is still read as ours (its ckpt.pt), not as an HF folder
    assert load_for_inference(out)[2]['iter_num'] == 2
    hf = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    x = torch.tensor([enc.encode('Question: Ava has 3 apples and buys 4 more.\nAnswer:')])
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], hf(x).logits, atol=1e-5, rtol=1e-5)


def test_sft_bad_input(base_ckpt, tmp_path):
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'train.jsonl').write_text('{"question": "1+1?", "answer": " 2\\n#### 2"}\nnot json\n{"question": ""}\n')
    (bad / 'val.jsonl').write_text('{"question": "2+2?", "answer": "#### 4"}\n')
    p = run('sft.py', f'--init_from={base_ckpt}', f'--task_dir={bad}', f'--out_dir={tmp_path}/o', '--max_iters=1',
            '--eval_iters=1', '--n_eval=1', f'--results_dir={tmp_path}/res', check=False)
    assert p.returncode == 0 and '1 examples (2 malformed rows skipped' in p.stdout, p.stderr
    p = run('sft.py', f'--init_from={base_ckpt}', '--task=poetry', f'--out_dir={tmp_path}/o', check=False)
    assert p.returncode == 1 and "unknown task 'poetry'" in p.stderr


def test_sft_torchrun_two_processes_match_one(base_ckpt, arith, tmp_path):
    """2 gloo ranks splitting the global batch of 8 train like 1 process: same losses, same weights; only
    rank 0 writes."""
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    run('sft.py', *sft_args(base_ckpt, arith, one, iters=6))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'sft.py',
                        *sft_args(base_ckpt, arith, two, iters=6)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    logs = [[json.loads(line) for line in open(os.path.join(d, 'log.jsonl'))] for d in (one, two)]
    l1, l2 = ([(r['iter'], r['loss']) for r in log if 'loss' in r] for log in logs)
    assert [i for i, _ in l1] == [i for i, _ in l2] and len(l1) == 6
    for (_, a), (_, b) in zip(l1, l2):
        assert abs(a - b) < 1e-4, (l1, l2)
    a, b = load_checkpoint(os.path.join(one, 'ckpt.pt')), load_checkpoint(os.path.join(two, 'ckpt.pt'))
    for k in a['model']:
        torch.testing.assert_close(a['model'][k], b['model'][k], atol=1e-5, rtol=1e-4)
    assert p.stdout.count('done: val loss') == 1  # one summary, from rank 0


def test_sft_failing_rank_brings_job_down(base_ckpt, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'sft.py',
                        f'--init_from={base_ckpt}', '--batch_size=3', f'--out_dir={tmp_path}/o'], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and 'must be divisible by the 2 processes' in p.stderr


def test_sft_step_guard(base_ckpt, arith, tmp_path):
    """grad_clip=0 lets the gradient through and non-finite steps stop the run (assert_stops_after_bad_steps)."""
    p = run('sft.py', *sft_args(base_ckpt, arith, str(tmp_path / 'nan'), iters=20), '--learning_rate=1e30',
            '--grad_clip=0', '--weight_decay=0', '--max_bad_steps=2', '--eval_interval=100', check=False)
    assert_stops_after_bad_steps(p)
