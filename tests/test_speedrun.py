"""speedrun.sh's stage commands, both scales, without running them: `bash speedrun.sh plan` prints each stage's
command, and each command's arguments go through the script's own configurator (common.configure: config files
exist and load, every --key is one of the script's config keys, every value has the key's type). The defaults are
read from the script's source (its top-level assignments before configure()), so no script runs."""
import ast
import os
import shlex
import subprocess

import pytest

from common import REPO, configure, split_suite


def config_defaults(script):
    """The config block of an entry script: its top-level `name = literal` assignments (or those at the top of its
    `if __name__ == '__main__':` block, where other stages import the script) before configure() is called (an
    assignment that is not a literal, such as a path built from __file__, accepts any value)."""
    with open(os.path.join(REPO, script)) as f:
        body = ast.parse(f.read()).body
    defaults = {}
    while body:
        node = body.pop(0)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'":
            body = node.body  # the config block and the rest of the script
            continue
        if 'configure(' in ast.unparse(node):
            return defaults
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.islower():
                    try:
                        defaults[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        defaults[target.id] = None
    raise AssertionError(f"{script} never calls configure()")


@pytest.mark.parametrize('scale', ['cpu', 'gpu'])
def test_speedrun_stage_commands_pass_their_configurators(scale, monkeypatch):
    env = dict(os.environ, SCALE=scale)
    env.pop('DATA_DIR', None)
    out = subprocess.run(['bash', 'speedrun.sh', 'plan'], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    stages = [line.split('\t', 1) for line in out.stdout.splitlines() if '\t' in line]
    names = [name for name, _ in stages]
    assert {'pretrain', 'sft', 'dpo', 'verifier', 'eval_alignment', 'eval_long', 'eval_tts'} <= set(names), names
    monkeypatch.chdir(REPO)  # config files are named relative to the repository root, as speedrun.sh runs them
    for name, command in stages:
        python, script, *args = shlex.split(command)
        assert python == 'python3' and script.endswith('.py'), (name, command)
        if script == 'eval.py':
            suite, args = split_suite(args)
            assert suite, (name, command)
        try:
            configure(config_defaults(script), args)
        except Exception as e:  # noqa: BLE001 - say which stage
            raise AssertionError(f"speedrun.sh stage {name} ({scale}): {e}") from None


def test_plan_prints_one_stage_alone():
    """`speedrun.sh plan NAME`: that stage's command alone, as the full plan prints it (the experiments/speedrun/
    scripts run it with their overrides); a name that is no stage is an error."""
    env = dict(os.environ, SCALE='cpu')
    plan = lambda *a: subprocess.run(['bash', 'speedrun.sh', 'plan', *a], cwd=REPO, env=env, capture_output=True, text=True)
    full = dict(line.split('\t', 1) for line in plan().stdout.splitlines() if '\t' in line)
    assert plan('dpo').stdout == full['dpo'] + '\n' and plan('sft').stdout == full['sft'] + '\n'
    wrong = plan('dop')
    assert wrong.returncode != 0 and wrong.stdout == '' and "no stage named 'dop'" in wrong.stderr


def test_a_mistyped_flag_fails_the_check():
    """The check above can fail: an unknown key and a value of the wrong type are caught."""
    from common import UserError
    with pytest.raises(UserError, match='unknown config key'):
        configure(config_defaults('dpo.py'), ['--n_prompt=800'])
    with pytest.raises(UserError, match='expects int'):
        configure(config_defaults('dpo.py'), ['--n_prompts=lots'])
