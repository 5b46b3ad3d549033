"""One live run per workdir: a second launch is refused and writes nothing, a killed run's
lock does not block its resume, and grids wait for a run folder another process holds."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, program_env, tiny_config, tiny_overrides
from vda_jax import grid
from vda_jax.train import checkpoint, workdir_lock
from vda_jax.train.metrics_writer import read_metrics


def _files(workdir):
  """{relative path: bytes} of every file under workdir."""
  root = pathlib.Path(workdir)
  return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
          if p.is_file()}


def test_a_held_workdir_refuses_a_second_holder_and_names_the_first(tmp_path):
  workdir = str(tmp_path / 'run')
  with workdir_lock.hold(workdir):
    record = json.loads((tmp_path / 'run' / '.lock').read_text())
    assert record['pid'] == os.getpid() and record['host'] and record['since']
    assert workdir_lock.holder(workdir) == (
        f"host {record['host']}, pid {os.getpid()}, since {record['since']}")
    before = _files(workdir)
    with pytest.raises(workdir_lock.WorkdirHeld) as refused:
      with workdir_lock.hold(workdir):
        pytest.fail('a second holder got in')
    assert str(refused.value) == (
        f"{workdir} is in use by a live run (host {record['host']}, pid {os.getpid()}, since "
        f"{record['since']}; {workdir}/.lock): wait for it to finish, or stop that process")
    assert _files(workdir) == before
  assert workdir_lock.holder(workdir) is None
  with workdir_lock.hold(workdir):  # released: the next run takes it
    pass


def test_a_sigkilled_holders_lock_is_gone_with_it(tmp_path):
  workdir = str(tmp_path / 'run')
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time\n'
       'from vda_jax.train import workdir_lock\n'
       f'with workdir_lock.hold({workdir!r}):\n'
       '  print("held", flush=True)\n'
       '  time.sleep(600)\n'],
      cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'held'
  assert f'pid {holder.pid}' in workdir_lock.holder(workdir)
  holder.send_signal(signal.SIGKILL)
  holder.wait(timeout=60)
  assert workdir_lock.holder(workdir) is None
  with workdir_lock.hold(workdir):
    assert json.loads((tmp_path / 'run' / '.lock').read_text())['pid'] == os.getpid()


def test_a_remote_workdir_is_not_locked():
  with workdir_lock.hold('gs://bucket/runs/x'):
    assert workdir_lock.holder('gs://bucket/runs/x') is None


@pytest.mark.parametrize('other_run_finishes', [True, False])
def test_a_grid_waits_for_a_held_run_and_never_trains_into_it_twice(
    tmp_path, monkeypatch, other_run_finishes):
  monkeypatch.setattr(workdir_lock, 'POLL_SECONDS', 0.05)
  config = tiny_config('source_only')
  path = str(tmp_path / 'run')
  checkpoint.save_config(config, path)
  held, calls = threading.Event(), []

  def other_run():  # another live process's run of the same folder
    with workdir_lock.hold(path):
      held.set()
      time.sleep(0.5)
      if other_run_finishes:
        with open(os.path.join(path, 'metrics.jsonl'), 'w') as f:
          f.write(json.dumps({'step': config.train.steps, 'video/mIoU': 0.25}) + '\n')

  def train(config, path):  # as train_and_evaluate: holds the folder while it trains
    with workdir_lock.hold(path):
      calls.append(path)
      return {'video/mIoU': 0.5}

  thread = threading.Thread(target=other_run)
  thread.start()
  held.wait()
  results = grid.train_to_end(config, path, train)
  thread.join()
  assert results == ({'video/mIoU': 0.25} if other_run_finishes else {'video/mIoU': 0.5})
  assert calls == ([] if other_run_finishes else [path])


@pytest.mark.slow
def test_a_second_vda_train_is_refused_and_a_killed_run_resumes(tmp_path, data_dir):
  """The first run is stopped (SIGSTOP) while a second launch of the same command is
  refused, so its files can be compared byte for byte; then it is SIGKILLed, and the same
  command resumes it."""
  workdir = tmp_path / 'run'
  command = [sys.executable, '-m', 'vda_jax.commands.train', '--config=embedded:method=adversarial',
             f'--workdir={workdir}', *[f'--config.{o}' for o in tiny_overrides(
                 data_dir, steps=60, **{'train.log_every': 5, 'train.checkpoint_every': 10})]]
  first = subprocess.Popen(command, cwd=ROOT, env=program_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
  checkpoints = workdir / 'checkpoints'
  # A finished checkpoint is a folder named by its step (Orbax renames its temporary one).
  saved = lambda: checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())
  while not saved():
    assert first.poll() is None, first.stderr.read()[-3000:]
    time.sleep(0.05)
  first.send_signal(signal.SIGSTOP)
  before = _files(workdir)
  second = subprocess.run(command, cwd=ROOT, env=program_env(), capture_output=True, text=True,
                          timeout=300)
  assert second.returncode == 2
  (line,) = second.stderr.strip().splitlines()
  assert line.startswith(f'train.py: error: {workdir} is in use by a live run (host ')
  assert f', pid {first.pid}, since ' in line and line.endswith(
      'wait for it to finish, or stop that process')
  assert _files(workdir) == before
  first.send_signal(signal.SIGKILL)  # a stopped process dies of it too
  first.wait(timeout=60)
  resumed = subprocess.run(command, cwd=ROOT, env=program_env(), capture_output=True, text=True,
                           timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from step' in resumed.stderr
  assert max(r['step'] for r in read_metrics(str(workdir))) == 60
