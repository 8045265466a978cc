"""model.py against independent references: HF Llama with copied weights, full forward vs KV cache."""
import os

import pytest
import torch
import torch.nn.functional as F

from model import GPT, GPTConfig, ConfigError, KVCache, StaticKVCache, estimate_memory, quantize_int8, sample_next


def tiny(n_kv_head=None, **kw):
    torch.manual_seed(0)
    cfg = GPTConfig(**dict(dict(block_size=64, vocab_size=97, n_layer=2, n_head=4, n_kv_head=n_kv_head, n_embd=32,
                                rope_theta=500.0), **kw))
    return GPT(cfg).eval()


def randomize_norms(model):
    with torch.no_grad():  # ones-initialised norm weights would hide a mix-up of the two norms
        for n, p in model.named_parameters():
            if 'norm' in n:
                p.uniform_(0.5, 1.5)
    return model


def to_hf(model):
    from transformers import LlamaForCausalLM
    hf = LlamaForCausalLM(model.hf_config()).eval()
    hf.load_state_dict(model.to_hf_state_dict())
    return hf


@pytest.mark.parametrize('n_kv_head', [4, 2, 1])  # MHA, GQA, MQA
def test_matches_hf_llama(n_kv_head):
    model = randomize_norms(tiny(n_kv_head))
    hf = to_hf(model)
    x = torch.randint(0, 97, (3, 40))
    ours, _ = model(x)
    theirs = hf(x).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_rope_backward_is_the_inverse_rotation():
    """model.RoPE's hand-written backward (the inverse rotation) against autograd through the plain rotate-half
    formula, for a batch's (T, hd) tables and a ragged batch's (B, 1, T, hd) ones; float64 gradcheck too."""
    from model import apply_rope, rope_tables

    def reference(x, cos, sin):  # RoFormer eq. 34 as HF Llama writes it
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    torch.manual_seed(0)
    cos, sin = rope_tables(8, 12, 500.0)
    pos = torch.tensor([[0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]])           # a left-padded row and a full one
    for c, s in [(cos[:6], sin[:6]), (cos[pos][:, None], sin[pos][:, None])]:
        x = torch.randn(2, 3, 6, 8, requires_grad=True)
        g = torch.randn(2, 3, 6, 8)
        ours, = torch.autograd.grad(apply_rope(x, c, s), x, g)
        theirs, = torch.autograd.grad(reference(x, c, s), x, g)
        torch.testing.assert_close(apply_rope(x, c, s), reference(x, c, s), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)
        x64 = x.detach().double().requires_grad_()
        assert torch.autograd.gradcheck(lambda t: apply_rope(t, c.double(), s.double()), (x64,))


def test_rmsnorm_and_swiglu_backward_match_autograd():
    """model.RMSNormFunction's closed-form backward and model.SwiGLU's one-buffer backward against autograd through
    F.rms_norm and silu(gate) * up: outputs and gradients equal, float64 gradcheck, and the modules pick them only
    when training on CPU in float32 (inference keeps F.rms_norm's fused kernel)."""
    from model import MLP, RMSNorm, RMSNormFunction, SwiGLU

    torch.manual_seed(0)
    x, w, g = torch.randn(2, 5, 16, requires_grad=True), torch.randn(16, requires_grad=True), torch.randn(2, 5, 16)
    ours = torch.autograd.grad(RMSNormFunction.apply(x, w, 1e-5), (x, w), g)
    theirs = torch.autograd.grad(F.rms_norm(x, (16,), w, 1e-5), (x, w), g)
    torch.testing.assert_close(RMSNormFunction.apply(x, w, 1e-5), F.rms_norm(x, (16,), w, 1e-5))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    x64, w64 = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    assert torch.autograd.gradcheck(lambda t, u: RMSNormFunction.apply(t, u, 1e-5), (x64, w64))

    h, g = torch.randn(2, 5, 12, requires_grad=True), torch.randn(2, 5, 6)
    gate, up = h.chunk(2, dim=-1)
    torch.testing.assert_close(SwiGLU.apply(h), F.silu(gate) * up)
    ours, = torch.autograd.grad(SwiGLU.apply(h), h, g)
    theirs, = torch.autograd.grad(F.silu(gate) * up, h, g)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradcheck(SwiGLU.apply, (h.detach().double().requires_grad_(),))

    def graph(t):  # names of the autograd nodes behind t
        seen, todo = set(), [t.grad_fn]
        while todo:
            f = todo.pop()
            if f is not None and type(f).__name__ not in seen:
                seen.add(type(f).__name__)
                todo += [n for n, _ in f.next_functions]
        return seen

    norm, mlp = RMSNorm(16, 1e-5), MLP(tiny().config)
    assert 'RMSNormFunctionBackward' in graph(norm(x))
    assert 'SwiGLUBackward' in graph(mlp(torch.randn(2, 5, 32, requires_grad=True)))
    with torch.no_grad():
        torch.testing.assert_close(norm(x), F.rms_norm(x, (16,), norm.weight, 1e-5), atol=0, rtol=0)


