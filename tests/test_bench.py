"""bench.py runs end to end (quick mode: the script, not the numbers) and writes its JSON."""
import json
import math

import pytest
import torch

from conftest import run


def test_bench_quick(tmp_path):
    run('bench.py', '--quick=True', f'--results_dir={tmp_path}', '--name=q')
    r = json.load(open(tmp_path / 'bench' / 'q.json'))
    assert r['ceilings']['matmul_fp32_1024_gflops'] > 0 and r['ceilings']['copy_gb_s'] > 0
    assert {'tiny/ours', 'tiny/hf_llama', 'tiny/ratio_ours_over_hf'} <= set(r['train'])
    assert 0 < r['train']['tiny/ours']['mfu'] < 1.5
    inter = r['train']['tiny/interleaved']  # ours, the classic GPT-2 block and HF Llama, steps taken in turn
    assert inter['ratio_ours_over_classic_gpt2'] > 0 and inter['classic_gpt2']['tok_s'] > 0
    paired = inter['paired_ours_over_classic_gpt2']  # per-round ratios: as many rounds as each model's step times
    assert paired['rounds'] == len(inter['ours']['rounds_s']) == len(inter['classic_gpt2']['rounds_s']) > 0
    assert paired['ci95'][0] <= paired['ratio'] <= paired['ci95'][1]
    bad = run('bench.py', '--only=train', check=False)  # an unknown part: a one-line error, nothing run
    assert bad.returncode == 1 and "only='train'" in bad.stderr and 'Traceback' not in bad.stderr
    bad = run('bench.py', '--compile=True', check=False)  # compile is for the interleaved comparison alone
    assert bad.returncode == 1 and '--only=interleaved' in bad.stderr and 'Traceback' not in bad.stderr
    assert r['compile'] is False
    assert r['generate']['dense/b1/kv_cache'] > 0 and r['generate']['dense/b1/hf_generate'] > 0
    assert r['generate']['ragged_n8/rows64/problems_s']['hf_generate'] > 0
    from model import int8_supported
    if int8_supported('cpu'):  # weight-only int8 decoding beside fp32, and both against the bandwidth floor
        g = r['generate']
        assert g['dense/b1/kv_cache_int8'] > 0 and g['decode_floor_tok_s_fp32'] > 0
        assert 0.2 < g['decode_weight_mb_int8'] / g['decode_weight_mb_fp32'] < 0.3
        # the kernels alone, beside the whole decode step
        assert g['dense/b1/matmuls_only'] > 0 and g['dense/b1/matmuls_only_int8'] > 0
        assert g['decode_b1_int8_fraction_of_matmuls_only'] == g['dense/b1/kv_cache_int8'] / g['dense/b1/matmuls_only_int8']
    assert r['git_commit'] and r['hardware']['cpu_count'] and 'loadavg_before' in r


def test_classic_baseline_has_our_flops_per_token():
    """The nanoGPT block (LayerNorm, 4x GELU MLP, learned positions) has exactly our block's weight matrices'
    size (our SwiGLU's 3 x C x 8C/3 = the GELU MLP's 2 x C x 4C), so equal tok/s means equal FLOP/s."""
    import sys
    sys.argv = ['bench.py']
    import bench
    from model import GPT, GPTConfig
    cfg = GPTConfig(**bench.SHAPES['small'][0])
    ours, classic = GPT(cfg), bench.ClassicGPT(cfg)

    def matrices(m):
        return sum(p.numel() for n, p in m.named_parameters() if p.dim() == 2 and n.startswith('blocks'))
    assert matrices(ours) == matrices(classic) == cfg.n_layer * 12 * cfg.n_embd ** 2
    x, y = torch.randint(0, cfg.vocab_size, (2, 2, 16))
    assert classic(x, y)[1].item() == pytest.approx(math.log(cfg.vocab_size), rel=0.1)  # near-uniform at init


def test_paired_speed_ratio_by_hand():
    """Step times of a that are half of b's in every round, while the machine drifts 4x: a is 2x as fast, exactly,
    with no spread; with one noisy round the geometric mean is worked out by hand."""
    from metrics import paired_speed_ratio
    r = paired_speed_ratio([1.0, 2.0, 4.0], [2.0, 4.0, 8.0])
    assert r['ratio'] == pytest.approx(2.0) and r['ci95'] == pytest.approx((2.0, 2.0)) and r['rounds'] == 3
    r = paired_speed_ratio([1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 0.5])
    assert r['ratio'] == pytest.approx((2.0 * 2.0 * 2.0 * 0.5) ** 0.25)  # = 1.414...
    assert r['ci95'][0] < r['ratio'] < r['ci95'][1] and 0 < r['p'] <= 1


def test_malloc_benchmarks_read_the_speedruns_thresholds():
    """experiments/bench/malloc.py and experiments/speedrun/before_after.py take the malloc thresholds from
    speedrun.sh's export line, so a changed value there cannot leave the benchmarks measuring another one."""
    import re
    from common import REPO, speedrun_malloc_env
    env = speedrun_malloc_env()
    assert set(env) == {'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'}
    with open(f'{REPO}/speedrun.sh') as f:
        line = next(ln for ln in f if ln.startswith('export MALLOC_'))
    for k, v in env.items():
        assert re.search(rf'{k}=\${{{k}:-{v}}}', line), (k, v, line)
        assert int(v) > 0
    import glob  # the experiment scripts take the same line from speedrun.sh, none sets its own value
    for script in glob.glob(f'{REPO}/experiments/**/*.sh', recursive=True):
        assert not re.search(r'MALLOC_\w+_=\d', open(script).read()), script
