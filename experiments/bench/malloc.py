"""glibc's malloc thresholds and CPU training speed: training steps of the small bench shape (bench.py's
interleaved_train: ours, the classic GPT-2 block and HF Llama) in fresh processes, with glibc's default
thresholds and with the two that speedrun.sh exports:
    MALLOC_MMAP_THRESHOLD_=1000000000   tensors up to 1 GB come from the heap, not from a fresh mmap each
    MALLOC_TRIM_THRESHOLD_=10000000000  freed heap memory is kept for the next step instead of returned
By default glibc serves blocks above a dynamic threshold (at most 32 MB) with mmap and returns them with munmap,
so each training step maps its activations and gradients afresh and the kernel zeroes every new page: a minor
page fault per 4 KB page, time spent in the kernel (sys) instead of the matmuls. One process of each setting per
round, in a shuffled order, paired by round (metrics.paired_speed_ratio). Writes experiments/bench/malloc.json.
    python experiments/bench/malloc.py [rounds]
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

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
steps = 4  # timed steps of each model per process, after interleaved_train's 2 warmup steps
TUNED = speedrun_malloc_env()
CHILD = f"""
import json, resource, statistics, time
t0 = time.time()
import bench
out = bench.interleaved_train(bench.SHAPES['small'][0], bench.SHAPES['small'][1], {steps}, 'cpu')
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(ms={{k: 1000 * statistics.median(v['rounds_s']) for k, v in out.items() if k != 'flops_per_token'}},
                      minor_faults=ru.ru_minflt, sys_s=ru.ru_stime, user_s=ru.ru_utime, max_rss_mb=ru.ru_maxrss / 1024,
                      wall_s=time.time() - t0)))
"""


def child(tuned):
    env = {k: v for k, v in os.environ.items() if k not in TUNED}
    env.update(TUNED if tuned else {})
    res = subprocess.run([sys.executable, '-c', CHILD], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


runs, order = {'default': [], 'tuned': []}, ['default', 'tuned']
load_before = os.getloadavg()[0]
for i in range(rounds):
    random.Random(i).shuffle(order)
    for k in order:
        runs[k].append(child(k == 'tuned'))
    print(f"round {i}: " + '; '.join(f"{k} ours {r[-1]['ms']['ours']:.0f} ms, classic {r[-1]['ms']['classic_gpt2']:.0f} ms, "
                                     f"{r[-1]['minor_faults'] / 1e3:.0f}K faults, sys {r[-1]['sys_s']:.1f} s"
                                     for k, r in runs.items()), flush=True)


def median(xs):
    return sorted(xs)[len(xs) // 2]


models = list(runs['default'][0]['ms'])
out = dict(experiment='malloc_thresholds', tuned_env=TUNED, steps_per_process=steps, rounds=rounds,
           matmul_peak_gflops=round(measure_matmul_peak() / 1e9, 1), load_before=load_before,
           load_after=os.getloadavg()[0],
           speedup_tuned_over_default={m: paired_speed_ratio([r['ms'][m] for r in runs['tuned']],
                                                             [r['ms'][m] for r in runs['default']]) for m in models},
           ratio_ours_over_classic={k: paired_speed_ratio([r['ms']['ours'] for r in v], [r['ms']['classic_gpt2'] for r in v])
                                    for k, v in runs.items()},
           median={k: {f: median([r[f] for r in v]) for f in ('minor_faults', 'sys_s', 'user_s', 'max_rss_mb', 'wall_s')}
                   for k, v in runs.items()},
           runs=runs, **provenance())  # commit, command: taken at start
write_json(out, os.path.join(REPO, 'experiments', 'bench', 'malloc.json'))
for m, r in out['speedup_tuned_over_default'].items():
    print(f"{m}: tuned / default {r['ratio']:.3f}x tok/s (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}, p = {r['p']:.3g})")
for k, v in out['median'].items():
    print(f"{k}: {v['minor_faults'] / 1e3:.0f}K minor faults, sys {v['sys_s']:.1f} s, max RSS {v['max_rss_mb']:.0f} MB")
