"""Tokenizer and prepare scripts: offline GPT-2 ids, exact chunked encoding, text round-trips, clear errors."""
import json
import os

import numpy as np
import pytest

import common
from common import UserError, get_tokenizer, write_token_dataset
from conftest import needs_data_dir, run

pytestmark = needs_data_dir()


def decode_bin(path, enc):
    return enc.decode(np.fromfile(path, dtype=np.uint16).tolist())


def test_offline_tokenizer_reproduces_gpt2_ids():
    enc = get_tokenizer('gpt2')
    assert enc.encode('Hello world') == [15496, 995]
    assert enc.encode('The quick brown fox jumps over the lazy dog.') == [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]
    assert enc.encode('<|endoftext|>', allowed_special='all') == [50256]


def test_cut_vocabulary_is_a_valid_bpe():
    full, small = get_tokenizer('gpt2'), get_tokenizer('gpt2_8k')
    assert small.n_vocab == 8192 and small.eot_token == 8191
    text = open(os.path.join(os.environ['DATA_DIR'], 'wikitext2', 'validation.txt'), encoding='utf-8').read()[:200_000]
    ids = small.encode(text)
    assert max(ids) < 8191 and small.decode(ids) == text
    assert len(full.encode(text)) < len(ids) < 1.4 * len(full.encode(text))
    with pytest.raises(UserError, match='unknown tokenizer'):
        get_tokenizer('bert')


def test_chunked_encoding_equals_whole_text(tmp_path, monkeypatch):
    """write_token_dataset cuts long text into pieces for parallel encoding; the ids must not change."""
    text = open(os.path.join(os.environ['DATA_DIR'], 'wikitext2', 'validation.txt'), encoding='utf-8').read()[:300_000]
    monkeypatch.setattr(common, 'CHUNK_CHARS', 997)
    write_token_dataset(str(tmp_path), {'train': text, 'val': text[:5000]}, source='t')
    ids = np.fromfile(tmp_path / 'train.bin', dtype=np.uint16).tolist()
    assert ids == get_tokenizer('gpt2').encode(text)
    meta = json.load(open(tmp_path / 'meta.json'))
    assert meta['splits']['train'] == dict(tokens=len(ids), bytes=len(text.encode()), words=len(text.split()))


def test_wikitext2_prepare_roundtrip(tmp_path):
    run('data/wikitext2/prepare.py', f'--out_dir={tmp_path}', '--tokenizer=gpt2_8k')
    enc = get_tokenizer('gpt2_8k')
    raw = open(os.path.join(os.environ['DATA_DIR'], 'wikitext2', 'validation.txt'), encoding='utf-8').read()
    rows = [line + '\n' if line.strip() else '' for line in raw.split('\n')[:-1]]
    assert decode_bin(tmp_path / 'val.bin', enc) == ''.join(rows)
    meta = json.load(open(tmp_path / 'meta.json'))
    assert meta['tokenizer'] == 'gpt2_8k' and meta['vocab_size'] == 8192
    assert set(meta['splits']) == {'train', 'val', 'test'} and meta['splits']['test']['words'] == 241211


def test_tinystories_prepare_from_local_fixture(tmp_path):
    """TinyStories is not available offline: its local-folder route is tested on a small fixture."""
    data = tmp_path / 'data'
    (data / 'tinystories').mkdir(parents=True)
    os.symlink(os.path.join(os.environ['DATA_DIR'], 'gpt2_bpe'), data / 'gpt2_bpe')
    stories = ['Once upon a time there was a cat.\n\nIt was happy.', 'Tom had a red ball. He liked it.', 'The end.']
    for split in ('train', 'validation'):
        (data / 'tinystories' / f'{split}.txt').write_text('\n<|endoftext|>\n'.join(stories) + '\n<|endoftext|>\n')
    run('data/tinystories/prepare.py', f'--out_dir={tmp_path}/ts', env={'DATA_DIR': str(data)})
    enc = get_tokenizer('gpt2')
    assert decode_bin(tmp_path / 'ts' / 'val.bin', enc) == '\n<|endoftext|>\n'.join(stories)
    assert np.fromfile(tmp_path / 'ts' / 'train.bin', dtype=np.uint16).tolist().count(50256) == 2


def test_text_prepare_on_user_folder(tmp_path):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'in' / 'a.txt').write_text('First document.\nLine two.\n' * 50)
    (tmp_path / 'in' / 'b.txt').write_text('Second document, ünïcode ✓.\n' * 50)
    run('data/text/prepare.py', f'--input={tmp_path}/in', f'--out_dir={tmp_path}/out', '--val_fraction=0.1')
    enc = get_tokenizer('gpt2')
    whole = decode_bin(tmp_path / 'out' / 'train.bin', enc) + decode_bin(tmp_path / 'out' / 'val.bin', enc)
    assert whole == ('First document.\nLine two.\n' * 50).strip('\n') + '\n<|endoftext|>\n' + ('Second document, ünïcode ✓.\n' * 50).strip('\n')
    p = run('data/text/prepare.py', f'--input={tmp_path}/nothing_here', check=False)
    assert p.returncode == 1 and 'is not a text file or a folder' in p.stderr


def test_bad_data_dir_is_a_clear_error(tmp_path):
    p = run('data/wikitext2/prepare.py', f'--out_dir={tmp_path}', env={'DATA_DIR': str(tmp_path / 'nope')}, check=False)
    assert p.returncode == 1 and 'is not a directory' in p.stderr and 'Traceback' not in p.stderr
    p = run('data/wikitext2/prepare.py', f'--out_dir={tmp_path}', env={'DATA_DIR': str(tmp_path)}, check=False)
    assert p.returncode == 1 and "has no 'wikitext2/' folder" in p.stderr
