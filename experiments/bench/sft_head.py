"""An SFT step with the LM head on every position (sft.py before 2026-12-05) against the head on the response
positions only (GPT.forward(select=...), sft.py now): the speedrun's tiny shape (config/train_tiny.py) on batches
of 16 arithmetic SFT examples with the calculator, forward + backward + AdamW, one step of each per round in a
shuffled order, paired by round (metrics.paired_speed_ratio). Both models start from the same weights and see the
same batches, so their first losses must agree. Writes experiments/bench/sft_head.json.
    python data/arith/prepare.py && python experiments/bench/sft_head.py [rounds]
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import random
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import get_tokenizer, measure_matmul_peak, provenance, write_json  # noqa: E402
from metrics import paired_speed_ratio  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from tasks import encode_example, load_task, pad_batch  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
batch_size = 16  # config/sft_arith.py
enc = get_tokenizer('gpt2_8k')
pairs, _ = load_task('arith', 'train')
examples = [encode_example(enc, prompt, response, True) for prompt, response, _ in pairs[:4000]]

torch.manual_seed(0)
cfg = GPTConfig(n_layer=4, n_head=4, n_embd=192, block_size=256, vocab_size=8192)  # config/train_tiny.py
models = {'head_everywhere': GPT(cfg), 'head_on_responses': GPT(cfg)}
models['head_on_responses'].load_state_dict(models['head_everywhere'].state_dict())
opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}


def step(kind, x, y, keep):
    """Seconds of one SFT step (the summed response-token loss, as sft.py) and its loss."""
    t0 = time.perf_counter()
    if kind == 'head_everywhere':
        logits = models[kind](x)[0]  # (B, L, V)
        loss = F.cross_entropy(logits.float().view(-1, cfg.vocab_size), y.view(-1), ignore_index=-1, reduction='sum')
    else:
        logits = models[kind](x, select=keep)[0]  # (N, V)
        loss = F.cross_entropy(logits.float(), y.view(-1)[keep], reduction='sum')
    loss.backward()
    opts[kind].step()
    opts[kind].zero_grad(set_to_none=True)
    return time.perf_counter() - t0, loss.item()


times, first_loss, share, order = {k: [] for k in models}, {}, [], list(models)
load_before = os.getloadavg()[0]
for i in range(rounds + 2):  # 2 warmup rounds
    rng = random.Random(i)
    x, y = pad_batch([examples[j] for j in rng.sample(range(len(examples)), batch_size)])
    keep = (y.view(-1) != -1).nonzero()[:, 0]
    share.append(keep.numel() / y.numel())
    rng.shuffle(order)
    for k in order:
        dt, loss = step(k, x, y, keep)
        first_loss.setdefault(k, loss)
        if i >= 2:
            times[k].append(dt)
    print(f"round {i}: " + ', '.join(f"{k} {1000 * times[k][-1]:.0f} ms" for k in models if times[k]))

ratio = paired_speed_ratio(times['head_on_responses'], times['head_everywhere'])
out = dict(experiment='sft_head', shape=dict(cfg.__dict__), batch_size=batch_size, threads=torch.get_num_threads(),
           matmul_peak_gflops=round(measure_matmul_peak() / 1e9, 1), load_before=load_before, load_after=os.getloadavg()[0],
           target_share_of_positions=sum(share) / len(share), first_loss=first_loss,
           ms_per_step={k: 1000 * sorted(v)[len(v) // 2] for k, v in times.items()},
           speedup_head_on_responses=ratio, rounds_s=times, **provenance())  # commit, command: taken at start
write_json(out, os.path.join(REPO, 'experiments', 'bench', 'sft_head.json'))
print(f"head on responses / head everywhere: {ratio['ratio']:.3f}x tok/s (95% CI {ratio['ci95'][0]:.3f}-"
      f"{ratio['ci95'][1]:.3f}, {rounds} paired rounds); {out['target_share_of_positions']:.0%} of positions have a target")
