"""The CUDA path: bf16 autocast, flash SDPA with GQA, torch.compile, the KV cache on the GPU.
Skipped without CUDA (CI is CPU-only); run on a lent GPU by experiments/gpu/verify.sh."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from model import GPT, GPTConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def small_model(**kw):
    torch.manual_seed(0)
    cfg = dict(n_layer=2, n_head=8, n_kv_head=2, n_embd=256, block_size=256, vocab_size=512)
    return GPT(GPTConfig(**{**cfg, **kw})).cuda()


def test_flash_sdpa_with_gqa_matches_math_backend():
    model = small_model()
    x = torch.randint(0, 512, (2, 256), device='cuda')
    with torch.autocast('cuda', dtype=torch.bfloat16), torch.no_grad():
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # raises if flash cannot take our q/k/v layout
            flash, _ = model(x)
        with sdpa_kernel(SDPBackend.MATH):
            ref, _ = model(x)
    assert (flash.float() - ref.float()).abs().max() < 0.1  # bf16 rounding, different reduction order


def test_bf16_autocast_close_to_fp32_and_trains():
    model = small_model()
    x = torch.randint(0, 512, (4, 128), device='cuda')
    with torch.no_grad():
        _, loss32 = model(x, x)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            _, loss16 = model(x, x)
    assert abs(loss32.item() - loss16.item()) < 0.02
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        with torch.autocast('cuda', dtype=torch.bfloat16):
            _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
        first = first or loss.item()
    assert loss.item() < 0.5 * first


def test_compile_matches_eager():
    model = small_model().eval()
    x = torch.randint(0, 512, (2, 64), device='cuda')
    with torch.no_grad():
        eager, _ = model(x)
        compiled, _ = torch.compile(model)(x)
    assert torch.allclose(eager, compiled, atol=2e-3, rtol=2e-3)


def test_kv_cache_generation_matches_recompute_on_gpu():
    model = small_model().eval()
    x = torch.randint(0, 512, (2, 8), device='cuda')
    a = model.generate(x, 40, temperature=0.0, use_cache=True)
    b = model.generate(x, 40, temperature=0.0, use_cache=False)
    assert torch.equal(a, b)


def test_training_gradients_on_gpu_match_the_cpu():
    """RoPE's hand-written backward (model.RoPE) and the rest of the block give the CPU's gradients on the GPU
    (fp32, TF32 off: only the reduction order differs)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    model = small_model()
    x = torch.randint(0, 512, (2, 64), device='cuda')
    model(x, x)[1].backward()
    cpu = small_model().cpu()
    cpu(x.cpu(), x.cpu())[1].backward()
    for (name, p), q in zip(model.named_parameters(), cpu.parameters()):
        torch.testing.assert_close(p.grad.cpu(), q.grad, atol=1e-4, rtol=1e-3, msg=name)


def test_ragged_batch_and_calculator_on_gpu():
    """The generation engine on the GPU: a ragged batch decodes what each prompt decodes alone, and the
    calculator hook (which moves a step's tokens to the host once) writes the same results as on the CPU."""
    import os
    from common import get_tokenizer
    from engine import calculator_tool, generate_batch
    if not os.environ.get('DATA_DIR'):
        pytest.skip('needs DATA_DIR for the GPT-2 BPE files')
    torch.backends.cuda.matmul.allow_tf32 = False
    enc = get_tokenizer('gpt2_8k')
    model = small_model(vocab_size=8192).eval()
    prompts = ['Question: 2+2\nAnswer:', 'Question: Ava has 3 apples and buys 4 more. How many?\nAnswer:', 'Hi']
    batched = generate_batch(model, enc, prompts, max_new_tokens=16, tool=True)
    assert batched == [generate_batch(model, enc, [p], max_new_tokens=16, tool=True)[0] for p in prompts]
    ids = enc.encode(' 12*3 = <<12*3=99>> left')
    outs = []
    for device in ('cuda', 'cpu'):
        force, calls = calculator_tool(enc, 2)
        outs.append([force(torch.tensor([t, t], device=device)).tolist() for t in ids])
        assert calls[0] == 2
    assert outs[0] == outs[1] and enc.decode([r[0] for r in outs[0]]).startswith(' 12*3 = <<12*3=36>>')


def test_decoding_avoids_cudnn_attention():
    """bf16 decode steps run without cuDNN's attention (a plan for every new shape; GPT.stream), and the
    switch is restored afterwards, so training keeps it."""
    model = small_model().eval()
    x = torch.randint(0, 512, (4, 8), device='cuda')
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with torch.autocast('cuda', dtype=torch.bfloat16), torch.profiler.profile() as prof:
        model.generate(x, 12, temperature=0.0, pad=torch.tensor([0, 2, 3, 0], device='cuda'))
    assert not [e.key for e in prof.key_averages() if 'cudnn_attention' in e.key]
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
