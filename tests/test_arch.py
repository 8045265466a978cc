"""MoE, attention sinks / streaming cache, LoRA and NF4, each against an independent reference."""
import copy

import pytest
import torch
import torch.nn as nn

import model as model_module
from model import (GPT, GPTConfig, ConfigError, Int8Linear, KVCache, LoRALinear, MoE, NF4Linear, StreamingKVCache,
                   apply_lora, int8_supported, load_lora_state_dict, lora_state_dict, merge_lora, quantize_int8,
                   quantize_nf4, set_lora)


def moe_cfg(**kw):
    return GPTConfig(**dict(dict(block_size=64, vocab_size=101, n_layer=2, n_head=4, n_embd=32, ffn_hidden=48,
                                 n_experts=4, moe_top_k=2), **kw))


# -------------------------------------------------------------------------------------------------- MoE

def test_moe_top2_matches_hf_mixtral():
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
    torch.manual_seed(0)
    ours = MoE(moe_cfg()).eval()
    hf = MixtralSparseMoeBlock(MixtralConfig(hidden_size=32, intermediate_size=48, num_local_experts=4,
                                             num_experts_per_tok=2, router_jitter_noise=0.0)).eval()
    with torch.no_grad():
        hf.gate.weight.copy_(ours.router.weight)
        hf.experts.gate_up_proj.copy_(ours.w_fc)
        hf.experts.down_proj.copy_(ours.c_proj)
    x = torch.randn(3, 10, 32)
    torch.testing.assert_close(ours(x), hf(x), atol=1e-6, rtol=1e-5)


def test_moe_top1_equals_token_loop():
    torch.manual_seed(1)
    moe = MoE(moe_cfg(moe_top_k=1)).eval()
    x = torch.randn(2, 7, 32)
    flat = x.reshape(-1, 32)
    probs = moe.router(flat).softmax(-1)
    ref = torch.stack([probs[i].max() * torch.nn.functional.linear(
        torch.nn.functional.silu(torch.nn.functional.linear(flat[i], moe.w_fc[e])[:48]) *
        torch.nn.functional.linear(flat[i], moe.w_fc[e])[48:], moe.c_proj[e])
        for i, e in enumerate(probs.argmax(-1).tolist())])
    torch.testing.assert_close(moe(x).reshape(-1, 32), ref, atol=1e-6, rtol=1e-5)


def test_capacity_drops_exactly_the_late_tokens():
    """6 tokens all routed to expert 0, capacity ceil(1.0 * 6 * 1 / 2) = 3: tokens 0-2 served, 3-5 dropped."""
    torch.manual_seed(0)
    moe = MoE(moe_cfg(n_experts=2, moe_top_k=1, capacity_factor=1.0))
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[0, 0] = 10.0  # expert 0 wins whenever x[..., 0] > 0
    x = torch.randn(1, 6, 32)
    x[..., 0] = torch.rand(6) + 0.5
    out = moe(x)[0]
    assert moe.stats['dropped'].item() == 3
    assert moe.stats['dropped_mask'][:, 0].tolist() == [False, False, False, True, True, True]
    assert torch.all(out[3:] == 0) and torch.all(out[:3].abs().sum(-1) > 0)
    assert moe.stats['load'].tolist() == [6, 0]


def test_moe_model_trains_with_aux_losses():
    torch.manual_seed(0)
    model = GPT(moe_cfg(moe_every=2, capacity_factor=1.25))
    assert isinstance(model.blocks[1].mlp, MoE) and not isinstance(model.blocks[0].mlp, MoE)
    x = torch.randint(0, 101, (4, 16))
    _, loss = model(x, x)
    stats = model.moe_stats()
    assert stats['aux_loss'].item() >= 2.0 - 1e-4  # E * sum f_e P_e >= top_k, equality at perfect balance
    assert stats['z_loss'].item() > 0 and stats['load'].sum().item() == 4 * 16 * 2
    loss.backward()
    assert model.blocks[1].mlp.router.weight.grad.abs().sum() > 0
    assert model.num_params(active=True) < model.num_params()


def test_bad_moe_config():
    with pytest.raises(ConfigError, match='moe_top_k=3 must be between 1 and n_experts=2'):
        moe_cfg(n_experts=2, moe_top_k=3)


