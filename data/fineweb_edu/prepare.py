"""
FineWeb-Edu (Penedo et al. 2024, HuggingFaceFW/fineweb-edu): web pages filtered for educational value, the
pretraining corpus of nanochat and most small LMs today. The `sample-10BT` subset holds ~10B GPT-2 tokens, far more
than a 3060 trains on in a day, so this script streams it and stops at max_tokens: 1B tokens (2 GB) by default,
which every GPU config reads less than once. -> train.bin / val.bin + meta.json in this folder.
The first val_tokens of the stream are validation, the rest train: no page is in both.
Online: datasets.load_dataset('HuggingFaceFW/fineweb-edu', name='sample-10BT', streaming=True).
Offline: $DATA_DIR/fineweb_edu/ holding the same data as *.parquet or *.jsonl files with a 'text' column (the hub's
own parquet shards work as they are), read through the same streaming loader.
    python data/fineweb_edu/prepare.py                        # 1B tokens, ~2 GB, ~15 min of tokenizing on 8 cores
    python data/fineweb_edu/prepare.py --max_tokens=100000000 # a 100M-token sample
Memory stays bounded (a few hundred MB) whatever max_tokens is: documents stream through the tokenizer.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import EOT, UserError, token_dir, configure, data_dir, hub_texts, joined, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
subset = 'sample-10BT'       # the hub configuration: sample-10BT | sample-100BT | sample-350BT | default
max_tokens = 1_000_000_000   # training tokens to keep (2 bytes each on disk)
val_tokens = 5_000_000       # validation tokens, taken from the start of the stream
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)


def documents():
    """FineWeb-Edu's page texts in order, from the hub or from the local folder."""
    local = data_dir('fineweb_edu')
    if local is None:
        yield from hub_texts('HuggingFaceFW/fineweb-edu', subset, split='train')
        return
    for kind in ('parquet', 'json'):
        files = sorted(glob.glob(os.path.join(local, '**', f'*.{kind}*'), recursive=True))
        if files:
            yield from hub_texts(kind, data_files=files)
            return
    raise UserError(f"{local} holds no *.parquet or *.jsonl files with a 'text' column")


if __name__ == '__main__':
    docs = (d.strip() for d in documents() if d.strip())
    stream = joined(docs)  # one stream: val reads its share first, train continues where val stopped
    splits = {'val': stream, 'train': stream}
    write_token_dataset(out_dir, splits, source=f'HuggingFaceFW/fineweb-edu:{subset}', tokenizer=tokenizer,
                        allowed_special={EOT}, max_tokens={'val': val_tokens, 'train': max_tokens})
