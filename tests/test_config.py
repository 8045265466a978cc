import json
import os

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


def test_provenance_is_taken_when_the_run_starts(tmp_path):
    """The commit and the code's diff hash are read when a process starts: a commit landing mid-run does not
    change them, files under experiments/ and the README (which runs rewrite) never mark the code dirty, an edit
    to code does, and the command is one a shell can rerun."""
    import shutil
    import subprocess
    import sys
    from conftest import REPO
    repo = tmp_path / 'repo'
    (repo / 'experiments').mkdir(parents=True)
    for f in ('common.py', 'model.py'):
        shutil.copy(os.path.join(REPO, f), repo / f)
    (repo / 'experiments' / 'r.json').write_text('{}\n')
    (repo / 'README.md').write_text('results: 1\n')
    git = lambda *a: subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', *a], cwd=repo, check=True,
                                    capture_output=True, text=True).stdout.strip()
    git('init', '-q')
    git('add', '.')
    git('commit', '-qm', 'one')
    first = git('rev-parse', 'HEAD')
    (repo / 'experiments' / 'r.json').write_text('{"rewritten": 1}\n')
    (repo / 'README.md').write_text('results: 2\n')  # report/make.py rewrites the README's results table
    code = ("import json, sys, common; print('started', flush=True); sys.stdin.readline(); "
            "print(json.dumps(common.provenance()))")
    (repo / 'run.py').write_text(code)  # untracked: not part of the diff either
    p = subprocess.Popen([sys.executable, 'run.py', 'two words', '--n=1'], cwd=repo, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    import time
    assert p.stdout.readline() == 'started\n'  # the process has imported common: its start state is taken
    time.sleep(1)
    (repo / 'model.py').write_text(open(repo / 'model.py').read() + '\n# an edit\n')
    git('commit', '-qam', 'two')  # lands while the run is going
    out, _ = p.communicate('go\n', timeout=60)
    row = json.loads(out)
    assert row['git_commit'] == first and row['code_dirty'] is False and row['code_diff_sha256'] is None
    assert row['command'] == f"{os.path.basename(sys.executable)} run.py 'two words' --n=1"
    assert row['wall_time_s'] >= 1 and row['hardware']['cpu_count']
    (repo / 'model.py').write_text(open(repo / 'model.py').read() + '\n# uncommitted\n')
    out = subprocess.run([sys.executable, '-c', 'import json, common; print(json.dumps(common.provenance()))'],
                         cwd=repo, capture_output=True, text=True, check=True).stdout
    row = json.loads(out)
    assert row['git_commit'] == git('rev-parse', 'HEAD') and row['code_dirty'] and len(row['code_diff_sha256']) == 16


ENTRY_SCRIPTS = ('train', 'sample', 'finetune', 'sft', 'dpo', 'verifier', 'tts', 'eval', 'viz', 'bench', 'export')


@pytest.mark.parametrize('script', ENTRY_SCRIPTS)
def test_entry_scripts_set_the_openmp_wait_policy_before_any_import(script):
    """libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when torch loads it: each entry script must set both
    before its first import other than os (PASSIVE: idle threads sleep; a 30,000 spin first: experiments/bench/spin.json)."""
    import ast
    from common import REPO
    tree = ast.parse(open(os.path.join(REPO, f'{script}.py')).read())
    env = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if [a.name for a in node.names] != ['os']:
                break
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                ast.unparse(node.value.func) == 'os.environ.setdefault':
            key, value = (ast.literal_eval(a) for a in node.value.args)
            env[key] = value
    assert env == {'OMP_WAIT_POLICY': 'PASSIVE', 'GOMP_SPINCOUNT': '30000'}
