"""End to end: training reduces the loss, checkpoints restore exactly, guards fire."""
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from benchmarks.batches import random_batch
from conftest import tiny_config
from vda_jax import preemption
from vda_jax.train import checkpoint, loop, profiling
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment
from vda_jax.train.metrics_writer import read_metrics


class Unreadable:
  """A split that fails the test if anything reads it."""

  def __init__(self, name):
    self.name = name

  def __len__(self):
    raise AssertionError(f'{self.name} was read')

  def __getitem__(self, index):
    raise AssertionError(f'{self.name} was read')


class ReadLog:
  """A split that notes, at each record read, how many training batches had been drawn."""

  def __init__(self, source, drawn):
    self.source, self.drawn, self.reads = source, drawn, []

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    self.reads.append(self.drawn[0])
    return self.source[index]


def test_test_splits_are_read_once_after_the_last_step_and_val_at_every_eval(
    tmp_path, data_dir, sources, monkeypatch):
  config = tiny_config('source_only', data_dir)
  config.train.update(steps=4, eval_every=2, checkpoint_every=4)
  drawn = [0]  # prefetch=0: the loop draws step s's batch just before step s
  iterator = loop.train_iterator

  def counted(*args, **kwargs):
    for batch in iterator(*args, **kwargs):
      drawn[0] += 1
      yield batch

  logs = {k: ReadLog(v, drawn) for k, v in sources.items() if not k.endswith('/train')}
  monkeypatch.setattr(loop, 'train_iterator', counted)
  monkeypatch.setattr(loop.datasets, 'load_sources', lambda *_, **__: {**sources, **logs})
  results = loop.train_and_evaluate(config, str(tmp_path), jax.devices()[:1])
  for kind in ('images', 'videos'):
    n_val, n_test = len(sources[f'{kind}/val']), len(sources[f'{kind}/test'])
    assert logs[f'{kind}/val'].reads == [2] * n_val + [4] * n_val
    assert logs[f'{kind}/test'].reads == [4] * n_test  # every record once, after step 4
  evals = [r for r in read_metrics(str(tmp_path)) if 'val/video/mIoU' in r]
  assert [r['step'] for r in evals] == [2, 4]
  assert 'video/mIoU' not in evals[0] and evals[1]['video/mIoU'] == results['video/mIoU']
  # Model selection's runs (no final split) never read test at all.
  config.eval.final_split = ''
  held_out = {**sources, 'images/test': Unreadable('images/test'),
              'videos/test': Unreadable('videos/test')}
  monkeypatch.setattr(loop.datasets, 'load_sources', lambda *_, **__: held_out)
  results = loop.train_and_evaluate(config, str(tmp_path / 'selection'), jax.devices()[:1])
  assert 'val/video/mIoU' in results and 'video/mIoU' not in results


def test_short_run_learns_more_than_the_label_prior_and_reports_every_metric(
    tmp_path, data_dir, sources, monkeypatch):
  config = tiny_config('adversarial', data_dir)
  config.train.update(steps=60, eval_every=60, checkpoint_every=60, profile_steps='3:5')
  results = loop.train_and_evaluate(config, str(tmp_path), jax.devices()[:1])
  rows = [r for r in read_metrics(str(tmp_path)) if 'sup_loss' in r]
  assert [r['step'] for r in rows] == list(range(5, 61, 5))
  # The best prediction that ignores the pixels scores the entropy of the label
  # distribution; going below it means the network segments from the image.
  masks = np.concatenate([sources['images/train'][i]['mask'].ravel()
                          for i in range(len(sources['images/train']))])
  p = np.bincount(masks) / masks.size
  prior_entropy = float(-np.sum(p[p > 0] * np.log(p[p > 0])))
  first, last = rows[0]['sup_loss'], rows[-1]['sup_loss']
  assert last < prior_entropy < first, (first, prior_entropy, last)
  for key in ('domain_loss/stage2', 'disc_acc/stage4', 'grl_lambda', 'total_loss', 'grad_norm'):
    assert key in rows[-1]
  assert all(0 <= r['data_wait_share'] < 1 for r in rows)
  assert 0.0 < rows[-1]['grl_lambda'] <= 1.0
  for key in ('image/mIoU', 'video/mIoU', 'video/J-foreground', 'video/F-foreground',
              'video/J&F-foreground', 'image/IoU/disk', 'val/video/mIoU', 'val/image/mIoU'):
    assert 0.0 <= results[key] <= 1.0, key
  # What a start costs is logged once; the profiled window left a trace for TensorBoard.
  first_step, = [r for r in read_metrics(str(tmp_path)) if 'seconds_to_first_step' in r]
  assert first_step['step'] == 1 and first_step['seconds_to_first_step'] > 0
  assert list((tmp_path / 'profile').rglob('*.xplane.pb'))


@pytest.mark.parametrize('spec', ['5', '5:5', '0:3', 'a:b', '3-5'])
def test_profile_window_rejects_what_it_cannot_trace(spec):
  with pytest.raises(ValueError, match='config.train.profile_steps'):
    profiling.parse_window(spec)
  assert profiling.parse_window('20:25') == (20, 25) and profiling.parse_window('') is None


