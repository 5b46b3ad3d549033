"""One run's wiring, built once from its config: `Experiment.from_config(config)`.

The train loop, evaluation, restoring a trained run (segment, analysis, model
selection) and the benchmarks all take an `Experiment`; nothing else rebuilds
the mesh, model, objective, optimizer or shardings.
"""
import dataclasses
import functools
import logging
import os
from typing import Any, Callable

import flax.linen as nn
import grain
import jax
import ml_collections
import optax

from vda_jax.adversarial.objective import Objective
from vda_jax.adversarial.terms import ClusteredDomain
from vda_jax.data import datasets, pipeline
from vda_jax.eval.evaluate import evaluate
from vda_jax.models import efficientnet_weights, pretrained
from vda_jax.models.registry import build_model
from vda_jax.models.taps import check_taps
from vda_jax.train import checkpoint
from vda_jax.train import sharding as shd
from vda_jax.train.state import TrainState, init_train_state, make_optimizer
from vda_jax.train.step import jit_predict, jit_train_step


@dataclasses.dataclass(frozen=True)
class Experiment:
  """Everything one run computes with; its functions are jitted for `mesh`.

  init(rng) -> TrainState             created directly sharded
  step(state, batch) -> (state, metrics)   the train step (state donated)
  predict(model_params, x) -> class map     images (B,H,W,3) or clips (B,T,H,W,3)
  """
  config: ml_collections.ConfigDict
  mesh: jax.sharding.Mesh
  model: nn.Module
  objective: Objective
  tx: optax.GradientTransformation
  state_sharding: Any                 # a TrainState of NamedShardings
  init: Callable[[jax.Array], TrainState]
  step: Callable[[TrainState, dict], tuple]
  predict: Callable[[Any, jax.Array], jax.Array]
  class_names: tuple

  @classmethod
  def from_config(cls, config, devices=None) -> 'Experiment':
    """Builds and checks the run's wiring before anything compiles. Label names
    come from the data; a dataset that must be built for them is built here, by
    one process (data.datasets)."""
    mesh = shd.make_mesh(config.mesh, devices)
    shd.check_batch_fits(mesh, **{'config.input.image_batch': config.input.image_batch,
                                  'config.input.video_batch': config.input.video_batch,
                                  'config.eval.image_batch': config.eval.image_batch,
                                  'config.eval.clip_batch': config.eval.clip_batch})
    _check_clip_len(config)
    class_names = tuple(datasets.class_names(config.data))
    model = build_model(config.model, len(class_names))
    s = config.data.image_size
    temporal = getattr(model, 'temporal', False)  # a fork's model may not say
    input_shape = (1, config.input.clip_len, s, s, 3) if temporal else (1, s, s, 3)
    objective = Objective.from_config(config.adversarial, config.train.steps)
    tap_shapes = check_taps(model, input_shape, objective.model_taps())
    tx = make_optimizer(config.optimizer, config.train.steps,
                        {ClusteredDomain.key: config.adversarial.clustered.get('disc_lr')})
    init = functools.partial(init_train_state, model=model, objective=objective, tx=tx,
                             input_shape=input_shape, tap_shapes=tap_shapes,
                             num_classes=len(class_names))
    state_sharding = shd.state_shardings(jax.eval_shape(init, jax.random.key(0)), mesh,
                                         config.mesh.fsdp_min_size)
    return cls(
        config=config, mesh=mesh, model=model, objective=objective, tx=tx,
        state_sharding=state_sharding,
        # Created directly sharded: no host ever holds the whole state.
        init=jax.jit(init, out_shardings=state_sharding,
                     compiler_options=_init_compiler_options(mesh)),
        step=jit_train_step(mesh, state_sharding, model=model, objective=objective, tx=tx,
                            video_label_weight=config.train.video_label_weight,
                            image_as_clip=config.model.image_as_clip),
        predict=jit_predict(mesh, state_sharding.params['model'], model, config.input.clip_len,
                            config.model.image_as_clip),
        class_names=class_names)

  def init_state(self) -> TrainState:
    """Fresh state from config.seed, with pretrained backbone weights when
    config.model.pretrained names a file, or another run's network where
    config.model.init_from names its workdir (entries of the same name and shape)."""
    state = self.init(jax.random.key(self.config.seed))
    m = self.config.model
    if not m.pretrained and not m.init_from:
      return state
    model_params = jax.device_get(state.params['model'])
    if m.pretrained:
      if not m.pretrained.endswith('.npz') and 'variant' not in m:
        raise ValueError(f'config.model.pretrained={m.pretrained!r}: {m.name} loads a .npz '
                         '(vda-convert-mit writes one)')
      weights = m.pretrained if m.pretrained.endswith('.npz') else (
          efficientnet_weights.encoder_weights(m.pretrained, m.variant))
      model_params, loaded = pretrained.load_into(model_params, weights)
      logging.info('loaded %d pretrained entries from %s', len(loaded), m.pretrained)
    if m.init_from:
      source = Experiment.from_config(checkpoint.load_config(m.init_from),
                                      list(self.mesh.devices.flat))
      model_params, loaded = pretrained.load_matching(
          model_params, jax.device_get(source.restore(m.init_from).params['model']))
      logging.info('initialised %d entries from the run in %s', len(loaded), m.init_from)
    params = {**state.params, 'model': model_params}
    return state.replace(params=jax.device_put(params, self.state_sharding.params))

  def restore(self, workdir, step=None) -> TrainState:
    """The TrainState saved in `workdir` (latest step unless `step`), on this mesh."""
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                            jax.eval_shape(self.init, jax.random.key(0)), self.state_sharding)
    return checkpoint.restore_state(workdir, abstract, step)

  def evaluate(self, model_params, sources, split) -> dict:
    """Scores on images/ and videos/`split` ('val' or 'test'); see eval.evaluate
    (inside a preemption.watch(), Interrupted at the record after a SIGTERM)."""
    c = self.config
    return evaluate(self.predict, model_params, sources, sharding=shd.batch_sharding(self.mesh),
                    class_names=self.class_names, image_batch=c.eval.image_batch,
                    clip_batch=c.eval.clip_batch, size=c.data.image_size,
                    clip_len=c.input.clip_len, skip_first_last=c.eval.skip_first_last,
                    split=split)


