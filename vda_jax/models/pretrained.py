"""Pretrained backbone weights: convert published checkpoints, load them into params.

Weights live in .npz files keyed by '/'-joined Flax param paths (the layout
`save_npz` writes), so loading needs neither PyTorch nor the original code.
`scripts/convert_mit_weights.py` makes one from an official MiT (SegFormer
ImageNet) checkpoint.
"""
import re

import flax
import numpy as np


def mit_params_from_torch(state_dict):
  """Official MiT state_dict (name -> array) -> SegFormer encoder params.

  Linear (out, in) -> kernel (in, out); Conv2d (out, in/groups, kh, kw) ->
  (kh, kw, in/groups, out); LayerNorm weight -> scale. The classification
  head (`head.*`) has no counterpart and is skipped.
  """
  params = {}
  for key, value in state_dict.items():
    value = np.asarray(value, np.float32)
    if key.startswith('head.'):
      continue
    path = key.split('.')
    # block{i}.{j}.x -> block{i}_{j}.x ; mlp.dwconv.dwconv -> mlp.dwconv
    if re.fullmatch(r'block\d+', path[0]):
      path = [f'{path[0]}_{path[1]}'] + path[2:]
    if path[-3:-1] == ['dwconv', 'dwconv']:
      path = path[:-3] + ['dwconv', path[-1]]
    *module, leaf = path
    if leaf == 'weight':
      if value.ndim == 4:
        leaf, value = 'kernel', value.transpose(2, 3, 1, 0)
      elif value.ndim == 2:
        leaf, value = 'kernel', value.T
      else:
        leaf = 'scale'
    elif leaf != 'bias':
      raise ValueError(f'unexpected MiT checkpoint entry {key!r}')
    node = params
    for m in module:
      node = node.setdefault(m, {})
    node[leaf] = value
  return params


def save_npz(params, path):
  flat = flax.traverse_util.flatten_dict(params, sep='/')
  np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_into(params, path):
  """params with every entry found in the .npz at `path` replaced by it.

  Every file entry must exist in params with the same shape; params the file
  lacks (decoder, temporal layers) keep their fresh initialisation.
  Returns (params, names of the loaded entries).
  """
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep='/')
  with np.load(path) as npz:
    loaded = dict(npz)
  unknown = sorted(set(loaded) - set(flat))
  if unknown:
    raise ValueError(f'{path}: {len(unknown)} entries have no place in the model, '
                     f'e.g. {unknown[:3]}')
  for k, v in loaded.items():
    if v.shape != flat[k].shape:
      raise ValueError(f'{path}: entry {k!r} has shape {v.shape}, the model expects '
                       f'{flat[k].shape}')
    flat[k] = v.astype(flat[k].dtype)
  return flax.traverse_util.unflatten_dict(flat, sep='/'), sorted(loaded)
