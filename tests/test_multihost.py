"""Multi-process runs on loopback, preemption (SIGKILL, SIGTERM) and restoring onto other meshes.

Training runs in subprocesses (tests/run_training.py), each with one CPU
device, so they behave like hosts: a kill takes the whole process.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import COMPILE_FLAGS, ROOT, tiny_config
from vda_jax.train import checkpoint, workdir_lock
from vda_jax.train.experiment import Experiment
from vda_jax.train.metrics_writer import read_metrics

pytestmark = pytest.mark.slow  # real subprocesses: several minutes

STEPS = 40


def _spawn(workdir, **env):
  clean = {**os.environ, 'XLA_FLAGS': COMPILE_FLAGS}  # one device per process
  cache = {'JAX_COMPILATION_CACHE_DIR': jax.config.jax_compilation_cache_dir,  # conftest's
           'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0.5'}
  return subprocess.Popen([sys.executable, str(ROOT / 'tests' / 'run_training.py'), str(workdir)],
                          env={**clean, **cache, **env}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=400):
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-3000:]
  return json.loads(out.strip().splitlines()[-1])


def _wait_for_step(proc, workdir, step, checkpoint=None):
  """Blocks until metrics.jsonl logs `step` (and, if given, checkpoint `checkpoint` is
  committed; saves are asynchronous); fails if the run ends first."""
  path = workdir / 'metrics.jsonl'
  while True:
    if (path.exists() and any(r['step'] >= step for r in read_metrics(str(workdir)))
        and (checkpoint is None or (workdir / 'checkpoints' / str(checkpoint)).is_dir())):
      return
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    time.sleep(0.02)


def _config(data_dir):
  config = tiny_config('adversarial', data_dir)
  config.optimizer.eps = 1e-3  # see test_step: keeps cross-device float noise proportional
  config.train.update(steps=STEPS, log_every=1, eval_every=STEPS, checkpoint_every=10,
                      keep_checkpoints=10)
  return config


@pytest.fixture(scope='module')
def straight(tmp_path_factory, data_dir, sources):
  """An uninterrupted 1-process, 1-device run, in a subprocess like the runs it is compared
  with (XLA compiles differently for this process's 8 fake devices: ~1e-6 apart)."""
  workdir = tmp_path_factory.mktemp('straight')
  checkpoint.save_config(_config(data_dir), str(workdir))
  return workdir, _finish(_spawn(workdir))


def _params(config, workdir, step=None):
  return jax.device_get(
      Experiment.from_config(config, jax.devices()[:1]).restore(str(workdir), step).params)


def _losses(workdir):
  rows = {r['step']: r for r in read_metrics(str(workdir)) if 'total_loss' in r}
  return np.array([[rows[s]['sup_loss'], rows[s]['total_loss']] for s in range(1, STEPS + 1)])


def test_two_processes_on_loopback_match_one_process(tmp_path, data_dir, straight):
  config = _config(data_dir)
  config.mesh.data = -1  # both processes' devices
  checkpoint.save_config(config, str(tmp_path))
  results = [_finish(p) for p in _two_processes(tmp_path)]
  # Each process fed half of every global batch; the global batches are the 1-process ones.
  # Gradients summed across processes in another order differ by float32 rounding (~1e-7),
  # which 40 Adam steps amplify (seen: 1e-7 up to step 18, then up to 1e-4). Neighbouring
  # batches' losses differ by 0.2-25%, so a stream shifted or split wrongly fails both checks.
  ours, reference = _losses(tmp_path), _losses(straight[0])
  np.testing.assert_allclose(ours[:10], reference[:10], rtol=1e-5)
  np.testing.assert_allclose(ours, reference, rtol=1e-3)
  # Only process 0 logged: every step once.
  steps = [r['step'] for r in read_metrics(str(tmp_path)) if 'total_loss' in r]
  assert steps == list(range(1, STEPS + 1))
  assert results[0] == results[1]
  for key in ('image/mIoU', 'video/J&F-foreground'):
    assert results[0][key] == pytest.approx(straight[1][key], abs=1e-3)
  # The collectively written checkpoints restore on one device. At step 10, before the drift
  # above grows, the params equal the 1-process ones to float32 rounding (seen: 1.2e-7; by
  # step 40 the drift reaches ~1e-3, so the last checkpoint is only checked to exist).
  config = _config(data_dir)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               _params(config, tmp_path, 10), _params(config, straight[0], 10))
  assert _latest(tmp_path, config) == STEPS

  # Resumed on one process from the two processes' step-20 checkpoint (as if the later ones
  # were lost): the stream is rebuilt at step 20 and the run goes on like the straight one.
  for step in (30, 40):
    shutil.rmtree(tmp_path / 'checkpoints' / str(step))
  proc = _spawn(tmp_path)
  out, _ = proc.communicate(timeout=400)
  assert proc.returncode == 0, out[-3000:]
  assert 'resumed from step 20' in out and 'data stream is rebuilt at that step' in out
  np.testing.assert_allclose(_losses(tmp_path)[20:], reference[20:], rtol=1e-3)


