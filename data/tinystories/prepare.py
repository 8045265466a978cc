"""
TinyStories (Eldan & Li 2023) -> train.bin / val.bin + meta.json, stories separated by <|endoftext|>.
Online: datasets.load_dataset('roneneldan/TinyStories'). Offline: $DATA_DIR/tinystories/{train,validation}.txt in the
original release's layout (stories separated by a line '<|endoftext|>').
max_stories caps each split (0 = all) for quick CPU runs.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import token_dir, configure, data_dir, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids, for CPU-scale models
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
max_stories = 0
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

SEP = '<|endoftext|>'


def load_stories(split):
    local = data_dir('tinystories')
    if local is None:
        from datasets import load_dataset
        stories = load_dataset('roneneldan/TinyStories', split=split)['text']
    else:
        with open(os.path.join(local, f'{split}.txt'), encoding='utf-8') as f:
            stories = f.read().split(SEP)
    stories = [s.strip() for s in stories if s.strip()]
    return stories[:max_stories] if max_stories else stories


if __name__ == '__main__':
    splits = {ours: ('\n' + SEP + '\n').join(load_stories(theirs))
              for ours, theirs in {'train': 'train', 'val': 'validation'}.items()}
    write_token_dataset(out_dir, splits, source='TinyStories', allowed_special={SEP}, tokenizer=tokenizer)
