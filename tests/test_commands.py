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
  assert commands.config_path('embedded:method=paper') == f'{commands.CONFIGS}/embedded.py:method=paper'
  assert commands.config_path('configs/real.py') == f'{commands.CONFIGS}/real.py'
  own = tmp_path / 'configs' / 'real.py'
  own.parent.mkdir()
  own.write_text('def get_config(arg=None): ...\n')
  assert commands.config_path('configs/real.py:x=1') == 'configs/real.py:x=1'  # a file wins
  with pytest.raises(FileNotFoundError, match=r'nope.py is not a file, nor a packaged config '
                                              r'\(known: embedded, pod, real, real_mini\)'):
    commands.config_path('nope.py')


def test_every_console_script_points_at_a_function():
  scripts = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']
  assert set(scripts) == {'vda-train', 'vda-segment', 'vda-experiment', 'vda-select',
                          'vda-convert-mit'}
  # One process per program: each defines its own absl flags.
  for target in scripts.values():
    module, function = target.split(':')
    code = f'import {module} as m; assert callable(m.{function})'
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


@pytest.mark.parametrize('args, message', [
    (['--config=embedded', '--config.train.stepz=3'],
     'no such config field: \'stepz\' Did you mean "steps" instead of "stepz"?'),
    (['--config=embedded:method=nope'], "method='nope'; expected one of"),
    (['--config=embedded', '--config.train.steps=many'], '--config.train.steps=many: invalid literal'),
    (['--config=missing.py'], 'missing.py is not a file, nor a packaged config'),
    (['--config=embedded', '--wrokdir=x'], "Unknown command line flag 'wrokdir'"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, args, message):
  # Run outside the checkout: the packaged config is found without one.
  done = subprocess.run([sys.executable, '-m', 'vda_jax.main', '--workdir=run', *args],
                        cwd=tmp_path, capture_output=True, text=True,
                        env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
  assert done.returncode == 2, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith('main.py: error: ') and message in last, done.stderr
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
