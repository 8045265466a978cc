"""
Export a checkpoint to a Hugging Face LlamaForCausalLM folder (config.json, model.safetensors, tokenizer.json),
usable by finetune.py, tts.py and any transformers code:
    python export.py --ckpt=out/small/best.pt --hf_dir=out/small/hf
    python -c "from transformers import AutoModelForCausalLM as M; M.from_pretrained('out/small/hf')"
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import base64
import json

from common import configure, get_tokenizer, load_checkpoint, model_from_checkpoint

# -----------------------------------------------------------------------------
ckpt = 'out/tiny/ckpt.pt'
hf_dir = ''                   # '' = <checkpoint folder>/hf
# -----------------------------------------------------------------------------
configure(globals())


def save_hf_tokenizer(enc, folder):
    """tokenizer.json with the same BPE ranks, split pattern and <|endoftext|> as the tiktoken encoding."""
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter
    os.makedirs(folder, exist_ok=True)
    ranks_path = os.path.join(folder, 'tiktoken.bpe')  # tiktoken's own file format: base64(token) rank
    with open(ranks_path, 'w') as f:
        for token, rank in sorted(enc._mergeable_ranks.items(), key=lambda kv: kv[1]):
            f.write(f"{base64.b64encode(token).decode()} {rank}\n")
    backend = TikTokenConverter(vocab_file=ranks_path, pattern=enc._pat_str,
                                extra_special_tokens=enc._special_tokens).converted()
    eot = enc.decode([enc.eot_token])
    PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=eot, eos_token=eot).save_pretrained(folder)


def export(ckpt_path, folder):
    checkpoint = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(checkpoint)
    tokenizer = checkpoint.get('config', {}).get('tokenizer', 'gpt2')
    enc = get_tokenizer(tokenizer)
    model.export_hf(folder, eos_token_id=enc.eot_token)
    save_hf_tokenizer(enc, folder)
    with open(os.path.join(folder, 'modern_llm.json'), 'w') as f:  # lets our scripts pick the tiktoken encoding
        json.dump(dict(tokenizer=tokenizer, source_checkpoint=os.path.abspath(ckpt_path)), f, indent=2)
    return folder


if __name__ == '__main__':
    out = export(ckpt, hf_dir or os.path.join(os.path.dirname(ckpt) or '.', 'hf'))
    print(f"exported {ckpt} -> {out}")
