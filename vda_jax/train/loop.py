"""The training loop: data -> jitted step -> logs, evals, checkpoints."""
import contextlib
import functools
import json
import logging
import os
import signal
import threading
import time

from etils import epath
import grain
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from vda_jax.adversarial.objective import Objective
from vda_jax.data import datasets, pipeline
from vda_jax.eval.evaluate import evaluate
from vda_jax.models import pretrained
from vda_jax.models.registry import build_model
from vda_jax.models.taps import check_taps
from vda_jax.train import sharding as shd
from vda_jax.train.metrics_writer import MetricWriter
from vda_jax.train.state import init_train_state, make_optimizer
from vda_jax.train.step import jit_predict, jit_train_step


class NonFiniteLossError(FloatingPointError):
  pass


def build_experiment(config, devices=None):
  """Everything a run needs, checked before anything compiles."""
  mesh = shd.make_mesh(config.mesh, devices)
  shd.check_batch_fits(mesh, **{'config.input.image_batch': config.input.image_batch,
                                'config.input.video_batch': config.input.video_batch,
                                'config.eval.image_batch': config.eval.image_batch,
                                'config.eval.clip_batch': config.eval.clip_batch})
  # Real training videos are stored as chunks of train_clips.chunk_len frames.
  field, stored = (('config.data.stored_clip_len', config.data.stored_clip_len)
                   if config.data.name == 'embedded' else
                   ('config.data.train_clips.chunk_len', config.data.train_clips.chunk_len))
  if config.input.clip_len > stored:
    raise ValueError(f'config.input.clip_len={config.input.clip_len} is longer than the '
                     f'stored clips ({field}={stored})')
  num_classes = len(datasets.class_names(config.data))
  model = build_model(config.model, num_classes)
  s = config.data.image_size
  input_shape = (1, config.input.clip_len, s, s, 3) if model.temporal else (1, s, s, 3)
  objective = Objective.from_config(config.adversarial)
  tap_shapes = check_taps(model, input_shape, objective.model_taps())
  tx = make_optimizer(config.optimizer, config.train.steps)
  init = functools.partial(init_train_state, model=model, objective=objective, tx=tx,
                           input_shape=input_shape, tap_shapes=tap_shapes,
                           num_classes=num_classes)
  state_sharding = shd.state_shardings(jax.eval_shape(init, jax.random.key(0)), mesh,
                                       config.mesh.fsdp_min_size)
  return dict(mesh=mesh, model=model, objective=objective, tx=tx, state_sharding=state_sharding,
              # Created directly sharded: no host ever holds the whole state.
              init=jax.jit(init, out_shardings=state_sharding),
              step=jit_train_step(mesh, state_sharding, model=model, objective=objective, tx=tx,
                                  config=config),
              predict=jit_predict(mesh, state_sharding.params['model'], model,
                                  config.input.clip_len, config.model.image_as_clip))


def init_state(exp, config):
  """Fresh state, with pretrained backbone weights when config.model.pretrained names a file."""
  state = exp['init'](jax.random.key(config.seed))
  if not config.model.pretrained:
    return state
  model_params, loaded = pretrained.load_into(jax.device_get(state.params['model']),
                                              config.model.pretrained)
  logging.info('loaded %d pretrained entries from %s', len(loaded), config.model.pretrained)
  params = {**state.params, 'model': model_params}
  return state.replace(params=jax.device_put(params, exp['state_sharding'].params))


def train_iterator(config, sources):
  n, i = jax.process_count(), jax.process_index()
  data = pipeline.train_dataset(
      sources['images/train'], sources['videos/train'],
      image_batch=config.input.image_batch // n, video_batch=config.input.video_batch // n,
      clip_len=config.input.clip_len, seed=config.seed, shard=pipeline.Shard(i, n),
      augment=config.input.augment, video_labels=bool(config.train.video_label_weight),
      size=config.data.image_size)
  return pipeline.train_iterator(data, num_workers=config.input.num_workers,
                                 prefetch=config.input.prefetch)


def workdir_path(workdir):
  """epath.Path of a workdir: local, or a bucket (gs://...) that every host of a pod shares."""
  return epath.Path(workdir) if '://' in str(workdir) else epath.Path(os.path.abspath(workdir))


def checkpoint_manager(workdir, config):
  return ocp.CheckpointManager(
      workdir_path(workdir) / 'checkpoints',
      options=ocp.CheckpointManagerOptions(max_to_keep=config.train.keep_checkpoints,
                                           create=True))


def _save(manager, step, state, iterator):
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(iterator)))


def _restore(manager, state, iterator):
  """The latest complete checkpoint into (state, iterator), or state unchanged."""
  step = manager.latest_step()
  if step is None:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), data=grain.checkpoint.CheckpointRestore(iterator)))
  logging.info('resumed from step %d', step)
  return restored['state']


