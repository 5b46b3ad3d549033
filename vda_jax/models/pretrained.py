"""Pretrained backbone weights: convert published checkpoints, load them into params.

Weights live in .npz files keyed by '/'-joined Flax param paths (the layout
`save_npz` writes), so loading needs neither PyTorch nor the original code.
`vda-convert-mit` makes one from an MiT (SegFormer ImageNet) checkpoint: NVlabs'
.pth, or a .safetensors in NVlabs' or Hugging Face's parameter names.
"""
import re

import flax
import numpy as np

# Hugging Face's SegFormer names -> NVlabs' (the inverse of transformers'
# convert_segformer_original_to_pytorch.py); key/value are joined into kv below.
_HF_RENAMES = (
    (r'^patch_embeddings\.(\d+)\.layer_norm\.', lambda m: f'patch_embed{int(m[1]) + 1}.norm.'),
    (r'^patch_embeddings\.(\d+)\.', lambda m: f'patch_embed{int(m[1]) + 1}.'),
    (r'^block\.(\d+)\.', lambda m: f'block{int(m[1]) + 1}.'),
    (r'^layer_norm\.(\d+)\.', lambda m: f'norm{int(m[1]) + 1}.'),
    (r'\.layer_norm_1\.', '.norm1.'),
    (r'\.layer_norm_2\.', '.norm2.'),
    (r'\.attention\.self\.query\.', '.attn.q.'),
    (r'\.attention\.self\.layer_norm\.', '.attn.norm.'),
    (r'\.attention\.self\.sr\.', '.attn.sr.'),
    (r'\.attention\.output\.dense\.', '.attn.proj.'),
    (r'\.mlp\.dense1\.', '.mlp.fc1.'),
    (r'\.mlp\.dense2\.', '.mlp.fc2.'),
)
_HF_PREFIX = re.compile(r'^(segformer\.)?encoder\.')


def nvlabs_names(state_dict):
  """An MiT state_dict in NVlabs' names, given NVlabs' or Hugging Face's
  (`[segformer.]encoder.block.0.0.attention.self.query.weight`, ...; heads dropped)."""
  if not any('patch_embeddings.' in k for k in state_dict):
    return dict(state_dict)
  out, kv = {}, {}
  for key, value in state_dict.items():
    if not _HF_PREFIX.match(key):
      continue  # classifier / decode_head
    key = _HF_PREFIX.sub('', key)
    for pattern, repl in _HF_RENAMES:
      key = re.sub(pattern, repl, key)
    m = re.fullmatch(r'(.*)\.attention\.self\.(key|value)\.(weight|bias)', key)
    if m:
      kv.setdefault((m[1], m[3]), {})[m[2]] = value
    else:
      out[key] = value
  for (block, leaf), parts in kv.items():
    if set(parts) != {'key', 'value'}:
      raise ValueError(f'{block}: attention {leaf} has {sorted(parts)}, expected key and value')
    out[f'{block}.attn.kv.{leaf}'] = np.concatenate([parts['key'], parts['value']], axis=0)
  return out


def read_state_dict(path):
  """name -> array of a .safetensors (no PyTorch needed) or a PyTorch .pth/.bin
  (a state_dict, or a dict holding one under 'state_dict')."""
  if str(path).endswith('.safetensors'):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return load_file(path)
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(f'{path}: reading a PyTorch checkpoint needs torch '
                     "(pip install 'vda_jax[torch]'), or convert it to .safetensors") from None
  checkpoint = torch.load(path, map_location='cpu', weights_only=True)
  return {k: v.float().numpy() for k, v in checkpoint.get('state_dict', checkpoint).items()}


def mit_params_from_torch(state_dict):
  """MiT state_dict (name -> array, NVlabs' or Hugging Face's names) -> SegFormer
  encoder params.

  Linear (out, in) -> kernel (in, out); Conv2d (out, in/groups, kh, kw) ->
  (kh, kw, in/groups, out); LayerNorm weight -> scale. The classification
  head (`head.*`) has no counterpart and is skipped.
  """
  params = {}
  for key, value in nvlabs_names(state_dict).items():
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


def load_into(params, weights):
  """params with every entry of `weights` replaced by it: a .npz path, or {'/'-joined
  Flax path: array} (efficientnet_weights).

  Every entry must exist in params with the same shape; params the weights
  lack (decoder, temporal layers) keep their fresh initialisation.
  Returns (params, names of the loaded entries).
  """
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep='/')
  if isinstance(weights, dict):
    path, loaded = 'the pretrained weights', weights
  else:
    path = weights
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


def load_matching(params, source):
  """params with every entry that `source` (another network's params, e.g. a run trained
  on other data) has under the same name and shape replaced by it; the rest (a
  classifier over another label set) keep their fresh initialisation.
  Returns (params, names of the loaded entries)."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep='/')
  other = flax.traverse_util.flatten_dict(flax.core.unfreeze(source), sep='/')
  loaded = sorted(k for k, v in other.items() if k in flat and v.shape == flat[k].shape)
  if not loaded:
    raise ValueError('the source network shares no entry (name and shape) with this model')
  for k in loaded:
    flat[k] = np.asarray(other[k]).astype(flat[k].dtype)
  return flax.traverse_util.unflatten_dict(flat, sep='/'), loaded
