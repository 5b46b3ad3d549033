"""Every architecture: shapes, parameter counts, taps, a sharded step, and learning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.batches import random_batch
from conftest import tiny_config
from vda_jax.models.registry import MODELS, build_model
from vda_jax.models.taps import tap_shapes
from vda_jax.train import experiment
from vda_jax.train import sharding as shd
from vda_jax.train import step as step_lib
from vda_jax.train.experiment import Experiment

ARCHS = sorted(MODELS)


def count(params):
  return sum(x.size for x in jax.tree.leaves(params))


@pytest.mark.parametrize('name', ARCHS)
def test_output_and_tap_shapes(name):
  model = build_model(tiny_config(model=name).model, num_classes=5)
  temporal = name in ('cnn3d', 'segformer_st')
  shape = (2, 3, 32, 32, 3) if temporal else (2, 32, 32, 3)
  taps = tap_shapes(model, shape)
  lead = shape[:-3]
  assert taps['logits'].shape == lead + (32, 32, 5)
  # Side of each tap for a 32 px input.
  if name.startswith('cnn'):
    assert set(taps) == {'stem', 'stage1', 'stage2', 'stage3', 'stage4', 'decoder', 'logits'}
    expected = {'stem': 16, 'stage1': 16, 'stage2': 8, 'stage3': 4, 'stage4': 2, 'decoder': 16}
  elif name == 'efficientnet_lite':
    assert set(taps) == {'stem', 'stage1', 'stage2', 'stage3', 'stage4', 'decoder', 'logits'}
    expected = {'stem': 16, 'stage1': 8, 'stage2': 4, 'stage3': 2, 'stage4': 1, 'decoder': 8}
  else:
    assert set(taps) == {'patch_embed', 'stage1', 'stage2', 'stage3', 'stage4', 'decoder', 'logits'}
    expected = {'patch_embed': 8, 'stage1': 8, 'stage2': 4, 'stage3': 2, 'stage4': 1, 'decoder': 8}
  for tap, side in expected.items():
    assert taps[tap].shape[:-1] == lead + (side, side), tap


@pytest.mark.parametrize('temporal,expected', [(False, 229), (True, 625)])
def test_convnet_parameter_count_by_hand(temporal, expected):
  # width 2, one stage. 2D: stem 3*3*3*2 + GN 4; block 2*(3*3*2*2) + 2 GN 8; decoder
  # 3*3*4*2 + GN 4; 1x1 head 2*5 + 5  = 58 + 80 + 76 + 15 = 229.
  # 3D (3x3x3 kernels): stem 27*3*2 + 4; block 2*(27*2*2) + 8; decoder 27*4*2 + 4;
  # head 15  = 166 + 224 + 220 + 15 = 625.
  model = build_model({'name': 'cnn3d' if temporal else 'cnn2d', 'width': 2,
                       'stage_widths': (1,)}, num_classes=5)
  x = jnp.zeros((1, 2, 8, 8, 3) if temporal else (1, 8, 8, 3), jnp.uint8)
  assert count(jax.eval_shape(model.init, jax.random.key(0), x)['params']) == expected


@pytest.mark.parametrize('size', ['nano', 'b0'])
def test_segformer_encoder_has_exactly_the_official_mit_parameters(size):
  torch = pytest.importorskip('torch')
  import torch_mit  # pylint: disable=g-import-not-at-top
  from vda_jax.models.segformer import SIZES  # pylint: disable=g-import-not-at-top
  s = SIZES[size]
  source = torch_mit.MixVisionTransformer(s['dims'], s['heads'], s['depths'], s['sr_ratios'])
  official = sum(p.numel() for n, p in source.named_parameters() if not n.startswith('head.'))
  params = jax.eval_shape(build_model({'name': 'segformer', 'size': size}, 5).init,
                          jax.random.key(0), jnp.zeros((1, 64, 64, 3), jnp.uint8))['params']
  encoder = {k: v for k, v in params.items() if not k.startswith(('linear_', 'fuse_'))}
  assert count(encoder) == official
  del torch


@pytest.mark.slow
@pytest.mark.parametrize('name', ['cnn3d', 'segformer', 'segformer_st'])
def test_sharded_short_run_learns_more_than_the_label_prior(name, sources):
  """The shared train step on 4 fake devices, domain losses at a shallow and a deep tap.

  (cnn2d is covered by test_train.py; test_step.py checks 1 vs 4 devices agree.)
  """
  config = tiny_config(model=name)
  config.mesh.data = 4
  shallow = 'patch_embed' if name.startswith('segformer') else 'stem'
  config.adversarial.taps = f'{shallow},stage4'
  exp = Experiment.from_config(config, jax.devices()[:4])
  state = exp.init(jax.random.key(0))
  it = experiment.train_iterator(config, sources)
  losses = []
  # 3D nets learn from static clips more slowly: 60 steps are not enough for them.
  for step in range(100 if exp.model.temporal else 60):
    batch = shd.to_global(next(it), exp.mesh)
    state, metrics = exp.step(state, batch)
    losses.append(float(metrics['sup_loss']))
  assert batch['video'].sharding.num_devices == 4
  assert {f'domain_loss/{shallow}', 'domain_loss/stage4'} <= set(metrics)
  masks = np.concatenate([sources['images/train'][i]['mask'].ravel()
                          for i in range(len(sources['images/train']))])
  p = np.bincount(masks) / masks.size
  prior_entropy = float(-np.sum(p[p > 0] * np.log(p[p > 0])))
  assert np.mean(losses[-5:]) < prior_entropy < np.mean(losses[:3]), losses


def test_image_as_single_frame_clip_for_temporal_models():
  config = tiny_config(model='cnn3d')
  config.model.image_as_clip = 'single'
  exp = Experiment.from_config(config, jax.devices()[:1])
  batch = random_batch(config)
  params = jax.eval_shape(exp.init, jax.random.key(0)).params
  out = jax.eval_shape(lambda p, b: step_lib.forward(exp.model, p['model'], b['image'],
                                                     b['video'], 'single'), params, batch)
  assert out.image_logits.shape == (8, 32, 32, 5)
  assert out.video_logits.shape == (4, 2, 32, 32, 5)
  assert out.image_taps['stem'].shape[:2] == (8, 1)   # a one-frame clip per image
  assert out.video_taps['stem'].shape[:2] == (4, 2)
  with pytest.raises(ValueError, match="image_as_clip='loop'"):
    jax.eval_shape(lambda p, b: step_lib.forward(exp.model, p['model'], b['image'],
                                                 b['video'], 'loop'), params, batch)


@pytest.mark.parametrize('name', ['cnn2d', pytest.param('segformer', marks=pytest.mark.slow)])
def test_remat_and_bfloat16_switches(name):
  config = tiny_config(model=name)
  x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), np.uint8))
  model = build_model(config.model, 5)
  params = jax.jit(model.init)(jax.random.key(0), x)['params']
  config.model.update(remat=True)
  remat_model = build_model(config.model, 5)
  grad = lambda m: jax.jit(jax.grad(lambda p: jnp.mean(m.apply({'params': p}, x) ** 2)))(params)
  # Remat recomputes the forward pass, which XLA may fuse differently: float32 sums then
  # round differently, by a few ulps of each tensor's largest entries.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      a, b, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(b)))), grad(model), grad(remat_model))
  config.model.update(remat=False, dtype='bfloat16')
  bf16 = build_model(config.model, 5)
  out = jax.jit(bf16.apply)({'params': params}, x)
  assert out.dtype == jnp.float32  # logits are always returned in fp32
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(
      jax.eval_shape(bf16.init, jax.random.key(0), x)['params']))
  ref = jax.jit(model.apply)({'params': params}, x)
  # bf16 keeps 8 mantissa bits (~0.4% per op); a few % through the network is expected.
  rel = float(jnp.mean(jnp.abs(out - ref)) / jnp.mean(jnp.abs(ref)))
  assert 0 < rel < 0.05, rel


def test_a_name_or_field_no_model_takes_is_one_line_naming_it():
  with pytest.raises(ValueError, match=r"config.model.name='unet9' is not a model; known: \["):
    build_model({'name': 'unet9'}, 2)
  with pytest.raises(ValueError, match=r"a field the model 'cnn2d' does not take: .*'depthwise"):
    build_model({'name': 'cnn2d', 'depthwise_impl': 'grouped'}, 2)
