import pytest

from common import UserError, configure, split_suite


def defaults():
    return dict(out_dir='out', batch_size=8, learning_rate=1e-3, compile=False, n_kv_head=None, betas=(0.9, 0.95))


def test_file_then_overrides(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text("import math\nbatch_size = 4\nlearning_rate = 2e-3\n_private = 1\ndef helper(): pass\n")
    ns = defaults()
    out = configure(ns, [str(cfg), '--batch_size=16', '--out_dir=runs/x', '--compile=True', '--n_kv_head=2'])
    assert out == dict(out_dir='runs/x', batch_size=16, learning_rate=2e-3, compile=True, n_kv_head=2, betas=(0.9, 0.95))
    assert ns['batch_size'] == 16


def test_int_to_float_allowed_and_tuple_from_list():
    ns = defaults()
    configure(ns, ['--learning_rate=1', '--betas=[0.8,0.9]'])
    assert ns['learning_rate'] == 1.0 and isinstance(ns['learning_rate'], float)
    assert ns['betas'] == (0.8, 0.9)


@pytest.mark.parametrize('arg, message', [
    ('--batch_size=8.5', "config key 'batch_size' expects int"),
    ('--compile=1', "config key 'compile' expects bool"),
    ('--learning_rate=fast', "config key 'learning_rate' expects float"),
    ('--batch_sise=3', "unknown config key 'batch_sise'; did you mean batch_size"),
    ('--batch_size', "must look like --key=value"),
])
def test_bad_overrides(arg, message):
    with pytest.raises(UserError, match=message):
        configure(defaults(), [arg])


def test_bad_config_files(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        configure(defaults(), [str(tmp_path / 'nope.py')])
    bad = tmp_path / 'bad.py'
    bad.write_text("batch_size = 1 / 0\n")
    with pytest.raises(UserError, match='ZeroDivisionError'):
        configure(defaults(), [str(bad)])
    unknown = tmp_path / 'unknown.py'
    unknown.write_text("learning_rte = 1.0\n")
    with pytest.raises(UserError, match="did you mean learning_rate"):
        configure(defaults(), [str(unknown)])


def test_split_suite():
    assert split_suite(['lm', '--ckpt=x']) == ('lm', ['--ckpt=x'])
    assert split_suite(['config/a.py']) == (None, ['config/a.py'])