# -------------------------------------------------------------------------------------------------- sinks

def test_streaming_cache_equals_normal_cache_before_it_fills():
    torch.manual_seed(0)
    model = GPT(moe_cfg(n_experts=0)).eval()
    x = torch.randint(0, 101, (2, 20))
    a, b = KVCache(2, 20), StreamingKVCache(2, n_sink=4, window=16)
    for t in [8] + [1] * 12:
        pos = a.pos
        la, _ = model(x[:, pos:pos + t], cache=a)
        lb, _ = model(x[:, pos:pos + t], cache=b)
        torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('n_sink', [4, 0])
def test_streaming_equals_recompute_on_sinks_plus_recent(n_sink):
    """Past the cache size, each step must equal a fresh forward over [first n_sink tokens] + [last window tokens]
    with positions 0..S-1: the cache assigns positions by slot, as StreamingLLM does. One layer, so that cached
    keys/values depend on their token alone (deeper, they keep the context they were computed in, by design)."""
    torch.manual_seed(0)
    model = GPT(moe_cfg(n_experts=0, n_kv_head=2, n_layer=1)).eval()
    window = 12
    x = torch.randint(0, 101, (1, 60))
    cache = StreamingKVCache(1, n_sink=n_sink, window=window)
    model(x[:, :n_sink + window], cache=cache)
    for t in range(n_sink + window, 60):
        logits, _ = model(x[:, t:t + 1], cache=cache)
        ctx = torch.cat([x[:, :n_sink], x[:, t - window + 1:t + 1]], dim=1)
        ref, _ = model(ctx)
        torch.testing.assert_close(logits[:, -1], ref[:, -1], atol=1e-4, rtol=1e-4)
    assert cache.seen == 60 and cache.pos == n_sink + window


def test_streaming_generation_runs_past_block_size():
    torch.manual_seed(0)
    model = GPT(moe_cfg(n_experts=0, block_size=32)).eval()
    x = torch.randint(0, 101, (2, 40))  # the prompt alone is longer than the context
    out = model.generate(x, 100, temperature=0, window=24, n_sink=4)
    assert out.shape == (2, 140)
    with pytest.raises(ConfigError, match='exceeds block_size'):
        model.generate(x, 5, window=40, n_sink=4)
    with pytest.raises(ConfigError, match='0 <= n_sink < window'):
        StreamingKVCache(2, n_sink=4, window=4)


# -------------------------------------------------------------------------------------------------- LoRA

def tiny_gpt():
    torch.manual_seed(0)
    return GPT(moe_cfg(n_experts=0)).eval()


def test_lora_starts_as_identity_merges_exactly_and_counts_params():
    model = tiny_gpt()
    x = torch.randint(0, 101, (2, 12))
    before, _ = model(x)
    names = apply_lora(model, targets=('c_attn', 'c_proj'), r=4, alpha=8)
    assert len(names) == 2 * 3  # per block: attn.c_attn, attn.c_proj, mlp.c_proj
    torch.testing.assert_close(model(x)[0], before, atol=0, rtol=0)  # B = 0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # r * (in + out) per target: c_attn 32 -> 96, attn.c_proj 32 -> 32, mlp.c_proj 48 -> 32
    assert trainable == 2 * 4 * ((32 + 96) + (32 + 32) + (48 + 32))
    for m in model.modules():
        if isinstance(m, LoRALinear):
            nn.init.normal_(m.lora_B, std=0.1)
    unmerged, _ = model(x)
    assert not torch.allclose(unmerged, before)
    set_lora(model, merged=True)
    torch.testing.assert_close(model(x)[0], unmerged, atol=1e-5, rtol=1e-5)
    set_lora(model, merged=False)
    torch.testing.assert_close(model(x)[0], unmerged, atol=1e-5, rtol=1e-5)
    set_lora(model, enabled=False)
    torch.testing.assert_close(model(x)[0], before, atol=1e-5, rtol=1e-5)  # the frozen reference, for DPO


