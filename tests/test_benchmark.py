"""The benchmark harness runs and reports every figure (no timing assertions)."""
import math
import subprocess
import sys

import jax
import pytest

from conftest import ROOT, tiny_config
from vda_jax import benchmark


def test_step_benchmark_reports_every_figure():
  r = benchmark.benchmark_step(tiny_config(), steps=2, warmup=1, devices=jax.devices()[:1])
  for key in ('compile_s', 'step_s', 'frames_per_s', 'gflop_per_step', 'gflop_per_s',
              'peak_host_mib', 'step_mib'):
    assert r[key] > 0 and math.isfinite(r[key]), key
  # XLA's count for the step: positive, and GFLOP/s is exactly it over the median step.
  assert math.isclose(r['gflop_per_s'], r['gflop_per_step'] / r['step_s'])
  assert 0 < r['peak_share'] < 1 and 'FLOP/cycle' in r['peak_basis']
  assert math.isnan(r['device_mib'])  # CPU devices report no memory stats


def test_cpu_peak_is_cores_times_clock_times_flops_per_cycle():
  peak, basis = benchmark.cpu_peak_flops()
  cores, ghz, per_cycle = basis.split(' cores x ')[0], basis.split(' x ')[1], basis.split(' x ')[2]
  assert math.isclose(peak, int(cores) * float(ghz.split()[0]) * 1e9 * int(per_cycle.split()[0]),
                      rel_tol=1e-2)


def test_pipeline_throughput_with_and_without_workers(sources):
  config = tiny_config()
  for workers in (0, 1):
    r = benchmark.pipeline_throughput(config, sources, num_workers=workers, prefetch=2,
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
  scaled = benchmark.scaled_config(config, axis, value)
  batch = benchmark.random_batch(scaled)
  assert {k: batch[k].shape for k in shapes} == shapes
  assert scaled.data.stored_clip_len >= scaled.input.clip_len
  assert benchmark.random_batch(config)['image'].shape == (8, 32, 32, 3)  # not modified


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
  rows = [l.split('|') for l in out.stdout.splitlines() if l.startswith(('| 0 |', '| 1 |'))]
  assert len(rows) == 2 and all(float(r[4]) > 0 for r in rows), out.stdout
  scaling = [l.split('|') for l in out.stdout.splitlines() if l.startswith('| cnn2d |')]
  assert [(r[2].strip(), r[3].strip()) for r in scaling] == [('batch', '1'), ('batch', '2')]
  # Twice the batch: twice XLA's FLOP count for the step (every op scales with it).
  assert float(scaling[1][6]) / float(scaling[0][6]) == pytest.approx(2, rel=0.02)
  assert (tmp_path / 'scaling.png').stat().st_size > 0