def test_gradients_match_hf_llama():
    """Training, not just inference, agrees with HF Llama: the weight gradients of one backward pass, GQA."""
    model = randomize_norms(tiny(2)).train()
    hf = to_hf(model).train()
    x = torch.randint(0, 97, (2, 24))
    r = torch.randn(2, 24, 97)                                             # any scalar function of the logits
    (model(x)[0] * r).sum().backward()
    (hf(x).logits * r).sum().backward()
    a, b = model.blocks[1], hf.model.layers[1]
    wq, wk, wv = a.attn.c_attn.weight.grad.split([32, 16, 16])
    h = a.mlp.c_proj.in_features
    for ours, theirs in [(wq, b.self_attn.q_proj.weight.grad), (wk, b.self_attn.k_proj.weight.grad),
                         (wv, b.self_attn.v_proj.weight.grad), (a.norm1.weight.grad, b.input_layernorm.weight.grad),
                         (a.mlp.c_fc.weight.grad[:h], b.mlp.gate_proj.weight.grad),
                         (model.wte.weight.grad, hf.model.embed_tokens.weight.grad)]:
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('n_kv_head', [4, 2, 1])
def test_kv_cache_matches_hf_cache_and_full_forward(n_kv_head):
    """Prefill 20 tokens, a 5-token chunk, then 10 single tokens: each step's logits equal our full forward
    and HF Llama's own cached forward. The cache holds only n_kv_head heads."""
    model = randomize_norms(tiny(n_kv_head))
    hf = to_hf(model)
    x = torch.randint(0, 97, (2, 35))
    full, _ = model(x)
    cache = KVCache(model.config.n_layer, 40)
    past, pos = None, 0
    for step in [20, 5] + [1] * 10:
        ours, _ = model(x[:, pos:pos + step], cache=cache)
        out = hf(x[:, pos:pos + step], past_key_values=past, use_cache=True)
        past = out.past_key_values
        torch.testing.assert_close(ours, full[:, pos:pos + step], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours, out.logits, atol=1e-5, rtol=1e-5)
        pos += step
    assert cache.k.shape == (2, 2, n_kv_head, 40, 8)


def test_cached_generation_equals_recompute():
    model = tiny(2)
    x = torch.randint(0, 97, (2, 7))
    a = model.generate(x, 30, temperature=0)
    b = model.generate(x, 30, temperature=0, use_cache=False)
    assert torch.equal(a, b) and a.shape == (2, 37)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    s1 = model.generate(x, 20, temperature=1.0, top_k=20, top_p=0.9, generator=g1)
    s2 = model.generate(x, 20, temperature=1.0, top_k=20, top_p=0.9, generator=g2, use_cache=False)
    assert torch.equal(s1, s2)  # same seed, same samples with and without the cache


