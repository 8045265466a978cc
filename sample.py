"""
Sample from a trained model, streaming tokens as they come.
    python sample.py --out_dir=out/tiny --start="The history of" --num_samples=2
    python sample.py --ckpt=out/tiny/hf --start=FILE:prompt.txt     # an exported Hugging Face folder
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import sys

import torch

from common import UserError, configure, load_for_inference, setup_runtime
from model import quantize_int8

# -----------------------------------------------------------------------------
out_dir = 'out/tiny'          # reads out_dir/ckpt.pt, as in nanoGPT
ckpt = ''                     # or an explicit checkpoint file / exported HF folder
start = '\n'                  # prompt text, or FILE:path to read it from a file
num_samples = 3
max_new_tokens = 200
temperature = 0.8             # 0 = greedy
top_k = 200                   # 0 = off
top_p = 0.95                  # 1.0 = off
seed = 1337
device = 'auto'
dtype = 'auto'
use_cache = True              # False = recompute the whole window every token (nanoGPT's way, slow)
quantize = ''                 # 'int8': weight-only int8 linears (a quarter of the bytes a token reads; CPU only)
compile = False               # torch.compile the one-token decode step (GPT.compile_decode): pays for long samples
# -----------------------------------------------------------------------------
configure(globals())
if quantize not in ('', 'int8'):
    raise UserError(f"quantize={quantize!r}: use '' (fp32) or 'int8'")
rt = setup_runtime(device, dtype, seed)

model, enc, _ = load_for_inference(ckpt or os.path.join(out_dir, 'ckpt.pt'), rt['device'])
if quantize and not quantize_int8(model):
    print("(int8 decoding needs torch's int8 weight-only CPU kernel; it is not available here: decoding in fp32)",
          file=sys.stderr)
if compile and use_cache:
    model.compile_decode()
if start.startswith('FILE:'):
    with open(start[5:], encoding='utf-8') as f:
        start = f.read()
ids = enc.encode(start, allowed_special={'<|endoftext|>'})
if not ids:
    raise UserError("the prompt is empty after tokenization; pass --start=...")
if len(ids) >= model.config.block_size:
    raise UserError(f"prompt has {len(ids)} tokens but the model's context is {model.config.block_size}; shorten it")
max_new = min(max_new_tokens, model.config.block_size - len(ids)) if use_cache else max_new_tokens
if max_new < max_new_tokens:
    print(f"(generating {max_new} tokens: prompt + new tokens must fit the {model.config.block_size}-token context)",
          file=sys.stderr)

x = torch.tensor([ids], dtype=torch.long, device=rt['device'])
generator = torch.Generator(rt['device']).manual_seed(seed)
for k in range(num_samples):
    out, printed = [], ''
    print(start, end='', flush=True)
    with rt['autocast']:
        for tok in model.stream(x, max_new, temperature=temperature, top_k=top_k or None, top_p=top_p,
                                stop_tokens=(enc.eot_token,), generator=generator, use_cache=use_cache):
            if tok.item() == enc.eot_token:
                break
            out.append(tok.item())
            text = enc.decode(out)  # decode the whole tail so multi-byte characters print whole
            if not text.endswith('\ufffd'):
                print(text[len(printed):], end='', flush=True)
                printed = text
    print('\n' + '-' * 40, flush=True)