def test_checkpoint_save_restore_gives_an_identical_next_step(tmp_path):
  config = tiny_config()
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  batch0, batch1 = (shd.to_global(random_batch(config, i), exp.mesh) for i in range(2))
  state, _ = exp.step(state, batch0)
  manager = checkpoint.manager(tmp_path)  # the loop's own save path
  checkpoint.save(manager, 1, state)
  manager.wait_until_finished()
  manager.close()
  restored = exp.restore(tmp_path)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), jax.device_get(restored))
  next_a, metrics_a = exp.step(state, batch1)
  next_b, metrics_b = exp.step(restored, batch1)
  assert float(metrics_a['total_loss']) == float(metrics_b['total_loss'])
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(next_a.params),
               jax.device_get(next_b.params))


@pytest.mark.slow
def test_resume_continues_params_and_data_stream_exactly(tmp_path, data_dir):
  config = tiny_config('adversarial', data_dir)
  config.train.update(steps=20, checkpoint_every=10, eval_every=20, keep_checkpoints=3)
  straight = tmp_path / 'straight'
  loop.train_and_evaluate(config, str(straight), jax.devices()[:1])
  # A copy that "died" after step 10: its step-20 checkpoint never happened.
  resumed = tmp_path / 'resumed'
  shutil.copytree(straight, resumed)
  shutil.rmtree(resumed / 'checkpoints' / '20')
  loop.train_and_evaluate(config, str(resumed), jax.devices()[:1])
  exp = Experiment.from_config(config, jax.devices()[:1])
  a, b = exp.restore(str(straight)), exp.restore(str(resumed))
  assert int(a.step) == int(b.step) == 20
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(a.params), jax.device_get(b.params))


def test_non_finite_loss_stops_with_the_step_and_last_checkpoint(tmp_path, data_dir):
  config = tiny_config('source_only', data_dir)
  config.optimizer.lr = float('nan')
  with pytest.raises(loop.NonFiniteLossError,
                     match=r"non-finite \['sup_loss', 'total_loss'\] at step 2; "
                           r"last good checkpoint: none"):
    loop.train_and_evaluate(config, str(tmp_path), jax.devices()[:1])
  assert not (tmp_path / 'checkpoints').exists() or not any((tmp_path / 'checkpoints').iterdir())


class SigtermOnRead:
  """A split whose second record arrives with a SIGTERM (a preemption notice mid-eval)."""

  def __init__(self, source):
    self.source, self.reads = source, 0

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    self.reads += 1
    if self.reads == 2:
      os.kill(os.getpid(), signal.SIGTERM)
    return self.source[index]


@pytest.mark.slow
def test_sigterm_during_eval_saves_and_stops_before_the_next_record(
    tmp_path, data_dir, sources, monkeypatch):
  config = tiny_config('source_only', data_dir)
  config.train.update(steps=4, eval_every=2, checkpoint_every=4)
  videos = SigtermOnRead(sources['videos/val'])
  monkeypatch.setattr(loop.datasets, 'load_sources',
                      lambda *_, **__: {**sources, 'videos/val': videos})
  assert len(videos) > 3
  results = loop.train_and_evaluate(config, str(tmp_path), jax.devices()[:1])
  assert results == {'preempted_at_step': 2}
  assert videos.reads == 2  # the record that came with the signal is the last one read
  assert not any('val/video/mIoU' in r for r in read_metrics(str(tmp_path)))
  assert checkpoint.manager(str(tmp_path)).latest_step() == 2
  # Resumed, it first scores the step whose evaluation was dropped: the curve keeps it.
  monkeypatch.setattr(loop.datasets, 'load_sources', lambda *_, **__: sources)
  results = loop.train_and_evaluate(config, str(tmp_path), jax.devices()[:1])
  assert 0 <= results['video/mIoU'] <= 1
  evals = [r for r in read_metrics(str(tmp_path)) if 'val/video/mIoU' in r]
  assert [r['step'] for r in evals] == [2, 4]
  assert evals[0] != evals[1]  # step 2's own parameters were scored, not step 4's


def test_sigterm_during_a_dataset_build_stops_before_training_and_leaves_no_dataset(
    tmp_path, sources, monkeypatch):
  config = tiny_config('source_only', str(tmp_path / 'tfds'))
  build, poll, polls = loop.datasets.load_sources, preemption.poll, []

  def poll_with_sigterm():  # the third record of the build arrives with a SIGTERM
    polls.append(1)
    if len(polls) == 3:
      os.kill(os.getpid(), signal.SIGTERM)
    return poll()

  # The build polls through preemption.checked, which no parameter reaches.
  monkeypatch.setattr(preemption, 'poll', poll_with_sigterm)
  results = loop.train_and_evaluate(config, str(tmp_path / 'run'), jax.devices()[:1])
  assert results == {'preempted_at_step': None}
  assert len(polls) == 3  # the build stopped at the record that came with the signal
  # Nothing written for a run that never started, but the lock it held from its first
  # moment (train.workdir_lock): its record of host, pid and start time.
  assert [p.name for p in (tmp_path / 'run').iterdir()] == ['.lock']
  leftovers = [p for p in (tmp_path / 'tfds').rglob('*')
               if 'incomplete' in p.name or p.name == 'dataset_info.json']
  assert leftovers == []  # no half-written dataset, and none that looks complete
  again = build(config.data)  # the next run builds it from the start
  assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in sources.items()}