@pytest.mark.parametrize('kw', [dict(n_kv_head=2), dict(n_kv_head=4, sink_token=True)])
def test_static_cache_decodes_what_the_plain_cache_does(kw):
    """StaticKVCache (the compiled decode's cache: a tensor position, every slot attended with the unwritten ones
    masked) run eagerly: each step's logits equal the plain cache's, greedy tokens and seeded samples are the
    same, with num_samples, a stop token and the calculator-style force hook."""
    model = randomize_norms(tiny(**kw))
    x = torch.randint(0, 97, (2, 7))
    plain = [model.generate(x, 20, temperature=0, num_samples=2, stop_tokens=(5,)),
             model.generate(x, 20, temperature=1.0, top_k=20, generator=torch.Generator().manual_seed(3)),
             model.generate(x, 20, temperature=0, force=lambda t: torch.where(t == 7, 8, t))]
    steps = []
    model.compiled_step = lambda *a, **k: steps.append(type(k['cache']).__name__) or model(*a, **k)
    static = [model.generate(x, 20, temperature=0, num_samples=2, stop_tokens=(5,)),
              model.generate(x, 20, temperature=1.0, top_k=20, generator=torch.Generator().manual_seed(3)),
              model.generate(x, 20, temperature=0, force=lambda t: torch.where(t == 7, 8, t))]
    assert set(steps) == {'StaticKVCache'} and len(steps) >= 19 + 19
    for a, b in zip(plain, static):
        assert torch.equal(a, b)
    cache, ref = KVCache(model.config.n_layer, 30), KVCache(model.config.n_layer, 30)
    model(x, cache=cache), model(x, cache=ref)
    cache.k[:, :, :, cache.pos:], cache.v[:, :, :, cache.pos:] = float('nan'), float('inf')  # what empty() may hold
    cache = StaticKVCache(cache)
    for t in range(10):
        tok = torch.randint(0, 97, (2, 1))
        torch.testing.assert_close(model(tok, cache=cache)[0], model(tok, cache=ref)[0], atol=1e-5, rtol=1e-5)
    assert cache.at.item() == ref.pos


def test_compiled_decode_gives_the_eager_tokens():
    """GPT.compile_decode (torch.compile, inductor, frozen weights): the same greedy tokens as eager decoding,
    in fp32 and with int8 weights; an MoE model is refused."""
    x = torch.randint(0, 97, (1, 5))
    for int8 in (False, True):
        model = tiny(2)
        if int8 and not quantize_int8(model):
            continue  # no int8 CPU kernel in this torch build
        eager = model.generate(x, 12, temperature=0)
        model.compile_decode()
        assert torch.equal(model.generate(x, 12, temperature=0), eager)
        if int8:  # the fp32 model compiled before decodes eagerly again, not with this one's frozen weights
            assert first.compiled_step is None and torch.equal(first.generate(x, 12, temperature=0), first_eager)
        first, first_eager = model, eager
    with pytest.raises(ConfigError, match='dense'):
        tiny(n_experts=4, moe_top_k=2).compile_decode()


def test_small_batches_decode_on_one_thread_and_restore_the_count():
    """GPT.stream runs the one-token steps of <= 4 rows on one CPU thread (the prefill on all of them) and puts
    the thread count back when the stream ends or is dropped; the tokens do not depend on it."""
    model, before = tiny(2), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randint(0, 97, (2, 7))
        for rows, num_samples, expect in ((2, 1, 1), (2, 2, 1), (2, 4, 2)):  # 2, 4, 8 rows decoding
            seen = []
            out = model.generate(x[:rows], 12, temperature=0, num_samples=num_samples,
                                 force=lambda t: seen.append(torch.get_num_threads()) or t)
            assert seen[0] == 2 and set(seen[1:]) == {expect} and torch.get_num_threads() == 2
            same = model.generate(x[:rows], 12, temperature=0, num_samples=num_samples, decode_threads=2)
            assert torch.equal(out, same)
        stream = model.stream(x, 12, temperature=0)
        next(stream), next(stream)
        assert torch.get_num_threads() == 1  # suspended mid-decode
        stream.close()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_stop_tokens_end_generation():
    model = tiny()
    x = torch.randint(0, 97, (1, 5))
    greedy = model.generate(x, 10, temperature=0)
    stop = greedy[0, 7].item()  # the 3rd generated token
    out = model.generate(x, 10, temperature=0, stop_tokens=(stop,))
    assert out.shape[1] <= 8 and out[0, -1].item() == stop


