"""A warm interpreter for the tests' script runs (conftest.run): it imports the heavy third-party packages once
(torch, transformers and its model classes, rouge-score, matplotlib) and forks one child per
`python script.py args` request. Most of a test's script run was those imports (3 s for torch, up to 15 s with
transformers on a slow 2-core host, against ~2 s of work), so the suite spent over half its time importing.

A child sees what a fresh `python script.py args` would: its own argv, environment, working directory,
sys.path[0], stdin (/dev/null), stdout/stderr (the files named in the request), a fresh __main__, and the
interpreter's exit-code rules. Only modules that were already imported are shared; the repo's own modules are
never imported here, so each run imports them from the working tree. Nothing runs a thread or an OpenMP
region before the fork (forking after either is unsafe); the environment the packages read at import time
(OMP_NUM_THREADS=1, ...) is conftest.run's, and run() uses a plain subprocess when a test changes more than DATA_DIR.

Protocol, one request at a time, a JSON line each way on stdin/stdout:
    {"argv": [script, args...], "env": {...}, "cwd": dir, "out": path, "err": path, "timeout": seconds}
    -> {"code": exit_code (negative: killed by that signal), "timed_out": bool} when the child has exited
    (a child still running after `timeout` seconds is killed, as subprocess.run's timeout does).
"""
import json
import os
import runpy
import signal
import sys
import time

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot  # noqa: E402,F401
import numpy  # noqa: E402,F401
import torch  # noqa: E402,F401
import torch.nn.functional  # noqa: E402,F401
import tqdm  # noqa: E402,F401
import transformers  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402,F401

# the lazy model modules the tests' tiny HF folders (gpt2, llama, t5) and the export path load
for name in ('AutoConfig', 'AutoTokenizer', 'AutoModelForCausalLM', 'AutoModelForSeq2SeqLM', 'GPT2LMHeadModel',
             'LlamaForCausalLM', 'T5ForConditionalGeneration', 'GPT2TokenizerFast', 'PreTrainedTokenizerFast'):
    getattr(transformers, name)


def exit_code(e):
    """The interpreter's rule for an uncaught SystemExit: None -> 0, an int -> itself, else printed and 1."""
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    print(e.code, file=sys.stderr)
    return 1


def child(req):
    """Become `python argv[0] argv[1:]` and never return."""
    code = 1
    try:
        os.chdir(req['cwd'])
        os.environ.clear()
        os.environ.update(req['env'])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, path in ((1, req['out']), (2, req['err'])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = list(req['argv'])
        sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))  # as `python script.py` sets it
        try:
            runpy.run_path(sys.argv[0], run_name='__main__')
            code = 0
        except SystemExit as e:
            code = exit_code(e)
        except BaseException:
            sys.excepthook(*sys.exc_info())  # the script's own hook (common.py prints UserError as one line)
        import atexit
        atexit._run_exitfuncs()
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        os._exit(code)


def main():
    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(req)
        deadline, timed_out = time.monotonic() + req['timeout'], False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline and not timed_out:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
            time.sleep(0.01)
        print(json.dumps({'code': os.waitstatus_to_exitcode(status), 'timed_out': timed_out}), flush=True)


if __name__ == '__main__':
    main()
