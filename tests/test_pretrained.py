"""Converted MiT checkpoints reproduce the source network; bad files are clear errors."""
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT
from vda_jax.models import pretrained
from vda_jax.models.registry import build_model
from vda_jax.models.segformer import SIZES
from vda_jax.models.taps import apply_with_taps
from vda_jax.train.experiment import Experiment


def convert(source, npz):
  subprocess.run([sys.executable, str(ROOT / 'scripts' / 'convert_mit_weights.py'),
                  f'--input={source}', f'--output={npz}'], check=True, capture_output=True,
                 env={**os.environ, 'PYTHONPATH': str(ROOT)})


def hugging_face_names(state_dict):
  """NVlabs' MiT names -> Hugging Face's, renamed the way transformers'
  convert_segformer_original_to_pytorch.py does it (k and v split, a classifier added)."""
  out = {}
  for key, value in state_dict.items():
    key = 'segformer.encoder.' + key
    key = re.sub(r'patch_embed(\d)', lambda m: f'patch_embeddings.{int(m[1]) - 1}', key)
    key = key.replace('norm', 'layer_norm')
    key = re.sub(r'encoder\.layer_norm(\d)', lambda m: f'encoder.layer_norm.{int(m[1]) - 1}', key)
    key = key.replace('layer_norm1', 'layer_norm_1').replace('layer_norm2', 'layer_norm_2')
    key = re.sub(r'block(\d)', lambda m: f'block.{int(m[1]) - 1}', key)
    key = key.replace('attn.q', 'attention.self.query')
    key = key.replace('attn.proj', 'attention.output.dense')
    key = key.replace('attn', 'attention.self').replace('fc1', 'dense1').replace('fc2', 'dense2')
    if '.kv.' in key:
      half = len(value) // 2
      out[key.replace('.kv.', '.key.')] = value[:half]
      out[key.replace('.kv.', '.value.')] = value[half:]
    else:
      out[key] = value
  out['classifier.weight'] = np.zeros((1000, value.shape[-1]), np.float32)
  return out


