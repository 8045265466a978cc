"""The speedrun's two training stages before and after the speed work, on one host, back to back: pretraining and
SFT with speedrun.sh's CPU commands, from a clone of the older commit (without the malloc exports it did not have)
and from this checkout, in the order after, before, after (pretraining only the second time), so that host drift
shows as a difference between the two "after" runs. Writes experiments/speedrun/before_after.json.
    DATA_DIR=../shared/data python experiments/speedrun/before_after.py --before=18ca9d9
Takes ~25 min on a 450 GFLOP/s 2-core host; nothing else may run beside it (the load is recorded)."""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import REPO, UserError, configure, measure_matmul_peak, provenance, speedrun_malloc_env, write_json  # noqa: E402

before = '18ca9d9'   # the older commit: before the LM head on responses only (SFT) and the malloc exports
sft_iters = 1200     # speedrun.sh's CPU SFT budget
configure(globals())
MALLOC = speedrun_malloc_env()


def stage(repo, argv, env):
    """Run one stage in `repo`, return its wall seconds and the 1-minute load average when it ended."""
    t0 = time.time()
    subprocess.run([sys.executable, *argv], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    return dict(seconds=round(time.time() - t0, 1), load_end=round(os.getloadavg()[0], 2))


def run(repo, env, sft=True):
    """Pretraining, then (sft=True) SFT, each as speedrun.sh runs it on CPU; its own out/ folder in `repo`."""
    for prepare in (['data/wikitext2/prepare.py', '--tokenizer=gpt2_8k'], ['data/arith/prepare.py']):
        stage(repo, prepare, env)  # the data, untimed
    out = dict(pretrain=stage(repo, ['train.py', 'config/train_tiny.py', '--out_dir=out/ba_tiny',
                                     '--init_from=scratch'], env))
    if sft:
        out['sft'] = stage(repo, ['sft.py', 'config/sft_arith.py', '--init_from=out/ba_tiny/best.pt',
                                  '--out_dir=out/ba_sft', '--name=before_after', '--results_dir=out/ba_results',
                                  '--n_eval=100', f'--max_iters={sft_iters}', '--eval_interval=400'], env)
    return out


if __name__ == '__main__':
    record = provenance()  # at the start: this checkout's commit and diff hash, the command, the hardware
    rev = subprocess.run(['git', 'rev-parse', '--verify', '--quiet', f'{before}^{{commit}}'], cwd=REPO,
                         capture_output=True, text=True)
    if rev.returncode:
        raise UserError(f"--before={before}: no such commit in {REPO}")
    record.update(before=rev.stdout.strip(), sft_iters=sft_iters,
                  matmul_peak_gflops_start=round(measure_matmul_peak() / 1e9, 1))
    # the environment each checkout's own scripts set up: speedrun.sh's malloc exports for this one; no spin count
    # for either (this checkout's entry scripts set their own, an older one's had none: it runs as it did)
    env = {k: v for k, v in os.environ.items() if not k.startswith('MALLOC_') and k != 'GOMP_SPINCOUNT'}
    if env.get('DATA_DIR'):
        env['DATA_DIR'] = os.path.abspath(env['DATA_DIR'])
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, 'before')
        subprocess.run(['git', 'clone', '-q', REPO, old], check=True)
        subprocess.run(['git', 'checkout', '-q', record['before']], cwd=old, check=True)
        t0 = time.time()
        record['after'] = run(REPO, dict(env, **MALLOC))
        record['before_run'] = run(old, env)
        record['after_again'] = run(REPO, dict(env, **MALLOC), sft=False)
    record['matmul_peak_gflops_end'] = round(measure_matmul_peak() / 1e9, 1)
    a, b = record['after'], record['before_run']
    record['speedup'] = {s: round(b[s]['seconds'] / a[s]['seconds'], 3) for s in ('pretrain', 'sft')}
    record['drift_pretrain_after_again_over_after'] = round(record['after_again']['pretrain']['seconds']
                                                            / a['pretrain']['seconds'], 3)
    record['wall_time_s'] = round(time.time() - t0, 1)
    write_json(record, os.path.join(REPO, 'experiments', 'speedrun', 'before_after.json'))
    print(f"pretrain {b['pretrain']['seconds']}s -> {a['pretrain']['seconds']}s, sft {b['sft']['seconds']}s -> "
          f"{a['sft']['seconds']}s; the second 'after' pretraining took {record['after_again']['pretrain']['seconds']}s")
