"""bench.py runs end to end (quick mode: the script, not the numbers) and writes its JSON."""
import json

from conftest import run


def test_bench_quick(tmp_path):
    run('bench.py', '--quick=True', f'--results_dir={tmp_path}', '--name=q')
    r = json.load(open(tmp_path / 'bench' / 'q.json'))
    assert r['ceilings']['matmul_fp32_1024_gflops'] > 0 and r['ceilings']['copy_gb_s'] > 0
    assert {'tiny/ours', 'tiny/hf_llama', 'tiny/ratio_ours_over_hf'} <= set(r['train'])
    assert 0 < r['train']['tiny/ours']['mfu'] < 1.5
    assert r['generate']['dense/b1/kv_cache'] > 0 and r['generate']['dense/b1/hf_generate'] > 0
    assert r['generate']['ragged_n8/rows64/problems_s']['hf_generate'] > 0
    assert r['git_commit'] and r['hardware']['cpu_count'] and 'loadavg_before' in r
