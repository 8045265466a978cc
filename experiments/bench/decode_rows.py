"""How many rows should engine.generate_batch decode at once on a CPU? A decode step of the speedrun's tiny model
(4 layers, 192 wide) is a chain of small ops whose fixed cost (Python, op dispatch, thread wake-ups) does not grow
with the rows, so more rows per step amortize it, while the KV cache grows with them. Timed on the speedrun's own
SFT model and data, max_rows settings interleaved in one process (a new order each round), paired by round against
64 (metrics.paired_speed_ratio):
    sample: the DPO stage's sampling: 256 of data/arith_long's training problems x 4 samples, T = 0.8, calculator
    greedy: greedy EM's decoding: 512 of data/arith_long's test problems, calculator
Needs a finished speedrun's checkpoints (out/speedrun_cpu/sft) and data in this checkout. Writes
experiments/bench/decode_rows.json.
    DATA_DIR=../shared/data python experiments/bench/decode_rows.py [rounds]
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch, as every entry script
os.environ.setdefault('GOMP_SPINCOUNT', '30000')

import random
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.chdir(REPO)

import torch  # noqa: E402

from common import load_for_inference, measure_matmul_peak, provenance, write_json  # noqa: E402
from engine import generate_batch  # noqa: E402
from metrics import paired_speed_ratio  # noqa: E402
from tasks import load_task  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
SETTINGS = (64, 256, 512)
start = provenance()
peak = measure_matmul_peak() / 1e9
model, enc, _ = load_for_inference('out/speedrun_cpu/sft/best.pt')
train, _ = load_task('arith', 'train', 'data/arith_long')
sample_prompts = [p for p, _, _ in random.Random(1337).sample(train, 256)]
greedy_prompts = [p for p, _, _ in load_task('arith', 'test', 'data/arith_long')[0][:512]]
times = {(job, rows): [] for job in ('sample', 'greedy') for rows in SETTINGS}
for r in range(rounds):
    for rows in random.Random(r).sample(SETTINGS, len(SETTINGS)):
        t0 = time.perf_counter()
        generate_batch(model, enc, sample_prompts, 4, 0.8, None, 128, tool=True, max_rows=rows,
                       generator=torch.Generator().manual_seed(r))
        times['sample', rows].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generate_batch(model, enc, greedy_prompts, 1, 0.0, None, 128, tool=True, max_rows=rows)
        times['greedy', rows].append(time.perf_counter() - t0)
        print(f"round {r}, {rows} rows: sample {len(sample_prompts) / times['sample', rows][-1]:.2f} problems/s, "
              f"greedy {len(greedy_prompts) / times['greedy', rows][-1]:.2f} problems/s", flush=True)
out = dict(start, matmul_peak_gflops=round(peak, 1), rounds=rounds, threads=torch.get_num_threads())
for job, n in (('sample', len(sample_prompts)), ('greedy', len(greedy_prompts))):
    for rows in SETTINGS:
        t = sorted(times[job, rows])
        out[f'{job}_{rows}'] = dict(problems_per_s_median=round(n / t[len(t) // 2], 2), seconds=times[job, rows])
        if rows != 64:
            out[f'{job}_{rows}'][f'speed_over_64'] = paired_speed_ratio(times[job, rows], times[job, 64])
            s = out[f'{job}_{rows}']['speed_over_64']
            print(f"{job}, {rows} rows / 64: {s['ratio']:.3f}x (95% CI {s['ci95'][0]:.3f}-{s['ci95'][1]:.3f}, p = {s['p']:.2g})")
out.update(provenance())
write_json(out, 'experiments/bench/decode_rows.json')
