"""The benchmark harness runs and reports every figure (no timing assertions)."""
import math
import os
import subprocess
import sys

import jax
import pytest

from benchmarks import measure
from benchmarks.batches import random_batch
from conftest import COMPILE_FLAGS, ROOT, tiny_config


def test_step_benchmark_reports_every_figure():
  config = tiny_config()
  r = measure.benchmark_step(config, steps=2, warmup=1, devices=jax.devices()[:1])
  for key in ('compile_s', 'step_s', 'frames_per_s', 'gflop_per_step', 'gflop_per_s',
              'peak_host_mib', 'step_mib', 'hlo_ops'):
    assert r[key] > 0 and math.isfinite(r[key]), key
  assert r['frames_per_s'] * r['step_s'] == pytest.approx(8 + 4 * 2)  # 8 images, 4 clips of 2
  assert 0 < r['peak_share'] < 1 and 'FLOP/cycle' in r['peak_basis']
  # XLA counts the work of the batch: twice the images and clips, about twice the FLOPs
  # (the discriminators' and optimizer's share does not grow).
  config.input.update(image_batch=16, video_batch=8)
  double = measure.benchmark_step(config, steps=1, warmup=0, devices=jax.devices()[:1])
  assert 1.8 < double['gflop_per_step'] / r['gflop_per_step'] <= 2.0
  assert math.isnan(r['device_mib'])  # CPU devices report no memory stats


@pytest.mark.slow
def test_init_compiled_below_xla_default_level_gives_the_same_state(monkeypatch):
  # Experiment compiles `init` at -O2 on CPU for its compile time; a run's initial
  # state (and with it every earlier run's trajectory) must not change with it. (This
  # suite's XLA_FLAGS set -O0, which Experiment would keep: cleared, as for a run.)
  monkeypatch.setenv('XLA_FLAGS', '')
  r = measure.init_compile(tiny_config('clustered'), jax.devices()[:1])
  assert r['same_state']
  assert r['compile_s'] > 0 and r['o3_compile_s'] > 0


def test_cpu_peak_is_cores_times_clock_times_flops_per_cycle():
  peak, basis = measure.cpu_peak_flops()
  cores, ghz, per_cycle = basis.split(' cores x ')[0], basis.split(' x ')[1], basis.split(' x ')[2]
  assert math.isclose(peak, int(cores) * float(ghz.split()[0]) * 1e9 * int(per_cycle.split()[0]),
                      rel_tol=1e-2)


def test_pipeline_throughput_with_and_without_workers(sources):
  config = tiny_config()
  for workers in (0, 1):
    r = measure.pipeline_throughput(config, sources, num_workers=workers, prefetch=2,
                                      batches=4, warmup=1)
    assert r['batches_per_s'] > 0
    assert math.isclose(r['examples_per_s'], r['batches_per_s'] * (8 + 4))


@pytest.mark.parametrize('axis,value,shapes', [
    ('batch', 2, {'image': (8, 32, 32, 3), 'video': (2, 2, 32, 32, 3)}),
    ('resolution', 48, {'image': (8, 48, 48, 3), 'video': (4, 2, 48, 48, 3)}),
    ('clip_len', 8, {'image': (8, 32, 32, 3), 'video': (4, 8, 32, 32, 3)}),
])
def test_scaled_config_moves_one_axis_and_leaves_the_config_alone(axis, value, shapes):
  config = tiny_config()
  scaled = measure.scaled_config(config, axis, value)
  batch = random_batch(scaled)
  assert {k: batch[k].shape for k in shapes} == shapes
  assert scaled.data.stored_clip_len >= scaled.input.clip_len
  assert random_batch(config)['image'].shape == (8, 32, 32, 3)  # not modified


@pytest.mark.slow
def test_benchmark_script_prints_the_pipeline_and_scaling_tables(data_dir, tmp_path):
  # The step table's figures are checked above; this runs the script's own wiring.
  out = subprocess.run(
      [sys.executable, 'scripts/benchmark.py', '--models=', '--pipeline_workers=0,1',
       '--scaling=cnn2d', '--scale_batch=1,2', '--scale_resolution=', '--scale_clip_len=',
       '--steps=1', f'--plot={tmp_path}/scaling.png',
       '--batches=2', f'--set=data.data_dir={data_dir}', '--set=data.image_size=32',
       '--set=data.stored_clip_len=4', '--set=input.clip_len=2',
       '--set=data.num_train_images=64', '--set=data.num_test_images=16',
       '--set=data.num_train_clips=16', '--set=data.num_test_clips=8'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.splitlines()
  rows = [s.split('|') for s in lines if s.startswith(('| 0 |', '| 1 |'))]
  assert len(rows) == 2 and all(float(r[4]) > 0 for r in rows), out.stdout
  scaling = [s.split('|') for s in lines if s.startswith('| cnn2d |')]
  assert [(r[2].strip(), r[3].strip()) for r in scaling] == [('batch', '1'), ('batch', '2')]
  # Twice the batch: twice XLA's FLOP count for the step (every op scales with it).
  assert float(scaling[1][6]) / float(scaling[0][6]) == pytest.approx(2, rel=0.02)
  assert (tmp_path / 'scaling.png').stat().st_size > 0


@pytest.mark.slow
def test_device_check_script_writes_one_row_per_model(tmp_path):
  """The accelerator check, rehearsed on CPU at tiny sizes, each model in its own process: a
  2D and a 3D model (every model's step compiles in test_models; here the script is tested)."""
  out = tmp_path / 'check.md'
  run = subprocess.run(
      ['bash', 'scripts/device_check.sh', str(out), '--size=tiny', '--set=data.image_size=32',
       '--set=input.image_batch=8', '--set=input.video_batch=2', '--steps=1'],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env={**os.environ, 'PYTHON': sys.executable, 'PER_MODEL_S': '300',
           'MODELS': 'cnn2d cnn3d',
           'XLA_FLAGS': COMPILE_FLAGS})  # one device per process, like an accelerator host
  assert run.returncode == 0, run.stderr[-2000:]
  rows = out.read_text().strip().splitlines()[2:]
  assert [r.split(' | ')[1] for r in rows] == ['cnn2d', 'cnn3d']
  for row in rows:
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[0] == 'cpu' and cells[2].startswith('tiny, bfloat16, 32 px'), row
    assert float(cells[3]) > 0 and float(cells[4]) > 0 and cells[8] == '—', row
