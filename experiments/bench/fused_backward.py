"""A CPU training step of our block with autograd's backward for RMSNorm and SwiGLU (model.py before 2026-12-06:
F.rms_norm, whose CPU backward torch 2.13 decomposes into ~20 elementwise ops, and silu(gate) * up on the halves of
the fused projection, whose backward ends in a cat) against the hand-written backward passes (model.RMSNormFunction,
model.SwiGLU). bench.py's small shape (L6 / H6 / C384 / T256 / V8192, batch 8), forward + backward + AdamW, one step
of each per round in a shuffled order, paired by round (metrics.paired_speed_ratio). Both models start from the same
weights and see the same tokens, so their losses must agree. Writes experiments/bench/fused_backward.json.
    python experiments/bench/fused_backward.py [rounds]
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import random
import sys
import types

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import measure_matmul_peak, provenance, timed_train_step, write_json  # noqa: E402
from metrics import paired_speed_ratio  # noqa: E402
from model import GPT, GPTConfig, MLP, RMSNorm  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 24


def autograd_norm(self, x):  # model.RMSNorm.forward before: autograd's backward
    return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


def autograd_mlp(self, x):  # model.MLP.forward before: autograd's backward, a cat of the two halves' gradients
    gate, up = self.c_fc(x).chunk(2, dim=-1)
    return self.c_proj(F.silu(gate) * up)


torch.manual_seed(0)
cfg = GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=8192)  # bench.py's 'small'
models = {'autograd': GPT(cfg), 'hand_written': GPT(cfg)}
models['hand_written'].load_state_dict(models['autograd'].state_dict())
for m in models['autograd'].modules():
    if isinstance(m, RMSNorm):
        m.forward = types.MethodType(autograd_norm, m)
    elif isinstance(m, MLP):
        m.forward = types.MethodType(autograd_mlp, m)
opts = {k: torch.optim.AdamW(m.train().parameters(), lr=1e-5) for k, m in models.items()}
x = torch.randint(0, cfg.vocab_size, (8, cfg.block_size))
with torch.no_grad():
    losses = {k: m(x, x)[1].item() for k, m in models.items()}
assert abs(losses['autograd'] - losses['hand_written']) < 1e-5, losses

times, order = {k: [] for k in models}, list(models)
load_before = os.getloadavg()[0]
for i in range(rounds + 2):  # 2 warmup rounds
    random.Random(i).shuffle(order)
    for k in order:
        dt = timed_train_step(models[k], opts[k], x)
        if i >= 2:
            times[k].append(dt)
    if i >= 2:
        print(f"round {i - 1}: " + ', '.join(f"{k} {1000 * times[k][-1]:.0f} ms" for k in models))
# after the same AdamW steps the weights must still agree: the two backward passes give the same gradients
drift = max((a - b).abs().max().item() for a, b in zip(models['autograd'].parameters(),
                                                        models['hand_written'].parameters()))
ratio = paired_speed_ratio(times['hand_written'], times['autograd'])
out = dict(experiment='fused_backward', shape=dict(cfg.__dict__), batch_size=8, threads=torch.get_num_threads(),
           matmul_peak_gflops=round(measure_matmul_peak() / 1e9, 1), load_before=load_before,
           load_after=os.getloadavg()[0], first_loss=losses, max_weight_difference_after=drift,
           ms_per_step={k: 1000 * sorted(v)[len(v) // 2] for k, v in times.items()},
           speedup_hand_written=ratio, rounds_s=times, **provenance())  # commit, command: taken at start
write_json(out, os.path.join(REPO, 'experiments', 'bench', 'fused_backward.json'))
print(f"hand-written / autograd backward: {ratio['ratio']:.3f}x tok/s (95% CI {ratio['ci95'][0]:.3f}-"
      f"{ratio['ci95'][1]:.3f}, p = {ratio['p']:.2g}, {rounds} paired rounds); weights differ by {drift:.1e} after")
