"""The speedrun's DPO stage, its most sampling-heavy (speedrun.sh's CPU command, from `speedrun.sh plan`: 16,000
samples of the SFT model, then 100 steps), with and without the OpenMP spin: GOMP_SPINCOUNT=30000, what the entry
scripts set, against 0, what OMP_WAIT_POLICY=PASSIVE alone gives (experiments/bench/spin.json times the same on
small synthetic workloads). Back to back on one host in the order spin, passive; the matmul peak at both ends shows
how far the host drifted. Both must draw the same samples and reach the same model: the spin changes when a thread
wakes, not what it computes. Needs the speedrun's SFT model and data (a finished `bash speedrun.sh`). Writes
experiments/speedrun/spin_ab.json; nothing else may run beside it (the load is recorded).
    DATA_DIR=../shared/data python experiments/speedrun/spin_ab.py
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import json
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import REPO, UserError, measure_matmul_peak, provenance, speedrun_malloc_env, write_json  # noqa: E402

SPINS = {'spin': '30000', 'passive': '0'}  # in this order
SFT = 'out/speedrun_cpu/sft/best.pt'


def dpo_command():
    """speedrun.sh's CPU command for its DPO stage, as `speedrun.sh plan dpo` prints it (bash %q quoting)."""
    plan = subprocess.run(['bash', 'speedrun.sh', 'plan', 'dpo'], cwd=REPO, env=dict(os.environ, SCALE='cpu'),
                          capture_output=True, text=True, check=True)
    return shlex.split(plan.stdout)


def run(cmd, name, spin):
    """The stage in its own out_dir and result folder (later overrides win); its wall seconds, the sampling's
    seconds as its progress bar ended, the load at the end, and what it produced."""
    env = {k: v for k, v in os.environ.items() if k != 'GOMP_SPINCOUNT'}
    env.update(speedrun_malloc_env(), GOMP_SPINCOUNT=spin)
    if env.get('DATA_DIR'):  # unset stays unset (the loaders download)
        env['DATA_DIR'] = os.path.abspath(env['DATA_DIR'])
    argv = cmd[1:] + [f'--init_from={SFT}', f'--out_dir=out/spin_ab_{name}', f'--name=spin_ab_{name}',
                      '--results_dir=out/spin_ab_results']
    t0 = time.time()
    res = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = round(time.time() - t0, 1)
    if res.returncode:
        raise SystemExit(f"{name}: the stage failed\n{res.stderr[-2000:]}")
    bar = re.findall(r'on-policy samples: 100%\|[^|]*\| \d+/\d+ \[(\d+):(\d+)<', res.stderr)
    with open(os.path.join(REPO, 'out', 'spin_ab_results', 'dpo', f'spin_ab_{name}.json')) as f:
        row = json.load(f)
    return dict(seconds=seconds, sampling_seconds=60 * int(bar[-1][0]) + int(bar[-1][1]) if bar else None,
                load_end=round(os.getloadavg()[0], 2),
                produced={k: row[k] for k in ('pair_stats', 'heldout_reward_accuracy', 'val_em', 'val_loss')})


if __name__ == '__main__':
    record = provenance()  # at the start: commit, diff hash, command, hardware
    record.pop('wall_time_s', None)
    if not os.path.exists(os.path.join(REPO, SFT)):
        raise UserError(f"{SFT} is missing: run `bash speedrun.sh` first (its SFT stage)")
    cmd = dpo_command()
    record.update(experiment='spin_ab', stage_command=shlex.join(cmd), spin_counts=SPINS, load_start=round(os.getloadavg()[0], 2),
                  matmul_peak_gflops_start=round(measure_matmul_peak() / 1e9, 1))
    t0 = time.time()
    for name, spin in SPINS.items():
        record[name] = run(cmd, name, spin)
        print(f"{name}: {record[name]['seconds']} s (sampling {record[name]['sampling_seconds']} s), "
              f"val EM {record[name]['produced']['val_em']}", flush=True)
    record['matmul_peak_gflops_end'] = round(measure_matmul_peak() / 1e9, 1)
    record['same_result'] = record['spin']['produced'] == record['passive']['produced']
    record['speedup'] = dict(stage=round(record['passive']['seconds'] / record['spin']['seconds'], 3),
                             sampling=round(record['passive']['sampling_seconds'] / record['spin']['sampling_seconds'], 3)
                             if record['spin']['sampling_seconds'] else None)
    record['wall_time_s'] = round(time.time() - t0, 1)
    write_json(record, os.path.join(REPO, 'experiments', 'speedrun', 'spin_ab.json'))
    print(f"passive / spin: stage {record['speedup']['stage']}x, sampling {record['speedup']['sampling']}x; "
          f"same samples and model: {record['same_result']}")
