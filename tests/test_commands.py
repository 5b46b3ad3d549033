"""The console programs: packaged configs outside a checkout, one-line errors, exit 2."""
import os
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT
from vda_jax import commands


def test_config_path_finds_packaged_configs_from_anywhere(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert (commands.config_path('embedded:method=paper')
          == f'{commands.CONFIGS}/embedded.py:method=paper')
  assert commands.config_path('configs/real.py') == f'{commands.CONFIGS}/real.py'
  own = tmp_path / 'configs' / 'real.py'
  own.parent.mkdir()
  own.write_text('def get_config(arg=None): ...\n')
  assert commands.config_path('configs/real.py:x=1') == 'configs/real.py:x=1'  # a file wins
  message = (r'nope.py is not a file, nor a packaged config \(known: confirmatory, '
             r'confirmatory_real, embedded, pod, real, real_davis, real_mini\)')
  with pytest.raises(FileNotFoundError, match=message):
    commands.config_path('nope.py')


SCRIPTS = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']


@pytest.mark.parametrize('script, first_line, own_flags', [
    ('vda-train', 'Trains one configuration.', ['--config', '--workdir']),
    ('vda-segment', 'Segments a video file', ['--checkpoint', '--input', '--output', '--overlay']),
    ('vda-experiment', 'Trains a grid', ['--workdir', '--methods', '--seeds', '--parallel']),
    ('vda-select', 'Model selection', ['--workdir', '--methods', '--parallel', '--seed']),
    ('vda-confirm', 'Runs a pre-registered', ['--plan', '--workdir', '--parallel']),
    ('vda-convert-mit', 'Converts an MiT', ['--input', '--output']),
])
def test_every_program_is_in_commands_and_its_help_lists_its_own_flags(script, first_line,
                                                                        own_flags):
  assert len(SCRIPTS) == 6
  module, function = SCRIPTS[script].split(':')
  assert module.startswith('vda_jax.commands.'), SCRIPTS[script]
  # The console script's own entry point, as the installed wrapper calls it (one process
  # per program: each defines its own absl flags).
  code = (f'import sys; sys.argv = [{script!r}, "--help"]; '
          f'from {module} import {function}; {function}()')
  run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
  assert run.returncode == 0, run.stderr[-2000:]
  assert run.stdout.startswith(first_line)
  listed = [line.split(':')[0].strip().replace('[no]', '') for line in run.stdout.splitlines()
            if line.startswith('  --')]
  assert set(own_flags) <= set(listed), listed
  # absl's own flags (--verbosity, --logtostderr, ...) are not the program's.
  assert '--verbosity' not in listed and '--logtostderr' not in listed


@pytest.mark.parametrize('args, verbosity', [([], -1), (['--verbosity=1'], 1)])
def test_programs_log_only_warnings_unless_verbosity_is_given(args, verbosity):
  # absl's levels: WARNING is -1, INFO 0, DEBUG 1; its own default is INFO.
  code = ('import sys; from absl import logging; from vda_jax import commands; '
          f'sys.argv = ["prog", *{args!r}]; '
          'commands.run(lambda argv: print("verbosity", logging.get_verbosity()))')
  run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
  assert run.returncode == 0, run.stderr[-2000:]
  assert run.stdout.split() == ['verbosity', str(verbosity)]


@pytest.mark.parametrize('args, hidden', [([], {'library warning', 'python library warning'}),
                                           (['--verbosity=0'], set())])
def test_library_notices_stay_out_unless_verbosity_is_given(args, hidden):
  # Records logged from a library's file (as TFDS's 'Using custom data configuration'),
  # through absl or Python's logging, and from one of vda_jax's own files: by default only
  # vda_jax's, and errors, reach stderr.
  code = ('import sys; from vda_jax import commands\n'
          'def log(path, statement):\n'
          '  exec(compile("import logging; from absl import logging as absl_logging; "\n'
          '               + statement, path, "exec"))\n'
          'def main(argv):\n'
          '  log("/site-packages/tensorflow_datasets/b.py",\n'
          '      "absl_logging.warning(\'library warning\')")\n'
          '  log("/site-packages/grain/c.py",\n'
          '      "logging.getLogger(\'g\').warning(\'python library warning\')")\n'
          '  log("/site-packages/orbax/d.py", "absl_logging.error(\'library error\')")\n'
          '  log("/src/vda_jax/train/loop.py", "logging.warning(\'vda_jax warning\')")\n'
          f'sys.argv = ["prog", *{args!r}]\n'
          'commands.run(main)\n')
  run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
  assert run.returncode == 0, run.stderr[-2000:]
  every = {'vda_jax warning', 'library error', 'library warning', 'python library warning'}
  logged = {text for text in every if f'{text}\n' in run.stderr}
  assert logged == every - hidden, run.stderr


@pytest.mark.parametrize('args, message', [
    (['--config=embedded', '--config.train.stepz=3'],
     'no such config field: \'stepz\' Did you mean "steps" instead of "stepz"?'),
    (['--config=embedded:method=nope'], "method='nope'; expected one of"),
    (['--config=embedded', '--config.train.steps=many'],
     '--config.train.steps=many: invalid literal'),
    (['--config=missing.py'], 'missing.py is not a file, nor a packaged config'),
    (['--config=embedded', '--wrokdir=x'], "Unknown command line flag 'wrokdir'"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, args, message):
  # Run outside the checkout: the packaged config is found without one.
  done = subprocess.run([sys.executable, '-m', 'vda_jax.commands.train', '--workdir=run', *args],
                        cwd=tmp_path, capture_output=True, text=True,
                        env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
  assert done.returncode == 2, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith('train.py: error: ') and message in last, done.stderr
  assert 'Traceback' not in done.stderr
  assert not (tmp_path / 'run').exists()  # nothing written


def test_a_preempted_command_says_so_and_exits_143():
  code = ('from vda_jax import commands, preemption\n'
          'def main(argv):\n'
          '  raise preemption.Interrupted("SIGTERM: the run in runs/x stopped")\n'
          'commands.run(main)\n')
  done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 143
  assert done.stderr.strip().splitlines()[-1] == '-c: SIGTERM: the run in runs/x stopped'
