"""
Any text you have -> train.bin / val.bin + meta.json (GPT-2 BPE). `input` is a .txt file or a folder of them;
documents (files) are joined with <|endoftext|>, which may also appear in the text itself as a separator.
Validation is `val_input` if given, else the last `val_fraction` of the text (cut at a line boundary).
    python data/text/prepare.py --input=my_corpus/ --out_dir=data/mytext
    python data/text/prepare.py --input=$DATA_DIR/gutenberg/train.txt --val_input=$DATA_DIR/gutenberg/validation.txt --out_dir=data/gutenberg
"""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import EOT, token_dir, UserError, configure, joined, write_token_dataset  # noqa: E402

input = ''
val_input = ''
val_fraction = 0.05
tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids, for CPU-scale models
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

def read_text(path):
    files = sorted(glob.glob(os.path.join(path, '**', '*.txt'), recursive=True)) if os.path.isdir(path) else [path]
    if not path or not files or not all(os.path.isfile(f) for f in files):
        raise UserError(f"input '{path}' is not a text file or a folder with .txt files")
    docs = []
    for f in files:
        with open(f, encoding='utf-8', errors='replace') as fh:
            docs.append(fh.read().strip('\n'))
    return ''.join(joined(docs))


if __name__ == '__main__':
    text = read_text(input)
    if val_input:
        splits = {'train': text, 'val': read_text(val_input)}
    else:
        cut = text.rfind('\n', 0, int(len(text) * (1 - val_fraction))) + 1 or int(len(text) * (1 - val_fraction))
        splits = {'train': text[:cut], 'val': text[cut:]}
    write_token_dataset(out_dir, splits, source=os.path.abspath(input), allowed_special={EOT}, tokenizer=tokenizer)