def test_sampling_filters():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert sample_next(logits, temperature=0).item() == 1
    g = torch.Generator().manual_seed(0)
    assert all(sample_next(logits, 1.0, top_k=1, generator=g).item() == 1 for _ in range(20))
    assert all(sample_next(logits, 1.0, top_p=0.01, generator=g).item() == 1 for _ in range(20))
    # top_p=0.9: probabilities of [3,2,1,0] are .64,.24,.09,.03 -> keep ids 1,3,2 (mass .97 >= .9), never 0
    assert 0 not in {sample_next(logits, 1.0, top_p=0.9, generator=g).item() for _ in range(300)}


def test_sampling_draws_the_softmax_distribution():
    """Inverse-CDF sampling against the probabilities themselves: 40,000 rows at once, each token's frequency
    within 5 standard errors of its softmax probability, masked tokens never drawn, a seed replays the draw."""
    logits = torch.tensor([1.0, float('-inf'), 0.0, 2.5, -1.0, float('-inf'), 0.5]).expand(40000, -1)
    p = logits[0].softmax(-1)
    draw = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(3))
    freq = torch.bincount(draw, minlength=7).double() / len(draw)
    assert freq[1] == 0 and freq[5] == 0
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / len(draw)).sqrt() + 1e-12).all(), (freq, p)
    assert torch.equal(draw, sample_next(logits, 1.0, generator=torch.Generator().manual_seed(3)))


def test_context_limits():
    model = tiny()
    with pytest.raises(ConfigError, match='exceeds block_size'):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ConfigError, match='exceeds block_size'):
        model.generate(torch.zeros(1, 60, dtype=torch.long), 10)
    assert model.generate(torch.zeros(1, 60, dtype=torch.long), 10, use_cache=False).shape == (1, 70)


@pytest.mark.parametrize('kw, msg', [(dict(n_head=4, n_kv_head=3), 'divisible by n_kv_head'),
                                     (dict(n_embd=30, n_head=4), 'divisible by n_head'),
                                     (dict(n_embd=12, n_head=4), 'must be even')])
