"""The training loop: data -> jitted step -> logs, evals, checkpoints.

The run's wiring is `train.experiment.Experiment`; its workdir (config.json,
checkpoints) is `train.checkpoint`, held by one live run at a time
(`train.workdir_lock`); SIGTERM is `vda_jax.preemption`.
"""
import contextlib
import logging
import time
from typing import Sequence

import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import tqdm

from vda_jax import preemption
from vda_jax.data import datasets
from vda_jax.train import checkpoint, environment, profiling, workdir_lock
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment, train_iterator
from vda_jax.train.metrics_writer import MetricWriter, final_eval


class NonFiniteLossError(FloatingPointError):
  pass


def _mean_metrics(pending):
  """Means over the window, after checking every step's losses are finite."""
  for step, m in pending:
    bad = [k for k, v in m.items() if 'loss' in k and not np.isfinite(v)]
    if bad:
      return step, bad, None
  keys = pending[-1][1].keys()
  return None, None, {k: float(np.mean([m[k] for _, m in pending])) for k in keys}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       devices: Sequence[jax.Device] | None = None) -> dict:
  """Trains per `config` into `workdir` (resuming if it holds checkpoints); returns final eval,
  or {'preempted_at_step': step} when a SIGTERM made it save and stop early (step
  None: the notice came during a dataset build, before training; nothing to save)."""
  with preemption.watch() as preempted, _hold(workdir):
    return _train_and_evaluate(config, workdir, devices, preempted)


@contextlib.contextmanager
def _hold(workdir):
  """The run holds its workdir: process 0 takes the lock before any process writes, and
  every process of the launch stops (WorkdirHeld) if another live run holds it."""
  with contextlib.ExitStack() as stack:
    refused = None
    if jax.process_index() == 0:
      try:
        stack.enter_context(workdir_lock.hold(workdir))
      except workdir_lock.WorkdirHeld as e:
        refused = e
    if jax.process_count() > 1:
      if multihost_utils.broadcast_one_to_all(np.int32(refused is not None)) and not refused:
        refused = workdir_lock.WorkdirHeld(
            f'{workdir} is in use by a live run (process 0 says who): wait for it to finish, '
            'or stop that process')
    if refused:
      raise refused
    yield