def train_iterator(config: ml_collections.ConfigDict, sources: dict,
                   step: int = 0) -> grain.DatasetIterator:
  """This process's share of the config's training stream (images + clips) from the
  batch of global step `step` + 1 on: the same batches whatever the process count."""
  c = config
  n, i = jax.process_count(), jax.process_index()
  data = pipeline.train_dataset(
      sources['images/train'], sources['videos/train'],
      image_batch=c.input.image_batch // n, video_batch=c.input.video_batch // n,
      clip_len=c.input.clip_len, seed=c.seed, shard=pipeline.Shard(i, n),
      augment=pipeline.Augmentation(shift=c.input.augment, scale=tuple(c.input.scale_range),
                                    colour=c.input.colour_jitter),
      video_labels=bool(c.train.video_label_weight),
      size=c.data.image_size)
  return pipeline.train_iterator(data, num_workers=c.input.num_workers, prefetch=c.input.prefetch,
                                 start=step)


def _check_clip_len(config):
  # Real training videos are stored as chunks of train_clips.chunk_len frames.
  field, stored = (('config.data.stored_clip_len', config.data.stored_clip_len)
                   if config.data.name == 'embedded' else
                   ('config.data.train_clips.chunk_len', config.data.train_clips.chunk_len))
  if config.input.clip_len > stored:
    raise ValueError(f'config.input.clip_len={config.input.clip_len} is longer than the '
                     f'stored clips ({field}={stored})')


def _init_compiler_options(mesh):
  """XLA options for compiling `init`, which runs once. On CPU, LLVM's default -O3
  spends 15-30 s on the initialisers' unrolled random-number code; -O2 compiles the
  same program 2-4x faster and to the same bits (`scripts/benchmark.py --init_compile`,
  docs/benchmarks.md; tests/test_benchmark.py checks the bits). Other platforms keep
  XLA's defaults: nobody has measured them there. A level set in XLA_FLAGS is kept (the
  tests' -O0 compiles init faster still, to other bits than -O3)."""
  if '--xla_backend_optimization_level' in os.environ.get('XLA_FLAGS', ''):
    return None
  if mesh.devices.flat[0].platform == 'cpu':
    return {'xla_backend_optimization_level': 2}
  return None