def restore_state(config, workdir, step=None, devices=None):
  """The TrainState saved in `workdir` (latest step unless `step`), without the data state."""
  exp = build_experiment(config, devices)
  manager = checkpoint_manager(workdir, config)
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {manager.directory}')
  abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                          jax.eval_shape(exp['init'], jax.random.key(0)), exp['state_sharding'])
  state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))['state']
  manager.close()
  return state


def _mean_metrics(pending):
  """Means over the window, after checking every step's losses are finite."""
  for step, m in pending:
    bad = [k for k, v in m.items() if 'loss' in k and not np.isfinite(v)]
    if bad:
      return step, bad, None
  keys = pending[-1][1].keys()
  return None, None, {k: float(np.mean([m[k] for _, m in pending])) for k in keys}


def eval_fn(exp, config, sources):
  """params -> scores on config.eval.split (see eval.evaluate)."""
  return functools.partial(
      evaluate, exp['predict'], sources=sources, sharding=shd.batch_sharding(exp['mesh']),
      class_names=datasets.class_names(config.data), image_batch=config.eval.image_batch,
      clip_batch=config.eval.clip_batch, size=config.data.image_size,
      clip_len=config.input.clip_len, skip_first_last=config.eval.skip_first_last,
      split=config.eval.split)


def save_config(config, workdir):
  """workdir/config.json: what `segment` and `restore_state` rebuild the run from."""
  if jax.process_index() == 0:
    path = workdir_path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / 'config.json.tmp'
    tmp.write_text(config.to_json_best_effort(indent=1, sort_keys=True))
    tmp.replace(path / 'config.json')


def load_config(workdir):
  """The locked ConfigDict a run saved in workdir/config.json."""
  path = workdir_path(workdir) / 'config.json'
  if not path.exists():
    raise FileNotFoundError(f'{path}: missing; --checkpoint must be the workdir of a run '
                            '(it holds config.json and checkpoints/)')
  config = ml_collections.ConfigDict(_tuples(json.loads(path.read_text())))
  config.lock()
  return config


def _tuples(tree):
  """JSON lists back to the tuples the config held (model fields must be hashable)."""
  if isinstance(tree, dict):
    return {k: _tuples(v) for k, v in tree.items()}
  if isinstance(tree, list):
    return tuple(_tuples(v) for v in tree)
  return tree


@contextlib.contextmanager
def preemption_watch(manager):
  """Yields `preempted(step)`: True once a SIGTERM asked the run to save and stop.

  One process: our SIGTERM handler sets a flag. Several: JAX's preemption
  service catches SIGTERM and every process reaches the sync point at the same
  step, so the collective save that follows never waits on a process that left.
  """
  if jax.process_count() > 1:
    yield manager.reached_preemption
    return
  if threading.current_thread() is not threading.main_thread():  # only it may take signals
    yield lambda step: False
    return
  received = []
  previous = signal.signal(signal.SIGTERM, lambda *_: received.append(True))
  try:
    yield lambda step: bool(received)
  finally:
    signal.signal(signal.SIGTERM, previous)


def train_and_evaluate(config, workdir, devices=None):
  """Trains per `config` into `workdir` (resuming if it holds checkpoints); returns final eval,
  or {'preempted_at_step': step} when a SIGTERM made it save and stop early."""
  exp = build_experiment(config, devices)
  sources = datasets.load_sources(config.data)
  save_config(config, workdir)
  state = init_state(exp, config)
  iterator = train_iterator(config, sources)
  manager = checkpoint_manager(workdir, config)
  state = _restore(manager, state, iterator)
  writer = MetricWriter(workdir)
  score = eval_fn(exp, config, sources)
  rng = jax.random.key(config.seed + 1)
  first, total = int(state.step), config.train.steps
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

  with tqdm.tqdm(total=total, initial=first, desc='train', disable=jax.process_index() != 0,
                 mininterval=2.0) as progress, preemption_watch(manager) as preempted:
    for step in range(first + 1, total + 1):
      t0 = time.perf_counter()
      batch = shd.to_global(next(iterator), exp['mesh'])
      clock['wait'] += time.perf_counter() - t0
      state, metrics = exp['step'](state, batch, jax.random.fold_in(rng, step))
      pending.append((step, metrics))
      progress.update()
      last, stop = step == total, preempted(step)
      if step % config.train.log_every == 0 or last or stop:
        flush()
      if (step % config.train.eval_every == 0 or last) and not stop:
        flush()
        results = score(state.params['model'])
        writer.write(step, results)
        clock.update(time=time.perf_counter(), wait=0.0)
      if step % config.train.checkpoint_every == 0 or last or stop:
        flush()  # never checkpoint a state whose losses were not checked
        _save(manager, step, state, iterator)
        clock.update(time=time.perf_counter(), wait=0.0)
      if stop:
        logging.warning('SIGTERM: saved step %d in %s; the same command resumes from it',
                        step, manager.directory)
        results = {'preempted_at_step': step}
        break
  manager.wait_until_finished()
  manager.close()
  writer.close()
  if not results and first == total:  # already finished: score the restored state
    results = score(state.params['model'])
  return results