def test_lora_adapter_save_load_and_bad_targets():
    a, b = tiny_gpt(), tiny_gpt()
    apply_lora(a, ('c_attn',), r=2)
    apply_lora(b, ('c_attn',), r=2)
    for m in a.modules():
        if isinstance(m, LoRALinear):
            nn.init.normal_(m.lora_B)
    state = lora_state_dict(a)
    assert set(state) == {f'blocks.{i}.attn.c_attn.lora_{w}' for i in range(2) for w in 'AB'}
    load_lora_state_dict(b, state)
    x = torch.randint(0, 101, (1, 9))
    torch.testing.assert_close(a(x)[0], b(x)[0])
    with pytest.raises(ConfigError, match='match no linear layer'):
        apply_lora(tiny_gpt(), ('q_proj',))


@pytest.mark.parametrize('family', ['gpt2', 't5', 'llama'])
def test_lora_on_hf_models(family):
    import transformers as tf
    torch.manual_seed(0)
    if family == 'gpt2':
        model = tf.GPT2LMHeadModel(tf.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64))
        targets, inputs = ('c_attn',), dict(input_ids=torch.randint(0, 100, (2, 10)))
    elif family == 't5':
        model = tf.T5ForConditionalGeneration(tf.T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                                          vocab_size=100, decoder_start_token_id=0))
        targets = ('q', 'v')
        inputs = dict(input_ids=torch.randint(0, 100, (2, 10)), decoder_input_ids=torch.randint(0, 100, (2, 5)))
    else:
        model = tf.LlamaForCausalLM(tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=100))
        targets, inputs = ('q_proj', 'v_proj'), dict(input_ids=torch.randint(0, 100, (2, 10)))
    model.eval()
    before = model(**inputs).logits
    keys = set(model.state_dict())
    names = apply_lora(model, targets, r=4)
    assert names and all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    torch.testing.assert_close(model(**inputs).logits, before)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            nn.init.normal_(m.lora_B, std=0.05)
    out = model(**inputs).logits
    out.sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if 'lora_' not in n)
    set_lora(model, merged=True)
    torch.testing.assert_close(model(**inputs).logits, out, atol=1e-5, rtol=1e-4)
    # merge_lora: the plain architecture back (what save_pretrained writes), the adapted outputs kept
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules()) and set(model.state_dict()) == keys
    torch.testing.assert_close(model(**inputs).logits, out, atol=1e-5, rtol=1e-4)


# -------------------------------------------------------------------------------------------------- NF4

def test_nf4_roundtrip_error_and_memory():
    torch.manual_seed(0)
    lin = nn.Linear(256, 128, bias=False)
    q = NF4Linear(lin)
    err = (q.weight - lin.weight).abs().mean() / lin.weight.abs().mean()
    assert err < 0.1  # 4-bit: ~8% mean relative error on uniform init
    assert q.packed.numel() + 4 * q.absmax.numel() == 128 * 256 // 2 + 4 * 128 * 256 // 64
    x = torch.randn(3, 256)
    torch.testing.assert_close(q(x), x @ q.weight.t())


# -------------------------------------------------------------------------------------------------- int8 decoding

needs_int8 = pytest.mark.skipif(not int8_supported('cpu'), reason="torch's int8 weight-only CPU kernel is missing")


@needs_int8
def test_int8_linear_is_codes_times_scale():
    torch.manual_seed(0)
    lin = nn.Linear(96, 40, bias=False)
    q = Int8Linear(lin)
    w = q.codes.float() * q.scale.float()[:, None]                   # the weight it stands for, by hand
    step = q.scale.float()[:, None]                                  # one code step per row
    assert ((w - lin.weight).abs() <= 0.5 * step * (1 + 1e-3)).all()   # round to the nearest code
    assert q.codes.abs().max() >= 126 and q.codes.dtype == torch.int8  # the row's absmax uses the full range
    x = torch.randn(2, 5, 96)
    expect = x.bfloat16().float() @ w.t()                            # what the kernel computes, in fp32
    torch.testing.assert_close(q(x), expect, atol=3e-2, rtol=2e-2)   # its output is rounded to bf16