def random_params(model, seed, *example):
  """Parameters of `model`'s shapes, random normal: these tests load weights into a tree and
  compare values, so they skip compiling the network's init (10-30 s each on CPU)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *example)['params']
  return jax.tree.map(lambda s: rng.normal(size=s.shape).astype(s.dtype), shapes)


def test_safetensors_in_nvlabs_and_hugging_face_names_convert_like_the_pth(tmp_path):
  torch = pytest.importorskip('torch')
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top

  import torch_mit  # pylint: disable=g-import-not-at-top
  s = SIZES['nano']
  torch.manual_seed(1)
  source = torch_mit.MixVisionTransformer(s['dims'], s['heads'], s['depths'], s['sr_ratios'])
  state = {k: v.numpy() for k, v in source.state_dict().items()}
  torch.save(source.state_dict(), tmp_path / 'mit.pth')
  save_file(state, tmp_path / 'nvlabs.safetensors')
  hf = hugging_face_names(state)
  assert 'segformer.encoder.block.0.0.attention.self.key.weight' in hf
  save_file(hf, tmp_path / 'hf.safetensors')
  for name in ('mit.pth', 'nvlabs.safetensors', 'hf.safetensors'):
    convert(tmp_path / name, tmp_path / f'{name}.npz')
  with np.load(tmp_path / 'mit.pth.npz') as reference:
    reference = dict(reference)
  for name in ('nvlabs.safetensors', 'hf.safetensors'):
    with np.load(tmp_path / f'{name}.npz') as got:
      assert sorted(got) == sorted(reference), name
      for key, value in reference.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f'{name}: {key}')


# b0 reads the same code as nano at 9x the parameters: the whole suite's.
@pytest.mark.parametrize('size', ['nano', pytest.param('b0', marks=pytest.mark.slow)])
def test_converted_mit_checkpoint_reproduces_the_pytorch_network(tmp_path, size):
  torch = pytest.importorskip('torch')
  import torch_mit  # pylint: disable=g-import-not-at-top
  s = SIZES[size]
  torch.manual_seed(0)
  source = torch_mit.MixVisionTransformer(s['dims'], s['heads'], s['depths'], s['sr_ratios']).eval()
  for p in source.parameters():  # random, not init-shaped, so every weight matters
    p.data.normal_(0, 0.2)
  checkpoint = tmp_path / f'mit_{size}.pth'
  torch.save({'state_dict': source.state_dict()}, checkpoint)
  npz = tmp_path / f'mit_{size}.npz'
  convert(checkpoint, npz)

  model = build_model({'name': 'segformer', 'size': size}, num_classes=5)
  pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), np.uint8)
  params, loaded = pretrained.load_into(random_params(model, 0, pixels), str(npz))
  assert 'block1_0/attn/q/kernel' in loaded and not any(k.startswith('linear_') for k in loaded)
  _, taps = jax.jit(lambda p, x: apply_with_taps(model, p, x))(params, jnp.asarray(pixels))
  with torch.no_grad():
    x = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
    expected = [o.permute(0, 2, 3, 1).numpy() for o in source(x)]
  for i, e in enumerate(expected):
    np.testing.assert_allclose(np.asarray(taps[f'stage{i + 1}']), e, atol=2e-4, rtol=1e-4)


def test_loading_rejects_wrong_shapes_and_unknown_entries(tmp_path):
  model = build_model({'name': 'segformer', 'size': 'nano'}, num_classes=5)
  params = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, 32, 32, 3), jnp.uint8))['params']
  bad = tmp_path / 'bad.npz'
  np.savez(bad, **{'block1_0/attn/q/kernel': np.zeros((3, 3))})
  with pytest.raises(ValueError, match=r"bad.npz: entry 'block1_0/attn/q/kernel' has shape "
                                       r"\(3, 3\), the model expects \(16, 16\)"):
    pretrained.load_into(params, str(bad))
  np.savez(bad, **{'encoder/nope': np.zeros(3)})
  with pytest.raises(ValueError, match='1 entries have no place in the model'):
    pretrained.load_into(params, str(bad))


def test_temporal_model_takes_image_weights_and_keeps_its_new_layers(tmp_path):
  image_model = build_model({'name': 'segformer', 'size': 'nano'}, num_classes=5)
  video_model = build_model({'name': 'segformer_st', 'size': 'nano'}, num_classes=5)
  p2d = random_params(image_model, 1, jnp.zeros((1, 32, 32, 3), jnp.uint8))
  p3d = random_params(video_model, 2, jnp.zeros((1, 2, 32, 32, 3), jnp.uint8))
  npz = tmp_path / 'image.npz'
  pretrained.save_npz(p2d, npz)
  loaded, names = pretrained.load_into(p3d, str(npz))
  np.testing.assert_array_equal(loaded['block1_0']['attn']['q']['kernel'],
                                p2d['block1_0']['attn']['q']['kernel'])
  np.testing.assert_array_equal(loaded['block1_0']['temporal_attn']['qkv']['kernel'],
                                p3d['block1_0']['temporal_attn']['qkv']['kernel'])
  assert len(names) == len(jax.tree.leaves(p2d))


def test_config_pretrained_path_reaches_the_train_state(tmp_path):
  from conftest import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config(model='segformer')
  donor = Experiment.from_config(config, jax.devices()[:1]).init_state().params['model']
  donor = jax.device_get(donor)
  donor = jax.tree.map(lambda x: x + 1.0, donor)
  npz = tmp_path / 'donor.npz'
  pretrained.save_npz({k: v for k, v in donor.items() if k.startswith('block')}, npz)
  config.model.pretrained = str(npz)
  state = Experiment.from_config(config, jax.devices()[:1]).init_state()
  got = jax.device_get(state.params['model'])
  np.testing.assert_array_equal(got['block1_0']['mlp']['fc1']['kernel'],
                                donor['block1_0']['mlp']['fc1']['kernel'])
  assert not np.array_equal(got['linear_pred']['kernel'], donor['linear_pred']['kernel'])


def test_load_matching_takes_same_name_and_shape_entries_and_keeps_a_new_head():
  params = {'stem': {'kernel': np.zeros((3, 3, 3, 8), np.float32)},
            'head': {'kernel': np.zeros((1, 1, 8, 2), np.float32), 'bias': np.zeros(2, np.float32)}}
  source = {'stem': {'kernel': np.ones((3, 3, 3, 8), np.float64)},
            'head': {'kernel': np.ones((1, 1, 8, 7)), 'bias': np.ones(7)},  # 7 other classes
            'aux': {'kernel': np.ones(4)}}  # no place in this model
  loaded, names = pretrained.load_matching(params, source)
  assert names == ['stem/kernel']
  assert loaded['stem']['kernel'].dtype == np.float32 and (loaded['stem']['kernel'] == 1).all()
  assert (loaded['head']['kernel'] == 0).all() and (loaded['head']['bias'] == 0).all()
  with pytest.raises(ValueError, match='shares no entry'):
    pretrained.load_matching(params, {'aux': {'kernel': np.ones(4)}})
