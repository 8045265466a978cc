"""
Tiny Shakespeare (karpathy/char-rnn) with GPT-2 BPE -> train.bin / val.bin + meta.json; last 10% is validation.
Offline: $DATA_DIR/shakespeare/input.txt. Online: downloaded from the char-rnn repository.
"""
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import token_dir, configure, data_dir, write_token_dataset  # noqa: E402

tokenizer = 'gpt2'           # or gpt2_8k: GPT-2 BPE cut to 8192 ids, for CPU-scale models
out_dir = ''                 # '' = data/<name> for gpt2, data/<name>_8k for gpt2_8k
configure(globals())
out_dir = out_dir or token_dir(__file__, tokenizer)

URL = 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'

if __name__ == '__main__':
    local = data_dir('shakespeare')
    if local is None:
        text = urllib.request.urlopen(URL, timeout=60).read().decode('utf-8')
    else:
        with open(os.path.join(local, 'input.txt'), encoding='utf-8') as f:
            text = f.read()
    cut = int(len(text) * 0.9)
    write_token_dataset(out_dir, {'train': text[:cut], 'val': text[cut:]}, source='tiny-shakespeare', tokenizer=tokenizer)