def counting_model():
    """A tiny model trained until it is sure of its next token (count up mod V): greedy decoding is decisive."""
    torch.manual_seed(0)
    model = GPT(moe_cfg(n_experts=0, n_embd=64, n_head=4, ffn_hidden=128))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        seq = (torch.randint(0, 101, (16, 1)) + torch.arange(33)) % 101   # (16, 33) runs of consecutive ids
        _, loss = model(seq[:, :-1], seq[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.1, loss.item()
    return model.eval()


@needs_int8
def test_int8_decoding_keeps_greedy_tokens_and_bounds_the_logits():
    model = counting_model()
    q = copy.deepcopy(model)
    assert quantize_int8(q) == 2 * 4 + 1                               # c_attn, c_proj, c_fc, c_proj x 2, head
    assert isinstance(q.lm_head, Int8Linear) and isinstance(q.wte, nn.Embedding)  # the lookup stays fp32
    x = torch.randint(0, 101, (4, 8))
    with torch.no_grad():
        ref, got = model(x)[0], q(x)[0]
    spread = ref.amax(-1) - ref.amin(-1)                               # logit range of each position
    assert ((got - ref).abs().amax(-1) < 0.02 * spread).all()          # stated bound: 2% of the logit range
    torch.testing.assert_close(q.generate(x, 24, temperature=0), model.generate(x, 24, temperature=0), rtol=0, atol=0)


def test_int8_falls_back_to_fp32_where_the_kernel_is_missing(monkeypatch):
    monkeypatch.setattr(model_module, 'int8_supported', lambda device: False)
    model = tiny_gpt()
    assert quantize_int8(model) == 0 and not any(isinstance(m, Int8Linear) for m in model.modules())


def test_lora_trains_on_a_4bit_base():
    model = tiny_gpt()
    with torch.no_grad():  # a frozen 0.02-std tied head caps logits at ~0.6: give it the scale of a trained one
        model.wte.weight.mul_(50)
    apply_lora(model, ('c_attn', 'c_proj', 'c_fc'), r=4)
    saved = quantize_nf4(model)
    assert saved > 0 and isinstance(model.blocks[0].attn.c_attn.base, NF4Linear)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    x, y = torch.randint(0, 101, (4, 16)), torch.randint(0, 101, (4, 16))  # memorise random targets
    losses = []
    for _ in range(30):
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0, losses
    with pytest.raises(ConfigError, match='cannot merge LoRA into a 4-bit base'):
        set_lora(model, merged=True)


def test_sink_token_pretraining_flag():
    torch.manual_seed(0)
    model = GPT(moe_cfg(n_experts=0, sink_token=True, block_size=32))
    x = torch.randint(0, 101, (2, 32))  # a full context: the sink is an extra position, not a lost token
    logits, loss = model(x, x)
    assert logits.shape == (2, 32, 101)
    loss.backward()
    assert model.sink.grad.abs().sum() > 0
    model.eval()
    a = model.generate(x[:, :8], 20, temperature=0)
    b = model.generate(x[:, :8], 20, temperature=0, use_cache=False)
    assert torch.equal(a, b)
    long = model.generate(x, 60, temperature=0, window=31, n_sink=1)  # slot 0 holds the learned sink
    assert long.shape == (2, 92)
    with pytest.raises(ConfigError, match='only dense models'):
        model.to_hf_state_dict()


def test_attention_maps_reproduce_the_sdpa_output():
    """The explicit probabilities, applied to V and projected, give back the attention block's output."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=16, vocab_size=50)).eval()
    idx = torch.randint(0, 50, (2, 12))
    maps = model.attention_maps(idx)
    assert maps.shape == (2, 2, 4, 12, 12)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 2, 4, 12)) and maps.triu(1).abs().max() == 0
    attn = model.blocks[0].attn
    x = model.blocks[0].norm1(model.wte(idx))
    _, _, v = attn.c_attn(x).split([4 * attn.hd, 2 * attn.hd, 2 * attn.hd], -1)
    v = v.view(2, 12, 2, attn.hd).transpose(1, 2).repeat_interleave(2, dim=1)
    y = (maps[0] @ v).transpose(1, 2).reshape(2, 12, -1)
    cos, sin = model.rope(12)
    assert torch.allclose(attn.c_proj(y), attn(x, cos[:12], sin[:12]), atol=1e-5)
