"""The tests' warm interpreter (tests/forkserver.py) runs a script as a fresh `python script.py` would: checked
against a plain subprocess on the same script, case by case."""
import os
import subprocess
import sys

import pytest

from conftest import REPO, forked_run

SCRIPT = r'''
import os, sys
print('argv', sys.argv[1:], 'cwd', os.getcwd(), 'path0', sys.path[0], 'name', __name__, 'env', os.environ.get('X_T'))
print('stdin', repr(sys.stdin.read()))
case = sys.argv[1]
if case == 'exit3':
    sys.exit(3)
if case == 'exit_text':
    sys.exit('bad thing')
if case == 'raise':
    raise ValueError('boom')
if case == 'hook':  # a script's own excepthook (common.py prints UserError as one line)
    sys.excepthook = lambda kind, value, tb: print('error:', value, file=sys.stderr)
    raise ValueError('one line')
if case == 'atexit':
    import atexit
    atexit.register(lambda: print('atexit ran'))
'''


@pytest.mark.parametrize('case', ['ok', 'exit3', 'exit_text', 'raise', 'hook', 'atexit'])
def test_forked_run_is_a_fresh_interpreter(case, tmp_path):
    script = tmp_path / 'sub' / 's.py'
    script.parent.mkdir()
    script.write_text(SCRIPT)
    env = dict(os.environ, X_T=case)
    argv = [str(script), case, 'a b']
    plain = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
    forked = forked_run(argv, env, dict(os.environ), timeout=60)
    assert forked.returncode == plain.returncode and forked.stdout == plain.stdout, (forked, plain)
    # tracebacks differ only in runpy's frames: compare the last line
    assert forked.stderr.strip().splitlines()[-1:] == plain.stderr.strip().splitlines()[-1:], (forked, plain)


def test_forked_run_timeout_kills_the_child(tmp_path):
    script = tmp_path / 'sleep.py'
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired) as e:
        forked_run([str(script)], dict(os.environ), dict(os.environ), timeout=2)
    assert e.value.output == 'started\n'
    # the server still answers after a kill
    script.write_text("print('again')\n")
    assert forked_run([str(script)], dict(os.environ), dict(os.environ), timeout=60).stdout == 'again\n'