def _train_and_evaluate(config, workdir, devices, preempted):
  profiling.enable_compile_cache(config.train.compile_cache_dir)
  started = time.perf_counter()
  try:  # COCO's class names come from its built dataset: from_config may build it
    exp = Experiment.from_config(config, devices)
    sources = datasets.load_sources(config.data)
  except preemption.Interrupted:
    logging.warning('SIGTERM during a dataset build: stopped before training; the same '
                    'command builds it again (TFDS keeps no half-written dataset)')
    return {'preempted_at_step': None}
  checkpoint.check_same_config(config, workdir)
  checkpoint.save_config(config, workdir)
  environment.record(workdir)
  manager = checkpoint.manager(workdir, config.train.keep_checkpoints)
  state = checkpoint.restore_latest(manager, exp.init_state())
  if int(state.step):
    logging.warning('resumed from step %d in %s; the data stream is rebuilt at that step '
                    '(%d process(es) now)', int(state.step), manager.directory,
                    jax.process_count())
  iterator = train_iterator(config, sources, int(state.step))
  writer = MetricWriter(workdir)
  first, total = int(state.step), config.train.steps

  def score(step, params):
    """What an eval step logs: the scores on config.eval.split (the val split; its keys
    prefixed 'val/'), and after the last step those on config.eval.final_split (test,
    plain keys). So test data is read once, for the final score, and never for a
    choice made during or between runs."""
    out = {}
    if config.eval.split:
      out.update({f'{config.eval.split}/{k}': v for k, v in exp.evaluate(
          params, sources, config.eval.split).items()})
    if step == total and config.eval.final_split:
      out.update(exp.evaluate(params, sources, config.eval.final_split))
    return out
  pending, results = [], {}
  clock = {'time': time.perf_counter(), 'step': first, 'wait': 0.0}

  def flush():
    """Pulls the pending metrics to the host (the only sync), checks them, logs means."""
    if not pending:
      return
    host = [(s, jax.device_get(m)) for s, m in pending]
    pending.clear()
    bad_step, bad_keys, means = _mean_metrics(host)
    if bad_step is not None:
      last = manager.latest_step()
      raise NonFiniteLossError(
          f'non-finite {bad_keys} at step {bad_step}; last good checkpoint: '
          f'{"step %d in %s" % (last, manager.directory) if last is not None else "none"}. '
          'Nothing was saved after it.')
    now = time.perf_counter()  # includes input waits; evals and saves are excluded below
    means['steps_per_sec'] = (host[-1][0] - clock['step']) / (now - clock['time'])
    # Share of the wall time the loop spent waiting for the next batch: the step
    # runs asynchronously, so anything above ~0 is time the accelerator may idle.
    means['data_wait_share'] = clock['wait'] / (now - clock['time'])
    clock.update(time=now, step=host[-1][0], wait=0.0)
    writer.write(host[-1][0], means)
    progress.set_postfix(sup=f"{means['sup_loss']:.3f}", refresh=False)

  def evaluate(step, params):
    """(scores, stopped): logs the scores of `params` at `step`; a SIGTERM drops them."""
    try:
      scores = score(step, params)
    except preemption.Interrupted:
      logging.warning('SIGTERM during the evaluation of step %d: it is dropped; saving', step)
      return {}, True
    writer.write(step, scores)
    clock.update(time=time.perf_counter(), wait=0.0)
    return scores, False

  is_eval_step = lambda step: step == total or bool(
      config.eval.split and step % config.train.eval_every == 0)
  stop = False
  # A resumed step whose evaluation a SIGTERM dropped is scored first, so that the
  # curve keeps every eval step. (Every host reads the log before the evaluation's
  # collectives, so none can see the record another host writes after them.)
  if first and is_eval_step(first) and final_eval(workdir, first) is None:
    results, stop = evaluate(first, state.params['model'])
  profile_dir = str(checkpoint.workdir_path(workdir) / 'profile')
  with (tqdm.tqdm(total=total, initial=first, desc='train', disable=jax.process_index() != 0,
                  mininterval=2.0) as progress,
        profiling.trace_window(config.train.profile_steps, profile_dir) as profile):
    for step in range(first + 1, first + 1 if stop else total + 1):
      profile(step)
      with jax.profiler.StepTraceAnnotation('train', step_num=step):
        t0 = time.perf_counter()
        batch = shd.to_global(next(iterator), exp.mesh)
        clock['wait'] += time.perf_counter() - t0
        state, metrics = exp.step(state, batch)
      profile(step, metrics)
      if step == first + 1:  # what a (re)start costs: wiring, data, restore, compile, one step
        jax.block_until_ready(metrics)
        writer.write(step, {'seconds_to_first_step': time.perf_counter() - started})
        clock.update(time=time.perf_counter(), step=step, wait=0.0)
      pending.append((step, metrics))
      progress.update()
      last, stop = step == total, preempted()
      if step % config.train.log_every == 0 or last or stop:
        flush()
      if is_eval_step(step) and not stop:
        flush()
        results, stop = evaluate(step, state.params['model'])
      if step % config.train.checkpoint_every == 0 or last or stop:
        flush()  # never checkpoint a state whose losses were not checked
        checkpoint.save(manager, step, state)
        clock.update(time=time.perf_counter(), wait=0.0)
      if stop:
        break
  if stop:
    saved = int(state.step)
    logging.warning('SIGTERM: saved step %d in %s; the same command resumes from it',
                    saved, manager.directory)
    results = {'preempted_at_step': saved}
  manager.wait_until_finished()
  manager.close()
  if not results and first == total:  # already finished: its logged final scores
    results = final_eval(workdir, total)
  writer.close()
  return results
