"""
TinyStories (Eldan & Li 2023) -> train.bin / val.bin + meta.json, stories separated by <|endoftext|>.
~470M GPT-2 tokens of simple stories (train), enough for train_medium at under one epoch; streamed, so memory
stays bounded. Online: datasets.load_dataset('roneneldan/TinyStories', streaming=True). Offline:
$DATA_DIR/tinystories/{train,validation}.txt in the original release's layout (stories separated by a line
'<|endoftext|>'). max_stories caps each split (0 = all) for quick CPU runs.
"""
import itertools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import EOT, token_dir, configure, data_dir, hub_texts, joined, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids, for CPU-scale models
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
max_stories = 0
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

TOKENS = 475_000_000  # train + validation with GPT-2 BPE: the disk estimate


def stories(split):
    """One split's stories, stripped, read a line at a time from the local file (1.9 GB for train)."""
    local = data_dir('tinystories')
    if local is None:
        yield from hub_texts('roneneldan/TinyStories', split=split)
        return
    story = []
    with open(os.path.join(local, f'{split}.txt'), encoding='utf-8') as f:
        for line in itertools.chain(f, [EOT]):
            if line.strip() == EOT:
                yield ''.join(story)
                story = []
            else:
                story.append(line)


def load_stories(split):
    kept = (s.strip() for s in stories(split) if s.strip())
    return itertools.islice(kept, max_stories or None)


if __name__ == '__main__':
    splits = {ours: joined(load_stories(theirs)) for ours, theirs in {'train': 'train', 'val': 'validation'}.items()}
    write_token_dataset(out_dir, splits, source='TinyStories', allowed_special={EOT}, tokenizer=tokenizer,
                        est_tokens=TOKENS if not max_stories else 2 * 300 * max_stories)
