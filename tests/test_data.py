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


def test_streamed_pieces_encode_like_the_whole_text():
    """Rows streamed through text_pieces (tiny pieces here) and documents through joined() give exactly the ids
    of encoding the whole text at once: streaming changes memory, never tokens."""
    enc = get_tokenizer('gpt2')
    rows = list(common.wikitext_rows('validation'))[:3000]
    ids = [t for piece in common.text_pieces(iter(rows), size=997) for t in enc.encode(piece)]
    assert ids == enc.encode(''.join(rows))
    docs = ['First page.\n\nIt has two paragraphs.', 'Second page: 3 + 4 = 7.', 'Third.']
    pieces = list(common.joined(docs))
    assert ''.join(pieces) == '\n<|endoftext|>\n'.join(docs)
    assert [t for p in pieces for t in enc.encode(p, allowed_special='all')] == \
        enc.encode('\n<|endoftext|>\n'.join(docs), allowed_special='all')


def test_writer_streams_a_corpus_it_cannot_hold(tmp_path):
    """An endless stream with a cap: the writer stops at the cap, so it never holds the stream."""
    import itertools
    meta = write_token_dataset(str(tmp_path), {'train': itertools.cycle(['Some words here.\n', 'More of them.\n'])},
                               source='endless', max_tokens={'train': 50_000})
    assert meta['splits']['train']['tokens'] == 50_000 == len(np.fromfile(tmp_path / 'train.bin', dtype=np.uint16))
    assert not os.path.exists(tmp_path / 'train.bin.tmp')


def local_data(tmp_path, **folders):
    """A DATA_DIR of our own: the GPT-2 BPE files, plus {name: source folder} links."""
    data = tmp_path / 'data'
    data.mkdir()
    for name, src in dict(gpt2_bpe=os.path.join(os.environ['DATA_DIR'], 'gpt2_bpe'), **folders).items():
        os.symlink(src, data / name)
    return data


def test_wikitext103_prepare_from_local_fixture(tmp_path):
    """WikiText-103 has WikiText-2's layout: the local route is tested on WikiText-2's files under its name,
    with the training split cut at max_tokens."""
    data = local_data(tmp_path, wikitext103=os.path.join(os.environ['DATA_DIR'], 'wikitext2'))
    p = run('data/wikitext103/prepare.py', f'--out_dir={tmp_path}/wt', '--max_tokens=30000', env={'DATA_DIR': str(data)})
    assert 'writing ~' in p.stdout and 'GB free' in p.stdout
    enc = get_tokenizer('gpt2')
    raw = open(os.path.join(os.environ['DATA_DIR'], 'wikitext2', 'validation.txt'), encoding='utf-8').read()
    rows = [line + '\n' if line.strip() else '' for line in raw.split('\n')[:-1]]
    assert np.fromfile(tmp_path / 'wt' / 'val.bin', dtype=np.uint16).tolist() == enc.encode(''.join(rows))
    train = np.fromfile(tmp_path / 'wt' / 'train.bin', dtype=np.uint16).tolist()
    head = open(os.path.join(os.environ['DATA_DIR'], 'wikitext2', 'train.txt'), encoding='utf-8').read()[:400_000]
    head_rows = [line + '\n' if line.strip() else '' for line in head.split('\n')[:-1]]
    assert len(train) == 30000 and train == enc.encode(''.join(head_rows))[:30000]
    meta = json.load(open(tmp_path / 'wt' / 'meta.json'))
    assert meta['source'] == 'wikitext-103-raw-v1' and meta['splits']['train']['tokens'] == 30000


@pytest.mark.parametrize('kind', ['jsonl', 'parquet'])
def test_fineweb_edu_prepare_from_local_fixture(tmp_path, kind):
    """FineWeb-Edu offline: the hub's parquet shards (or JSONL) with a 'text' column, streamed through the same
    loader. Validation is the start of the stream, train continues after it: no page is in both."""
    src = tmp_path / 'fw'
    src.mkdir()
    docs = [f'Page {i}: the {"quick " * (i % 7)}brown fox number {i * 37} jumps.\n\nSecond paragraph {i}.'
            for i in range(400)]
    if kind == 'jsonl':
        with open(src / 'shard_000.jsonl', 'w') as f:
            f.writelines(json.dumps({'text': d, 'id': i}) + '\n' for i, d in enumerate(docs))
    else:
        import pyarrow
        import pyarrow.parquet
        pyarrow.parquet.write_table(pyarrow.table({'text': docs[:200]}), src / 'a.parquet')
        pyarrow.parquet.write_table(pyarrow.table({'text': docs[200:]}), src / 'b.parquet')
    data = local_data(tmp_path, fineweb_edu=str(src))
    out = tmp_path / 'out'
    run('data/fineweb_edu/prepare.py', f'--out_dir={out}', '--val_tokens=2000', '--max_tokens=5000',
        env={'DATA_DIR': str(data)})
    enc = get_tokenizer('gpt2')
    full = enc.encode('\n<|endoftext|>\n'.join(docs), allowed_special='all')
    val = np.fromfile(out / 'val.bin', dtype=np.uint16).tolist()
    train = np.fromfile(out / 'train.bin', dtype=np.uint16).tolist()
    assert len(val) == 2000 and full[:2000] == val
    assert len(train) == 5000
    assert any(full[i:i + 5000] == train for i in range(2000, len(full)))  # a later stretch of the stream
    assert train[:2] == [198, enc.eot_token]  # it starts at a page boundary: '\n', <|endoftext|>
    meta = json.load(open(out / 'meta.json'))
    assert meta['splits']['val']['tokens'] == 2000 and meta['tokenizer'] == 'gpt2'


def test_prepare_refuses_what_the_disk_cannot_hold(tmp_path):
    src = tmp_path / 'fw'
    src.mkdir()
    (src / 'x.jsonl').write_text(json.dumps({'text': 'hello'}) + '\n')
    data = local_data(tmp_path, fineweb_edu=str(src))
    p = run('data/fineweb_edu/prepare.py', f'--out_dir={tmp_path}/o', '--max_tokens=1000000000000000',
            env={'DATA_DIR': str(data)}, check=False)
    assert p.returncode == 1 and 'GB free but the token files need' in p.stderr and 'Traceback' not in p.stderr
    assert not os.path.exists(tmp_path / 'o' / 'train.bin')
    (src / 'x.jsonl').unlink()
    p = run('data/fineweb_edu/prepare.py', f'--out_dir={tmp_path}/o', env={'DATA_DIR': str(data)}, check=False)
    assert p.returncode == 1 and "holds no *.parquet or *.jsonl files" in p.stderr
