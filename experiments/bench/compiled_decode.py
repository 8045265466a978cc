"""Batch-1 decoding, eager against GPT.compile_decode (one torch.compile graph a step over a StaticKVCache), in fp32
and with int8 weights, bench.py's small shape (L6 / H6 / C384, vocab 8,192). Per round, 128 greedy tokens from an
8-token prompt with each, in a shuffled order, paired by round (metrics.paired_speed_ratio); the compiled stream
must give the eager tokens. The same model serves both: eager rounds run with its compiled step switched off.
Writes experiments/bench/compiled_decode_<new_tokens>.json.
    python experiments/bench/compiled_decode.py [rounds] [new_tokens]
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores

import random
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import torch  # noqa: E402

from common import measure_copy_bandwidth, measure_matmul_peak, provenance, write_json  # noqa: E402
from metrics import paired_speed_ratio  # noqa: E402
from model import GPT, GPTConfig, quantize_int8  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
n_new = int(sys.argv[2]) if len(sys.argv) > 2 else 128
load_before = os.getloadavg()[0]
x = torch.randint(0, 8191, (1, 8), generator=torch.Generator().manual_seed(0))
results = {}
# the floor, as bench.py takes it: copy bandwidth / the fp32 weight bytes a token reads (every linear layer once)
cfg = GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=512, vocab_size=8192)  # bench.py's small shape
fp32_bytes = 4 * sum(m.weight.numel() for m in GPT(cfg).modules() if isinstance(m, torch.nn.Linear))
copy_gb_s = measure_copy_bandwidth() / 1e9
floor = copy_gb_s * 1e9 / fp32_bytes
for weights in ('fp32', 'int8'):
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    if weights == 'int8' and not quantize_int8(model):
        continue  # no int8 CPU kernel in this torch build
    eager_tokens = model.generate(x, n_new, temperature=0)
    t0 = time.time()
    model.compile_decode()
    assert torch.equal(model.generate(x, n_new, temperature=0), eager_tokens)  # the first stream compiles
    compile_s = time.time() - t0
    step = model.compiled_step
    times, order = {'eager': [], 'compiled': []}, ['eager', 'compiled']
    for i in range(rounds + 1):  # 1 warmup round
        random.Random(i).shuffle(order)
        for k in order:
            model.compiled_step = step if k == 'compiled' else None
            t0 = time.perf_counter()
            out = model.generate(x, n_new, temperature=0)
            if i >= 1:
                times[k].append(time.perf_counter() - t0)
            assert torch.equal(out, eager_tokens), k
    ratio = paired_speed_ratio(times['compiled'], times['eager'])
    tok_s = {k: n_new / sorted(v)[len(v) // 2] for k, v in times.items()}
    results[weights] = dict(compile_s=round(compile_s, 1), speedup_compiled=ratio, rounds_s=times, tok_s=tok_s,
                            fraction_of_fp32_floor={k: v / floor for k, v in tok_s.items()})
    print(f"{weights}: eager {results[weights]['tok_s']['eager']:.0f} tok/s, compiled "
          f"{results[weights]['tok_s']['compiled']:.0f} = {ratio['ratio']:.3f}x (95% CI {ratio['ci95'][0]:.3f}-"
          f"{ratio['ci95'][1]:.3f}, p = {ratio['p']:.2g}, {rounds} paired rounds); compiled in {compile_s:.0f} s; "
          f"{100 * tok_s['eager'] / floor:.0f}% / {100 * tok_s['compiled'] / floor:.0f}% of the {floor:.0f} tok/s floor",
          flush=True)
out = dict(experiment='compiled_decode', batch_size=1, new_tokens=n_new, results=results, copy_gb_s=copy_gb_s,
           decode_floor_tok_s_fp32=floor, decode_weight_mb_fp32=fp32_bytes / 1e6,
           matmul_peak_gflops=round(measure_matmul_peak() / 1e9, 1), load_before=load_before,
           load_after=os.getloadavg()[0], **provenance())  # commit, command: taken at the start
write_json(out, os.path.join(REPO, 'experiments', 'bench', f'compiled_decode_{n_new}.json'))
