"""
WikiText-2 (raw, Merity et al. 2016) -> train.bin / val.bin / test.bin + meta.json in this folder.
Online: datasets.load_dataset('wikitext', 'wikitext-2-raw-v1'). Offline: $DATA_DIR/wikitext2/{train,validation,test}.txt,
turned into the exact rows the hub version has, so both routes give the same tokens.
    python data/wikitext2/prepare.py            # or DATA_DIR=../shared/data python data/wikitext2/prepare.py
WikiText-2's 2M training tokens suit the CPU models; the evaluation set of every config, so numbers compare.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import token_dir, configure, wikitext2_text, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids, for CPU-scale models
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

SPLITS = {'train': 'train', 'val': 'validation', 'test': 'test'}


if __name__ == '__main__':
    splits = {ours: wikitext2_text(theirs) for ours, theirs in SPLITS.items()}
    write_token_dataset(out_dir, splits, source='wikitext-2-raw-v1', tokenizer=tokenizer)
