"""
WikiText-103 (raw, Merity et al. 2016): 103M words of Wikipedia, ~117M GPT-2 tokens, 50x WikiText-2's training
set and the same articles' style, so WikiText-2 validation stays a fair evaluation. -> train.bin / val.bin /
test.bin + meta.json in this folder (~0.25 GB).
Online: datasets.load_dataset('wikitext', 'wikitext-103-raw-v1', streaming=True). Offline:
$DATA_DIR/wikitext103/{train,validation,test}.txt in the original wiki.<split>.raw layout (as wikitext2/).
Rows stream through the tokenizer: memory stays at a few tens of MB whatever the split's size.
    python data/wikitext103/prepare.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import token_dir, configure, text_pieces, wikitext_rows, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
max_tokens = 0               # > 0: cut the training split there (a quick run); 0 = all of it
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

SPLITS = {'train': 'train', 'val': 'validation', 'test': 'test'}
TOKENS = 117_000_000 + 2 * 250_000  # train + val + test with GPT-2 BPE (~1.1 tokens a word): the disk estimate


if __name__ == '__main__':
    splits = {ours: text_pieces(wikitext_rows(theirs, 'wikitext103')) for ours, theirs in SPLITS.items()}
    write_token_dataset(out_dir, splits, source='wikitext-103-raw-v1', tokenizer=tokenizer,
                        max_tokens={'train': max_tokens}, est_tokens=max_tokens + 500_000 if max_tokens else TOKENS)
