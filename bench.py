"""
Benchmarks, ours side by side with transformers.LlamaForCausalLM of the identical shape, in one run:
machine ceilings, training tok/s and MFU, generation tok/s (KV cache, recompute, HF generate, streaming),
and the GQA / MoE / LoRA variants. Each training measurement runs in a fresh process so its peak memory
is its own. Results go to experiments/bench/<name>.json with hardware, load and commit.
    python bench.py                  # ~4 minutes on 2 CPU cores
    python bench.py --quick=True     # a smoke run (seconds; used by the tests)
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import multiprocessing as mp
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import (UserError, append_result, configure, measure_copy_bandwidth, measure_matmul_peak, peak_memory_bytes, provenance,
                    synchronize, time_train_steps, timed_train_step)
from engine import left_pad
from metrics import paired_speed_ratio
from model import GPT, GPTConfig, Int8Linear, apply_lora, int8_supported, quantize_int8

# -----------------------------------------------------------------------------
name = 'cpu'                  # result file experiments/bench/<name>.json
device = 'cpu'
steps = 8                     # timed training steps per configuration (after 2 warmup steps)
rounds = 0                    # rounds of the interleaved training comparison (one step of each model); 0 = 2 * steps
only = ''                     # 'interleaved': the ceilings and the interleaved training comparison alone ('' = all)
compile = False               # the interleaved comparison with torch.compile on ours and the classic block (as
                              #   nanoGPT trains by default); HF Llama stays eager. The 2 warmup steps compile.
new_tokens = 256              # generation length
quick = False                 # tiny shapes and few steps: checks the script, measures nothing useful
profile = False               # instead: torch.profiler over 3 training steps of the small shape, top ops by time
results_dir = ''              # '' = experiments/
ckpt = ''                     # also: sample_solutions(n=8) on the arith test problems with this checkpoint,
n_problems = 128              #   ours against HF generate of the exported model (both stop at <|endoftext|>)
# -----------------------------------------------------------------------------
configure(globals())
if only not in ('', 'interleaved'):
    raise UserError(f"only={only!r}: use '' (everything) or 'interleaved'")
if compile and only != 'interleaved':
    raise UserError("compile=True compiles the interleaved comparison only: add --only=interleaved")

SHAPES = {  # name: (GPTConfig kwargs, batch size)
    'tiny': (dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=8192), 16),
    'small': (dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=8192), 8),
}
VARIANTS = {  # variants of the small shape
    'vocab_50k': dict(vocab_size=50257),  # the full GPT-2 vocabulary: what gpt2_8k saves
    'gqa_6_2': dict(n_kv_head=2),
    'moe_4x_top2': dict(n_experts=4, moe_top_k=2, ffn_hidden=512),  # same active FFN width as dense (1024)
    'lora_r8': dict(),  # LoRA on c_attn and c_proj, base frozen
}
if quick:
    SHAPES = {'tiny': (dict(n_layer=2, n_head=2, n_embd=64, block_size=64, vocab_size=512), 4)}
    steps, new_tokens = 2, 16


def hf_llama(model):
    from transformers import LlamaForCausalLM
    hf = LlamaForCausalLM(model.hf_config())
    hf.load_state_dict(model.to_hf_state_dict())
    return hf


class ClassicBlock(nn.Module):
    """nanoGPT's block, the baseline our modern block must keep up with: LayerNorm, one fused q/k/v projection,
    causal SDPA, a 4x GELU MLP, biases. Same FLOPs per token as ours: 4C^2 attention + 8C^2 MLP weights (our
    SwiGLU's three C x 8C/3 matrices are 8C^2 too)."""

    def __init__(self, C, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class ClassicGPT(nn.Module):
    """GPT-2 (nanoGPT's model.py) of a GPTConfig's shape: learned positions, tied embeddings, ClassicBlocks."""

    def __init__(self, cfg):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.n_embd), nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(ClassicBlock(cfg.n_embd, cfg.n_head) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():  # GPT-2's init (nanoGPT), as ours
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def interleaved_train(cfg_kw, batch, n_steps, dev, compiled=False):
    """Median step time of ours, the classic GPT-2 and HF Llama trained in one process, one step of each in turn
    (in a new random order each round), so that a change in the machine's speed hits all three alike: the ratios
    are the comparison. Each round's step times are kept ('rounds_s') for the paired ratio test in main()."""
    import random
    import statistics
    torch.manual_seed(0)
    ours = GPT(GPTConfig(**cfg_kw))
    nets = {'ours': ours, 'classic_gpt2': ClassicGPT(ours.config), 'hf_llama': hf_llama(ours)}
    x = torch.randint(0, cfg_kw['vocab_size'], (batch, cfg_kw['block_size']), device=dev)
    opts = {k: torch.optim.AdamW(n.to(dev).train().parameters(), lr=1e-5) for k, n in nets.items()}
    if compiled:  # the optimizers hold the same parameters; the compiled module wraps the eager one
        nets.update({k: torch.compile(nets[k]) for k in ('ours', 'classic_gpt2')})
    times, order = {k: [] for k in nets}, list(nets)
    for i in range(n_steps + 2):
        random.Random(i).shuffle(order)  # no model always runs right after another (cache, thread wake-up)
        for k in order:
            dt = timed_train_step(nets[k], opts[k], x, hf=k == 'hf_llama')
            if i >= 2:  # 2 warmup steps each
                times[k].append(dt)
    out = {k: dict(tok_s=batch * cfg_kw['block_size'] / statistics.median(v), ms_per_step=1000 * statistics.median(v),
                   params=sum(p.numel() for p in nets[k].parameters()), rounds_s=v) for k, v in times.items()}
    out['flops_per_token'] = ours.flops_per_token()
    return out


def train_speed(kind, cfg_kw, batch, n_steps, dev):
    """Runs in a child process: tok/s, ms/step, MFU and peak RSS for one model kind on one shape."""
    torch.manual_seed(0)
    variant = cfg_kw.pop('_variant', None)
    model = GPT(GPTConfig(**cfg_kw))
    if variant == 'lora_r8':
        apply_lora(model, ('c_attn', 'c_proj'), r=8)
    net = hf_llama(model) if kind == 'hf_llama' else model
    T, V = cfg_kw['block_size'], cfg_kw['vocab_size']
    dt = time_train_steps(net, batch, T, V, n_steps, dev, hf=kind == 'hf_llama')
    peak = peak_memory_bytes('cuda' if dev.startswith('cuda') else 'cpu')
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    # frozen weights (LoRA) need no weight gradient: 4 instead of 6 FLOPs per parameter per token
    flops = model.flops_per_token(T) - 2 * (model.num_params() - trainable)
    return dict(tok_s=batch * T / dt, ms_per_step=dt * 1000, peak_memory_mb=peak / 2**20,
                flops_per_token=flops, params=model.num_params(), trainable=trainable)


def in_child(fn, *args):
    with mp.get_context('spawn').Pool(1) as pool:
        return pool.apply(fn, args)


@torch.no_grad()
def gen_speed(model, batch, n_new, hf=None, **kw):
    """Decode tok/s (all sequences) for n_new tokens from an 8-token prompt; best of 2."""
    x = torch.randint(0, model.config.vocab_size - 1, (batch, 8), device=device)
    best = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        if hf is not None:
            out = hf.generate(x, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False, pad_token_id=0)
            assert out.shape[1] == 8 + n_new
        else:
            model.generate(x, n_new, temperature=0, **kw)
        synchronize(device)
        best = max(best, batch * n_new / (time.perf_counter() - t0))
    return best


def matmuls_only_speed(model, threads=1):
    """tok/s of a batch-1 decode step that did nothing but its weight matmuls: every linear layer once on a
    (1, 1, in) input, on the one thread GPT.stream decodes a single row with; best of 3. What the matmul kernels
    allow with this layout and dtype; the rest of a real step (norms, RoPE, attention, the cache, sampling, Python)
    is per-token overhead."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, Int8Linear))]
    xs = [torch.randn(1, 1, m.in_features, device=device) for m in layers]
    n_threads, best = torch.get_num_threads(), 0.0
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(50):
                    for m, x in zip(layers, xs):
                        m(x)
                synchronize(device)
                best = max(best, 50 / (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(n_threads)
    return best


def compiled_decode_speed(model, n_new):
    """Batch-1 decode tok/s with GPT.compile_decode (the first stream compiles: not timed); the model decodes
    eagerly again afterwards (its weights are about to change, and frozen ones would not follow)."""
    model.compile_decode()
    model.generate(torch.randint(0, model.config.vocab_size - 1, (1, 8), device=device), n_new, temperature=0)
    try:
        return gen_speed(model, 1, n_new)
    finally:
        model.compiled_step = None


def hf_inputs(rows):
    """Token lists -> (x, attention_mask) for HF generate: the left-padded batch engine.left_pad makes, with the
    padding masked out."""
    x, pad = left_pad(rows, device)
    return x, (torch.arange(x.size(1), device=device)[None] >= pad[:, None]).long()


@torch.no_grad()
def ragged_speed(model, hf, lengths, n, n_new, rows):
    """Problems/s sampling n solutions of n_new tokens for prompts of the given lengths, rows // n prompts per
    batch, sorted by length and left-padded (what engine.generate_batch does): ours = GPT.generate with pad (one
    prefill per prompt shared by its n samples), HF = generate with the attention mask and num_return_sequences=n.
    Both sample exactly n_new tokens per row, so they do the same work."""
    g = torch.Generator().manual_seed(0)
    prompts = sorted((torch.randint(1, model.config.vocab_size - 1, (L,), generator=g) for L in lengths), key=len)
    per, out = max(1, rows // n), {}
    for kind in ('ours', 'hf_generate'):
        t0 = time.perf_counter()
        for k in range(0, len(prompts), per):
            batch_rows = [p.tolist() for p in prompts[k:k + per]]
            if kind == 'ours':
                x, pad = left_pad(batch_rows, device)
                model.generate(x, n_new, temperature=1.0, num_samples=n, pad=pad if pad.any() else None)
            else:
                x, mask = hf_inputs(batch_rows)
                hf.generate(x, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=True,
                            num_return_sequences=n, pad_token_id=0)
        synchronize(device)
        out[kind] = len(prompts) / (time.perf_counter() - t0)
    return out


@torch.no_grad()
def task_sampling_speed(path, n_problems, n=8, rows=64, n_new=128):
    """Problems/s of engine.sample_solutions (n samples each, rows // n prompts a batch, ragged prompts, rows that
    finish leave the batch) on the first arith test problems, against HF generate of the same model exported to
    Llama on the same left-padded batches, num_return_sequences = n, stopping at <|endoftext|> (HF keeps finished
    rows in the batch). Ours also runs with the calculator, which HF has not. Also the share of samples each gets
    right (a sanity check: the same model, so about the same)."""
    from common import load_for_inference
    from engine import sample_solutions
    from tasks import exact_match, load_task
    model, enc, _ = load_for_inference(path, device)
    problems = load_task('arith', 'test')[0][:n_problems]
    hf = hf_llama(model).to(device).eval()
    t0 = time.perf_counter()
    ours = sample_solutions(model, enc, problems, n, temperature=1.0, max_new_tokens=n_new, desc=None)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    tool = sample_solutions(model, enc, problems, n, temperature=1.0, max_new_tokens=n_new, desc=None, tool=True)
    t_tool = time.perf_counter() - t0
    per, right, t0 = max(1, rows // n), 0, time.perf_counter()
    ids = sorted(([enc.encode(p), ref] for p, ref, _ in problems), key=lambda r: len(r[0]))
    for k in range(0, len(ids), per):
        x, mask = hf_inputs([r[0] for r in ids[k:k + per]])
        y = hf.generate(x, attention_mask=mask, max_new_tokens=n_new, do_sample=True, num_return_sequences=n,
                        eos_token_id=enc.eot_token, pad_token_id=enc.eot_token)[:, x.size(1):].tolist()
        for j, row in enumerate(y):
            row = row[:row.index(enc.eot_token)] if enc.eot_token in row else row
            right += exact_match(enc.decode(row), ids[k + j // n][1])
    t_hf = time.perf_counter() - t0
    int8 = {}
    if quantize_int8(model):  # the same sampling with weight-only int8 linears (opt-in: its samples differ slightly)
        t0 = time.perf_counter()
        q = sample_solutions(model, enc, problems, n, temperature=1.0, max_new_tokens=n_new, desc=None)
        int8 = dict(ours_int8_problems_s=len(problems) / (time.perf_counter() - t0),
                    ours_int8_sample_accuracy=sum(s['correct'] for s in q) / len(q))
        int8['ratio_ours_int8_over_hf'] = int8['ours_int8_problems_s'] * t_hf / len(problems)
    return dict(**int8, checkpoint=path, n_problems=len(problems), n_samples=n, rows=rows, max_new_tokens=n_new,
                ours_problems_s=len(problems) / t_ours, hf_problems_s=len(problems) / t_hf,
                ratio_ours_over_hf=t_hf / t_ours, ours_sample_accuracy=sum(s['correct'] for s in ours) / len(ours),
                ours_tool_problems_s=len(problems) / t_tool,
                ours_tool_sample_accuracy=sum(s['correct'] for s in tool) / len(tool),
                hf_sample_accuracy=right / (n * len(problems)))


def main():
    for _ in range(12):  # the 1-minute load average lags: give work that just ended a minute to leave it
        if os.getloadavg()[0] < 0.5 or quick:
            break
        print(f"waiting for the machine to go quiet (load {os.getloadavg()[0]:.2f})", flush=True)
        time.sleep(5)
    t_start = time.time()
    load_before = os.getloadavg()[0]
    rows = {}
    # 1. ceilings
    peak = measure_matmul_peak(device, torch.float32, n=1024, seconds=1.0)
    ceil = {f'matmul_fp32_{n}_gflops': measure_matmul_peak(device, torch.float32, n=n, seconds=0.5) / 1e9
            for n in (256, 512, 2048)}
    ceil['matmul_fp32_1024_gflops'] = peak / 1e9
    ceil['matmul_bf16_512_gflops'] = measure_matmul_peak(device, torch.bfloat16, n=512, seconds=0.5) / 1e9
    ceil['copy_gb_s'] = measure_copy_bandwidth(device) / 1e9
    print("ceilings: " + ", ".join(f"{k} {v:.1f}" for k, v in ceil.items()), flush=True)

    # 2. training: ours vs HF Llama of the same shape, then the variants of the small shape
    train = {}
    jobs = [(s, kind, dict(cfg), b) for s, (cfg, b) in SHAPES.items() for kind in ('ours', 'hf_llama')]
    if only == 'interleaved':
        jobs = []
    elif not quick:
        jobs += [(f'small_{v}', 'ours', dict(SHAPES['small'][0], **kw, _variant=v), SHAPES['small'][1])
                 for v, kw in VARIANTS.items()]
    for shape, kind, cfg_kw, batch in jobs:
        r = in_child(train_speed, kind, cfg_kw, batch, steps, device)
        r['mfu'] = r['flops_per_token'] * r['tok_s'] / peak
        train[f'{shape}/{kind}'] = r
        print(f"train {shape:>18} {kind:>8}: {r['tok_s']:8,.0f} tok/s, {r['ms_per_step']:7.1f} ms/step, "
              f"mfu {r['mfu'] * 100:5.1f}%, peak {r['peak_memory_mb']:,.0f} MB", flush=True)
    for s in (SHAPES if jobs else ()):
        train[f'{s}/ratio_ours_over_hf'] = train[f'{s}/ours']['tok_s'] / train[f'{s}/hf_llama']['tok_s']
        print(f"train {s}: ours / HF Llama = {train[f'{s}/ratio_ours_over_hf']:.2f}x (separate processes)")
    # the same comparisons with steps interleaved in one process, and the classic GPT-2 block beside them
    shape = 'small' if 'small' in SHAPES else 'tiny'
    inter = in_child(interleaved_train, dict(SHAPES[shape][0]), SHAPES[shape][1], rounds or 2 * steps, device, compile)
    for k in ('ours', 'classic_gpt2', 'hf_llama'):
        inter[k]['mfu'] = inter['flops_per_token'] * inter[k]['tok_s'] / peak
    for b in ('classic_gpt2', 'hf_llama'):
        inter[f'ratio_ours_over_{b}'] = inter['ours']['tok_s'] / inter[b]['tok_s']  # of the medians
        inter[f'paired_ours_over_{b}'] = paired_speed_ratio(inter['ours']['rounds_s'], inter[b]['rounds_s'])
    train[f'{shape}/interleaved'] = inter
    pc, ph = inter['paired_ours_over_classic_gpt2'], inter['paired_ours_over_hf_llama']
    print(f"train {shape}, interleaved in one process: " + ', '.join(
        f"{k} {inter[k]['tok_s']:,.0f} tok/s (mfu {100 * inter[k]['mfu']:.1f}%)" for k in ('ours', 'classic_gpt2', 'hf_llama'))
        + f"; ours / classic GPT-2 = {pc['ratio']:.3f}x (95% CI {pc['ci95'][0]:.3f}-{pc['ci95'][1]:.3f}, p = "
        f"{pc['p']:.2g}, {pc['rounds']} paired rounds), ours / HF Llama = {ph['ratio']:.3f}x "
        f"({ph['ci95'][0]:.3f}-{ph['ci95'][1]:.3f})", flush=True)

    gen = generation(ceil) if only != 'interleaved' else {}

    load_after = os.getloadavg()[0]
    rows = dict(name=name, device=device, quick=quick, compile=compile, steps=steps, new_tokens=new_tokens, ceilings=ceil,
                train=train, generate=gen, shapes={k: dict(v[0], batch_size=v[1]) for k, v in SHAPES.items()},
                loadavg_before=load_before, loadavg_after=load_after, **provenance(t_start))
    if load_before > 0.5 or load_after > 2.5:
        print(f"WARNING: load average {load_before:.2f} -> {load_after:.2f}: other work shared the cores; "
              f"repeat on an idle machine before reporting these numbers")
    append_result(rows, 'bench', name, *([results_dir] if results_dir else []))
    print(f"wrote {results_dir or 'experiments'}/bench/{name}.json in {time.time() - t_start:.0f}s")


def generation(ceil):
    """Sections 3-5 of main(): decoding tok/s against HF generate and the fp32 bandwidth floor, ragged sampling,
    and (with ckpt) sample_solutions on the arith test problems. Returns the 'generate' block of the result."""
    gen = {}
    # 3. generation at the small shape (context long enough for the prompt + new tokens)
    shape = 'small' if 'small' in SHAPES else 'tiny'
    cfg = dict(SHAPES[shape][0], block_size=max(512, 8 + new_tokens))
    for variant, kw in [('dense', {}), ('gqa_6_2', dict(n_kv_head=2))] + \
            ([('moe_4x_top2', VARIANTS['moe_4x_top2'])] if not quick else []):
        torch.manual_seed(0)
        model = GPT(GPTConfig(**(cfg | kw))).to(device).eval()
        for batch in (1, 8):
            gen[f'{variant}/b{batch}/kv_cache'] = gen_speed(model, batch, new_tokens)
            if variant == 'dense':
                gen[f'{variant}/b{batch}/recompute'] = gen_speed(model, batch, new_tokens, use_cache=False)
                gen[f'{variant}/b{batch}/hf_generate'] = gen_speed(model, batch, new_tokens, hf=hf_llama(model).to(device).eval())
        if variant == 'dense':  # GPT.stream decodes <= 4 rows on one thread; the same on all of them, beside it
            gen['dense/b1/kv_cache_all_threads'] = gen_speed(model, 1, new_tokens, decode_threads=torch.get_num_threads())
        if variant == 'dense' and int8_supported(device):  # the same model with weight-only int8 linears
            fp32_bytes = 4 * sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
            gen['dense/b1/matmuls_only'] = matmuls_only_speed(model)
            if not quick:  # two compilations (~40 s each on 2 cores); tests/test_model.py checks the compiled step
                gen['dense/b1/kv_cache_compiled'] = compiled_decode_speed(model, new_tokens)
            quantize_int8(model)
            gen['dense/b1/matmuls_only_int8'] = matmuls_only_speed(model)
            if not quick:
                gen['dense/b1/kv_cache_int8_compiled'] = compiled_decode_speed(model, new_tokens)
            int8_bytes = sum(m.codes.numel() + 2 * m.scale.numel() for m in model.modules() if isinstance(m, Int8Linear))
            for batch in (1, 8):
                gen[f'dense/b{batch}/kv_cache_int8'] = gen_speed(model, batch, new_tokens)
            gen['dense/b1/kv_cache_int8_all_threads'] = gen_speed(model, 1, new_tokens,
                                                                  decode_threads=torch.get_num_threads())
            gen['ratio_one_over_all_threads_b1_int8'] = (gen['dense/b1/kv_cache_int8'] /
                                                         gen['dense/b1/kv_cache_int8_all_threads'])
            # batch 1 reads every weight once a token: copy bandwidth / weight bytes is the fastest it can go
            gen['decode_weight_mb_fp32'], gen['decode_weight_mb_int8'] = fp32_bytes / 1e6, int8_bytes / 1e6
            gen['decode_floor_tok_s_fp32'] = ceil['copy_gb_s'] * 1e9 / fp32_bytes
            gen['decode_b1_fraction_of_fp32_floor'] = gen['dense/b1/kv_cache'] / gen['decode_floor_tok_s_fp32']
            gen['decode_b1_int8_fraction_of_fp32_floor'] = gen['dense/b1/kv_cache_int8'] / gen['decode_floor_tok_s_fp32']
            gen['ratio_int8_over_fp32_b1'] = gen['dense/b1/kv_cache_int8'] / gen['dense/b1/kv_cache']
            # the kernels' share of the gap: the matmuls alone against the floor, a whole step against the matmuls
            for name, k in (('fp32', ''), ('int8', '_int8')):
                gen[f'decode_b1_matmuls_only_{name}_fraction_of_fp32_floor'] = (gen[f'dense/b1/matmuls_only{k}'] /
                                                                                gen['decode_floor_tok_s_fp32'])
                if not quick:
                    gen[f'decode_b1_compiled_{name}_fraction_of_fp32_floor'] = (gen[f'dense/b1/kv_cache{k}_compiled'] /
                                                                               gen['decode_floor_tok_s_fp32'])
                gen[f'decode_b1_{name}_fraction_of_matmuls_only'] = (gen[f'dense/b1/kv_cache{k}'] /
                                                                     gen[f'dense/b1/matmuls_only{k}'])
            print(f"decode batch 1: floor {gen['decode_floor_tok_s_fp32']:,.0f} tok/s ({fp32_bytes / 1e6:.0f} MB of fp32 "
                  f"weights at {ceil['copy_gb_s']:.1f} GB/s); fp32 {gen['dense/b1/kv_cache']:,.0f} tok/s "
                  f"({100 * gen['decode_b1_fraction_of_fp32_floor']:.0f}% of it), int8 {gen['dense/b1/kv_cache_int8']:,.0f} "
                  f"({100 * gen['decode_b1_int8_fraction_of_fp32_floor']:.0f}%, {int8_bytes / 1e6:.0f} MB); on all "
                  f"{torch.get_num_threads()} threads fp32 {gen['dense/b1/kv_cache_all_threads']:,.0f}, int8 "
                  f"{gen['dense/b1/kv_cache_int8_all_threads']:,.0f}; the matmuls alone (one thread) fp32 "
                  f"{gen['dense/b1/matmuls_only']:,.0f} tok/s, int8 {gen['dense/b1/matmuls_only_int8']:,.0f}", flush=True)
            if not quick:
                print(f"decode batch 1, the step compiled: fp32 {gen['dense/b1/kv_cache_compiled']:,.0f} tok/s "
                      f"({100 * gen['decode_b1_compiled_fp32_fraction_of_fp32_floor']:.0f}% of the floor), int8 "
                      f"{gen['dense/b1/kv_cache_int8_compiled']:,.0f} "
                      f"({100 * gen['decode_b1_compiled_int8_fraction_of_fp32_floor']:.0f}%)", flush=True)
        if variant == 'dense':  # streaming far past the context: tok/s and memory must stay flat
            ctx = SHAPES[shape][0]['block_size']
            stream_model = GPT(GPTConfig(**SHAPES[shape][0])).to(device).eval()
            x = torch.randint(0, cfg['vocab_size'] - 1, (1, 8), device=device)
            stamps, t0 = [], time.perf_counter()
            for _ in stream_model.stream(x, 4 * ctx, temperature=0, window=ctx - 4, n_sink=4):
                stamps.append(time.perf_counter() - t0)
            first, last = stamps[ctx - 1], stamps[-1] - stamps[-ctx - 1]
            gen['dense/b1/streaming_sinks_first_ctx'] = ctx / first
            gen['dense/b1/streaming_sinks_last_ctx'] = ctx / last
            gen['streaming_cache_bytes'] = 2 * stream_model.config.n_layer * stream_model.config.n_kv_head * \
                stream_model.config.head_dim * 4 * ctx
        print("generate: " + ", ".join(f"{k} {v:,.0f}" for k, v in gen.items() if k.startswith(variant)), flush=True)
    gen['ratio_cache_over_recompute_b1'] = gen['dense/b1/kv_cache'] / gen['dense/b1/recompute']
    gen['ratio_cache_over_hf_b1'] = gen['dense/b1/kv_cache'] / gen['dense/b1/hf_generate']

    # 4. the sampling the alignment stages do: 8 solutions each for prompts of 40-120 tokens (the arith model's shape)
    arith = dict(n_layer=4, n_head=4, n_embd=192, block_size=256, vocab_size=8192) if not quick else SHAPES['tiny'][0]
    torch.manual_seed(0)
    model = GPT(GPTConfig(**arith)).to(device).eval()
    hf = hf_llama(model).to(device).eval()
    lengths = torch.randint(40, 121, (64,), generator=torch.Generator().manual_seed(1)).tolist() if not quick else [5, 9, 12, 20]
    for rows in (32, 64):
        r = ragged_speed(model, hf, lengths, 8, 64 if not quick else 8, rows)
        gen[f'ragged_n8/rows{rows}/problems_s'] = r
        gen[f'ragged_n8/rows{rows}/ratio_ours_over_hf'] = r['ours'] / r['hf_generate']
        print(f"sampling 8 solutions of {len(lengths)} ragged prompts, {rows} rows a batch: ours {r['ours']:.2f} "
              f"problems/s, HF generate {r['hf_generate']:.2f} ({r['ours'] / r['hf_generate']:.2f}x)", flush=True)

    if ckpt:  # 5. the same on a trained model and the real task: rows finish at different lengths
        r = gen['task_sampling'] = task_sampling_speed(ckpt, n_problems)
        print(f"sample_solutions(n=8) on {r['n_problems']} arith test problems with {ckpt}: ours "
              f"{r['ours_problems_s']:.2f} problems/s, HF generate {r['hf_problems_s']:.2f} "
              f"({r['ratio_ours_over_hf']:.2f}x); samples right {r['ours_sample_accuracy']:.3f} / "
              f"{r['hf_sample_accuracy']:.3f}; ours with the calculator {r['ours_tool_problems_s']:.2f} problems/s, "
              f"{r['ours_tool_sample_accuracy']:.3f} right" + (f"; ours int8 {r['ours_int8_problems_s']:.2f} problems/s "
              f"({r['ratio_ours_int8_over_hf']:.2f}x HF), {r['ours_int8_sample_accuracy']:.3f} right"
              if 'ours_int8_problems_s' in r else ''), flush=True)
    return gen


def run_profile():
    """Where a training step's time goes, by operator: the evidence behind what to optimise next."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    cfg_kw, batch = SHAPES['small'] if 'small' in SHAPES else SHAPES['tiny']
    torch.manual_seed(0)
    model = GPT(GPTConfig(**cfg_kw)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, cfg_kw['vocab_size'], (batch, cfg_kw['block_size']), device=device)

    def step():
        model(x, x)[1].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    table = prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25)
    model.eval()
    x1 = x[:1, :8]
    with torch.no_grad(), torch_profile(activities=[ProfilerActivity.CPU]) as prof_decode:
        model.generate(x1, min(64, cfg_kw["block_size"] - 8), temperature=0)
    table += ("\n# decoding: up to 64 new tokens at batch 1 with the KV cache\n" +
              prof_decode.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))
    print(table)
    out = os.path.join(results_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), 'experiments'),
                       'bench', f'profile_{name}.txt')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        f.write(f"# python bench.py --profile=True; shape {cfg_kw}, batch {batch}; {provenance()}\n{table}")
    print(f"wrote {out}")


if __name__ == '__main__':
    run_profile() if profile else main()