def test_bad_configs(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        GPTConfig(**kw)


def test_export_reload_roundtrip(tmp_path):
    from transformers import AutoModelForCausalLM
    model = randomize_norms(tiny(2, tie_embeddings=False))
    model.export_hf(str(tmp_path), eos_token_id=96)
    assert os.path.exists(tmp_path / 'model.safetensors')
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    back = GPT.from_hf(str(tmp_path)).eval()
    x = torch.randint(0, 97, (2, 30))
    torch.testing.assert_close(hf(x).logits, model(x)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(back(x)[0], model(x)[0], atol=0, rtol=0)
    assert back.config == model.config


def test_param_count_flops_and_memory_plan():
    model = tiny(2)
    cfg = model.config
    assert model.num_params() == sum(p.numel() for p in model.parameters())  # tied: the head is counted once
    plan = estimate_memory(cfg, batch_size=4)
    assert plan['n_params'] == model.num_params()
    assert plan['optimizer'] == 2 * 4 * plan['n_params']
    assert model.flops_per_token(64) == 6 * model.num_params() + 12 * 2 * 4 * 8 * 64


def test_chunked_loss_equals_full_loss_and_grads():
    a, b = tiny(2), tiny(2)
    a.train(), b.train()
    b.loss_chunk = 7  # rows per chunk; does not divide B*T on purpose
    x, y = torch.randint(0, 97, (3, 20)), torch.randint(0, 97, (3, 20))
    y[0, :5] = -1  # ignored targets (SFT prompt masking) count the same way
    la, lb = a(x, y)[1], b(x, y)[1]
    torch.testing.assert_close(la, lb, atol=1e-6, rtol=1e-6)
    la.backward(), lb.backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-6, rtol=1e-5, msg=n)
    assert estimate_memory(a.config, 3, loss_chunk=7)['logits'] < estimate_memory(a.config, 3)['logits']


def test_head_on_selected_positions_gives_the_masked_loss_and_grads():
    """select= runs the LM head on the response positions only (SFT): the same logits there, and the sum of
    their cross-entropies has the same value and weight gradients as the full head with ignore_index."""
    a, b = tiny(2), tiny(2)
    a.train(), b.train()
    x, y = torch.randint(0, 97, (3, 20)), torch.randint(0, 97, (3, 20))
    y[0, :5], y[1, 12:], y[2, :17] = -1, -1, -1  # prompts and right padding
    full = a(x)[0]
    keep = (y.view(-1) != -1).nonzero()[:, 0]
    sel = b(x, select=keep)[0]
    torch.testing.assert_close(sel, full.view(-1, 97)[keep], atol=1e-6, rtol=1e-6)
    la = F.cross_entropy(full.view(-1, 97), y.view(-1), ignore_index=-1, reduction='sum')
    lb = F.cross_entropy(sel, y.view(-1)[keep], reduction='sum')
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-6)
    la.backward(), lb.backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-6, rtol=1e-5, msg=n)