def _two_processes(workdir, **env_of_process):
  """Both processes of a loopback group; env_of_process: {'p1': {...}} extra env."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  return [_spawn(workdir, VDA_COORDINATOR=f'127.0.0.1:{port}', VDA_NUM_PROCESSES='2',
                 VDA_PROCESS_ID=str(i), **env_of_process.get(f'p{i}', {})) for i in range(2)]


def test_a_two_process_launch_on_a_held_workdir_stops_on_both_and_writes_nothing(
    tmp_path, data_dir):
  config = _config(data_dir)
  config.mesh.data = -1
  checkpoint.save_config(config, str(tmp_path))
  with workdir_lock.hold(str(tmp_path)):  # this process stands in for a live run
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    processes = _two_processes(tmp_path)
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [1, 1], outputs
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
  # Process 0 names the holder; process 1 learns of it from process 0.
  assert f'pid {os.getpid()}' in outputs[0].strip().splitlines()[-1]
  assert 'is in use by a live run (process 0 says who)' in outputs[1].strip().splitlines()[-1]


def test_two_processes_stop_at_the_same_eval_record_on_a_sigterm_to_one(
    tmp_path, data_dir, sources):
  config = _config(data_dir)
  config.mesh.data = -1
  config.train.eval_every = 20
  checkpoint.save_config(config, str(tmp_path))
  # Poll 22 of process 1 is the second record of step 20's evaluation (polls 1-20 are
  # the steps; `sources` built the data). Without polling during evaluation the processes
  # would finish it, log its scores and stop at step 21.
  results = [_finish(p) for p in _two_processes(
      tmp_path, p1={'VDA_TEST_SIGTERM_AT_POLL': '22'})]
  assert results == [{'preempted_at_step': 20}] * 2
  assert not any('val/video/mIoU' in r for r in read_metrics(str(tmp_path)))
  assert max(r['step'] for r in read_metrics(str(tmp_path))) == 20
  assert _latest(tmp_path, config) == 20


def test_two_processes_stop_a_dataset_build_on_a_sigterm(tmp_path):
  config = _config(str(tmp_path / 'tfds'))
  config.mesh.data = -1
  checkpoint.save_config(config, str(tmp_path / 'run'))
  # Process 0 builds (the other waits); its second record comes with the signal.
  results = [_finish(p) for p in _two_processes(
      tmp_path / 'run', p0={'VDA_TEST_SIGTERM_AT_POLL': '2'})]
  assert results == [{'preempted_at_step': None}] * 2
  assert not (tmp_path / 'run' / 'checkpoints').exists()
  assert not [p for p in (tmp_path / 'tfds').rglob('*')
              if 'incomplete' in p.name or p.name == 'dataset_info.json']


def _latest(workdir, config):
  manager = checkpoint.manager(str(workdir))
  step = manager.latest_step()
  manager.close()
  return step


def test_sigterm_then_sigkill_then_resume_ends_exactly_like_the_uninterrupted_run(
    tmp_path, data_dir, straight):
  config = _config(data_dir)
  checkpoint.save_config(config, str(tmp_path))
  # 1. SIGTERM (a preemption notice): saves where it stopped and exits cleanly.
  proc = _spawn(tmp_path)
  _wait_for_step(proc, tmp_path, 12)
  proc.send_signal(signal.SIGTERM)
  stopped = _finish(proc)['preempted_at_step']
  assert 12 <= stopped < STEPS
  assert _latest(tmp_path, config) == stopped  # not the last multiple of checkpoint_every
  # 2. The same command resumes; SIGKILL it after its next periodic checkpoint.
  proc = _spawn(tmp_path)
  next_save = (stopped // 10 + 1) * 10
  _wait_for_step(proc, tmp_path, next_save + 1, checkpoint=next_save)
  proc.kill()
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  last = _latest(tmp_path, config)
  assert next_save <= last < STEPS
  # A save the kill cut short: Orbax's temporary directory of a later step, half written.
  partial = tmp_path / 'checkpoints' / f'{last + 10}.orbax-checkpoint-tmp-1700000000'
  (partial / 'state').mkdir(parents=True)
  (partial / 'state' / 'junk').write_bytes(b'\0' * 100)
  assert _latest(tmp_path, config) == last, 'an unfinished save must never be the latest'
  # 3. Resumed again: the same data stream and the same parameters, bit for bit.
  assert _finish(_spawn(tmp_path)) == straight[1]
  jax.tree.map(np.testing.assert_array_equal, _params(config, tmp_path),
               _params(config, straight[0]))


def test_restores_onto_a_different_mesh(data_dir, straight):
  config = _config(data_dir)
  config.mesh.update(data=2, fsdp=2, model=2, fsdp_min_size=512)
  state = Experiment.from_config(config, jax.devices()[:8]).restore(str(straight[0]))
  kernel = state.params['model']['stage4_block0']['Conv_1']['kernel']
  assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, None, 'fsdp', 'model')
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params),
               _params(_config(data_dir), straight[0]))
