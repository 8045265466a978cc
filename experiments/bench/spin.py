"""How long an idle OpenMP thread spins before it sleeps, and CPU speed. Under OMP_WAIT_POLICY=PASSIVE (every
entry script sets it: idle threads must not burn a shared core) libgomp's spin count is 0, so a worker thread
goes to sleep after every parallel region and the next op pays a futex wake-up. A large matmul hardly notices; a
decode step of the tiny model is a chain of small ops of a few microseconds each, and pays the wake-up on each. GOMP_SPINCOUNT=30000 (what the entry scripts now set beside PASSIVE) lets
a thread spin that many pause instructions first and then sleep as before. Both settings in fresh processes of
the speedrun's tiny model shape (config/train_tiny.py, random weights), one process of each per round in a
shuffled order, paired by round (metrics.paired_speed_ratio):
    sample_64: 16 prompts x 4 samples = 64 rows, ragged (left-padded) prompts, 96 new tokens at T = 1 (what
               engine.generate_batch runs for the DPO stage's and the verifier's samples)
    greedy_64: 64 rows, one sample each, 96 new tokens (greedy EM)
    train:     a full AdamW step on 8 x 256 tokens (pretraining's batch)
    train_small_*: bench.py's interleaved training comparison (small shape, 4 steps of each model in turn):
               ours, the classic GPT-2 block, HF Llama; their ratio under each setting is the issue's item 1
Writes experiments/bench/spin.json.
    python experiments/bench/spin.py [rounds]
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import json
import random
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from common import measure_matmul_peak, provenance, speedrun_malloc_env, write_json  # noqa: E402
from metrics import paired_speed_ratio  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
SPINS = {'passive': '0', 'spin_30000': '30000'}  # '0' is what OMP_WAIT_POLICY=PASSIVE alone gives
CHILD = """
import json, time, torch
from common import time_train_steps
from engine import left_pad
from model import GPT, GPTConfig
torch.manual_seed(0)
model = GPT(GPTConfig(n_layer=4, n_head=4, n_embd=192, block_size=256, vocab_size=8192)).eval()  # train_tiny.py
g = torch.Generator().manual_seed(0)
prompts = [torch.randint(1, 8191, (L,), generator=g).tolist() for L in range(40, 72, 2)]  # 16 ragged prompts
x, pad = left_pad(prompts, 'cpu')
out = {}
for name, kw, rows in (('sample_64', dict(temperature=1.0, num_samples=4, pad=pad), 64),
                       ('greedy_64', dict(temperature=0.0), 64)):
    xx = x if name == 'sample_64' else torch.randint(1, 8191, (64, 56), generator=g)
    best = float('inf')
    for _ in range(3):
        t0 = time.perf_counter()
        model.generate(xx, 96, generator=torch.Generator().manual_seed(1), **kw)
        best = min(best, time.perf_counter() - t0)
    out[name] = best / (rows * 96)  # seconds per generated token
out['train'] = time_train_steps(model.train(), 8, 256, 8192, steps=5) / (8 * 256)  # seconds per trained token
import bench  # the performance issue's training ratio: ours against the classic GPT-2 block, steps interleaved
it = bench.interleaved_train(bench.SHAPES['small'][0], bench.SHAPES['small'][1], 4, 'cpu')
out.update({f'train_small_{k}': v['ms_per_step'] / 1000 / (8 * 256) for k, v in it.items() if k != 'flops_per_token'})
print(json.dumps(out))
"""


def child(spin):
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', GOMP_SPINCOUNT=spin, **speedrun_malloc_env())
    res = subprocess.run([sys.executable, '-c', CHILD], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


start = provenance()  # commit, command, hardware: taken at the start
start.pop('wall_time_s', None)
peak = round(measure_matmul_peak() / 1e9, 1)
runs, order, load_before = {k: [] for k in SPINS}, list(SPINS), os.getloadavg()[0]
for i in range(rounds):
    random.Random(i).shuffle(order)
    for k in order:
        runs[k].append(child(SPINS[k]))
    print(f"round {i}: " + '; '.join(f"{k} " + ', '.join(f"{m} {1 / r[-1][m]:,.0f} tok/s" for m in r[-1])
                                     for k, r in runs.items()), flush=True)
tasks = list(runs['passive'][0])
out = dict(experiment='gomp_spincount', settings=SPINS, rounds=rounds, matmul_peak_gflops=peak,
           load_before=load_before, load_after=os.getloadavg()[0],
           tok_per_s={k: {m: sorted(1 / r[m] for r in v)[len(v) // 2] for m in tasks} for k, v in runs.items()},
           speedup_spin_over_passive={m: paired_speed_ratio([r[m] for r in runs['spin_30000']],
                                                            [r[m] for r in runs['passive']]) for m in tasks},
           ours_over_classic={k: paired_speed_ratio([r['train_small_ours'] for r in v],
                                                    [r['train_small_classic_gpt2'] for r in v]) for k, v in runs.items()},
           runs=runs, **start)
write_json(out, os.path.join(REPO, 'experiments', 'bench', 'spin.json'))
for m, r in out['speedup_spin_over_passive'].items():
    print(f"{m}: spin 30000 / passive {r['ratio']:.3f}x tok/s (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}, p = {r['p']:.3g})")
for k, r in out['ours_over_classic'].items():
    print(f"{k}: ours / classic GPT-2 block {r['ratio']:.3f}x tok/s (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})")