def test_num_samples_shares_the_prefill_exactly():
    """N samples from one prefilled prompt == the prompt repeated N times (same logits, same draws)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=64, vocab_size=97)).eval()
    x = torch.randint(0, 97, (2, 9))
    a = model.generate(x, 20, temperature=1.0, num_samples=3, generator=torch.Generator().manual_seed(1))
    b = model.generate(x.repeat_interleave(3, dim=0), 20, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[:, 9:], b[:, 9:])
    with pytest.raises(ConfigError, match='num_samples'):
        model.generate(x, 5, num_samples=2, use_cache=False)


@pytest.mark.parametrize('num_samples', [1, 3])
def test_finished_rows_leave_the_batch_and_change_nothing(num_samples):
    """Rows that hit a stop token are dropped from the batch and its KV cache (GPT.stream): later steps run on
    fewer rows, and every row still decodes exactly what it decodes alone (greedy), stop token included."""
    model = randomize_norms(tiny(n_kv_head=2))
    torch.manual_seed(2)
    prompts = [torch.randint(1, 97, (n,)) for n in (4, 7, 11, 5)]
    width = max(len(p) for p in prompts)
    x = torch.stack([torch.cat([torch.zeros(width - len(p), dtype=torch.long), p]) for p in prompts])
    pad = torch.tensor([width - len(p) for p in prompts])
    free = [model.generate(p[None], 24, temperature=0)[0, len(p):].tolist() for p in prompts]
    stops = (free[0][2], free[1][6])  # rows end at different steps (some perhaps never)
    rows = []
    hook = model.lm_head.register_forward_hook(lambda mod, args, out: rows.append(args[0].size(0)))
    got = model.generate(x, 24, temperature=0, pad=pad, stop_tokens=stops, num_samples=num_samples)[:, width:]
    hook.remove()
    assert rows[0] == len(prompts) and rows[-1] < len(prompts) * num_samples  # the batch shrank as rows finished
    for b, p in enumerate(prompts):
        alone = model.generate(p[None], 24, temperature=0, stop_tokens=stops)[0, len(p):].tolist()
        for r in range(b * num_samples, (b + 1) * num_samples):
            row = got[r].tolist()
            assert row[:len(alone)] == alone and set(row[len(alone):]) <= {stops[0]}  # then it emits the stop token


@pytest.mark.parametrize('kw', [dict(n_kv_head=2), dict(n_kv_head=4, sink_token=True)])
def test_shared_prefix_decodes_what_prefix_plus_prompt_decodes(kw):
    """GPT.stream prefix (KVCache.expand): a prefix prefilled once, then a ragged batch of prompts after it, gives
    each row the logits and greedy tokens of that row's prefix + prompt decoded alone (fp32, atol 1e-5)."""
    model = randomize_norms(tiny(**kw))
    torch.manual_seed(2)
    head = torch.randint(1, 97, (7,))
    prompts = [torch.randint(1, 97, (n,)) for n in (2, 6, 11)]
    width = max(len(p) for p in prompts)
    x = torch.stack([torch.cat([torch.zeros(width - len(p), dtype=torch.long), p]) for p in prompts])
    pad = torch.tensor([width - len(p) for p in prompts])
    shared = KVCache(model.config.n_layer, len(head) + model.config.sink_token)
    model(head[None], cache=shared)
    cache = shared.expand(3, shared.pos + width + 2)
    logits, _ = model(x, cache=cache, pad=pad)
    nxt = torch.randint(1, 97, (3, 1))
    step, _ = model(nxt, cache=cache, pad=pad)
    for b, p in enumerate(prompts):
        alone, _ = model(torch.cat([head, p, nxt[b]])[None])
        torch.testing.assert_close(logits[b, pad[b]:], alone[0, len(head):-1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step[b, 0], alone[0, -1], atol=1e-5, rtol=1e-5)
    got = model.generate(x, 10, temperature=0, pad=pad, prefix=shared)[:, width:]
    for b, p in enumerate(prompts):
        full = torch.cat([head, p])
        assert torch.equal(got[b], model.generate(full[None], 10, temperature=0)[0, len(full):])
    assert torch.equal(model.generate(x[2:], 10, temperature=0, prefix=shared)[0, width:], got[2])  # unpadded too


@pytest.mark.parametrize('kw', [dict(n_kv_head=2), dict(n_kv_head=4, sink_token=True)])
def test_ragged_batch_computes_what_each_row_computes_alone(kw):
    """Left padding with per-row positions and a padding mask (GPT.trunk pad): the logits of every real
    position, in the prefill and in every cached decode step, equal that prompt's own unpadded forward
    (fp32, atol 1e-5), and greedy decoding gives the same tokens."""
    model = randomize_norms(tiny(**kw))
    torch.manual_seed(1)
    prompts = [torch.randint(1, 97, (n,)) for n in (3, 9, 14)]
    width = max(len(p) for p in prompts)
    x = torch.stack([torch.cat([torch.zeros(width - len(p), dtype=torch.long), p]) for p in prompts])
    pad = torch.tensor([width - len(p) for p in prompts])
    logits, _ = model(x, pad=pad)
    for b, p in enumerate(prompts):
        alone, _ = model(p[None])
        torch.testing.assert_close(logits[b, pad[b]:], alone[0], atol=1e-5, rtol=1e-5)
    ragged = model.generate(x, 12, temperature=0, pad=pad)
    for b, p in enumerate(prompts):
        assert torch.equal(ragged[b, width:], model.generate(p[None], 12, temperature=0)[0, len(p):])
    cache = KVCache(model.config.n_layer, width + 5 + model.config.sink_token)  # the cached decode steps, by logits
    model(x, cache=cache, pad=pad)
    nxt = torch.randint(1, 97, (3, 4))
    steps = [model(nxt[:, t:t + 1], cache=cache, pad=pad)[0][:, 0] for t in range(4)]
    for b, p in enumerate(prompts):
        alone, _ = model(torch.cat([p, nxt[b]])[None])
        torch.testing.assert_close(torch.stack([s[b] for s in steps]), alone[0, -4:], atol=1e-5, rtol=1e-5)
