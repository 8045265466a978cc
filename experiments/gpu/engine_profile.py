"""Where a decode step's time goes on the GPU: the CPU chain's model (4 layers, 192 wide, 8k vocab, random
weights) sampling 8 solutions of each of 64 arith test prompts (512 rows, ragged) with and without the calculator,
with engine.py's hooks and (where .gpucarry/engine_old.py exists) the previous per-row-decode hooks; then the
profiler's top ops for one batch. Prints ms per decode step; writes $OUT/engine_profile.json when OUT is set.
CKPT=path: a trained model instead (its solutions call the calculator); AUTOCAST=1: under bf16 autocast, as the
stages sample on a GPU; ROUNDS=n timed rounds (3).
    DATA_DIR=../shared/data python experiments/gpu/engine_profile.py [rows] [new_tokens]"""
import contextlib
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '.gpucarry'))
import engine  # noqa: E402
from common import get_tokenizer, load_for_inference, provenance  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402

rows, new = (int(a) for a in (sys.argv[1:] + ['512', '64'][len(sys.argv) - 1:])[:2])
device = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.manual_seed(0)
if os.environ.get('CKPT'):
    model, enc, _ = load_for_inference(os.environ['CKPT'], device)
else:
    enc = get_tokenizer('gpt2_8k')
    model = GPT(GPTConfig(n_layer=4, n_head=4, n_embd=192, block_size=256, vocab_size=8192)).to(device).eval()
autocast = torch.autocast(device, dtype=torch.bfloat16) if os.environ.get('AUTOCAST') else contextlib.nullcontext()
problems = [json.loads(line) for line in open('data/arith/test.jsonl')][:rows // 8]
prompts = [f"Question: {p['question']}\nAnswer:" for p in problems]
mods = [engine]
try:
    import engine_old
    mods.append(engine_old)
except ImportError:
    pass


def timed(mod, tool, temperature=1.0):
    engine.calculator_tool = mod.calculator_tool  # generate_batch looks the hook up at call time
    if device == 'cuda':
        torch.cuda.synchronize()
    t = time.perf_counter()
    engine.generate_batch(model, enc, prompts, n=8, temperature=temperature, max_new_tokens=new, tool=tool,
                          generator=torch.Generator(device).manual_seed(0), max_rows=rows, autocast=autocast)
    if device == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / new * 1e3


own = engine.calculator_tool
out = dict(device=torch.cuda.get_device_name() if device == 'cuda' else 'cpu', rows=rows, new_tokens=new,
           ckpt=os.environ.get('CKPT', ''), autocast=bool(os.environ.get('AUTOCAST')), provenance=provenance())
with torch.no_grad():
    timed(engine, True)  # warm-up
    for r in range(int(os.environ.get('ROUNDS', 3))):
        for mod in mods:
            for tool in (False, True):
                key = f"{mod.__name__}_{'tool' if tool else 'plain'}_ms_per_step"
                out.setdefault(key, []).append(round(timed(mod, tool), 2))
    engine.calculator_tool = own
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device == 'cuda' else [])
    with torch.profiler.profile(activities=acts) as prof:
        timed(engine, True)
    ev = prof.key_averages()
    out['top_cpu'] = [(e.key, e.count, round(e.self_cpu_time_total / 1e3, 2)) for e in
                      sorted(ev, key=lambda e: -e.self_cpu_time_total)[:20]]
    if device == 'cuda':
        out['top_cuda'] = [(e.key, e.count, round(e.self_device_time_total / 1e3, 2)) for e in
                           sorted(ev, key=lambda e: -e.self_device_time_total)[:12]]
        out['cuda_total_ms'] = round(sum(e.self_device_time_total for e in ev) / 1e3, 1)
    out['cpu_total_ms'] = round(sum(e.self_cpu_time_total for e in ev) / 1e3, 1)
out['provenance']['wall_time_s'] = provenance()['wall_time_s']
print(json.dumps(out, indent=1))
if os.environ.get('OUT'):
    with open(os.path.join(os.environ['OUT'], 'engine_profile.json'), 'w') as f:
        json.dump(out, f, indent=1)
