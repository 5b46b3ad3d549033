"""Config helpers: big_vision-style config args ('method=adversarial,width=32'),
'a.b=value' overrides, a search space's candidates, and loading a config file as a module."""
import importlib.util
import itertools
import os

import ml_collections


def load_config_module(path):
  """The config file at `path` (a Python file with get_config(arg)) as a module."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'config file {path!r} does not exist')
  spec = importlib.util.spec_from_file_location('vda_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def parse_arg(arg, **defaults):
  """Parses 'k=v,k2=v2' (values typed like their defaults); unknown keys are errors."""
  out = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, sep, value = item.partition('=')
    if not sep:
      raise ValueError(f'config arg {item!r} is not key=value')
    if key not in defaults:
      raise ValueError(f'config arg {key!r} is unknown; expected one of {sorted(defaults)}')
    kind = type(defaults[key])
    out[key] = (value.lower() in ('1', 'true', 'yes')) if kind is bool else kind(value)
  return out


def set_fields(config, fields):
  """Sets {'a.b': value} on an unlocked ConfigDict (a config file's tables of fields)."""
  for field, value in fields.items():
    *parents, leaf = field.split('.')
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def combinations(axes):
  """A search space's candidates: {'a.b': value} for every combination of the axes' values
  ({'a.b': (value, ...)}), fields in sorted order; [{}] for no axes."""
  keys = sorted(axes)
  return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def apply_overrides(config, overrides):
  """Applies 'a.b=value' strings to a (locked) ConfigDict, typed like the existing field."""
  for item in overrides:
    key, sep, value = item.partition('=')
    if not sep:
      raise ValueError(f'override {item!r} is not key=value')
    *path, leaf = key.split('.')
    parent = config
    for part in path + [leaf]:
      if part not in parent:
        raise KeyError(f'override {key!r}: no field {part!r} (valid: {sorted(parent.keys())})')
      if part != leaf:
        parent = parent[part]
    old = parent[leaf]
    if old is None:   # an unset placeholder: typed by its reference
      parent[leaf] = parent.get_ref(leaf).get_type()(value)
    elif isinstance(old, bool):
      parent[leaf] = value.lower() in ('1', 'true', 'yes')
    elif isinstance(old, tuple):
      parent[leaf] = tuple(type(old[0])(v) for v in value.strip('()[]').split(',') if v.strip())
    else:
      parent[leaf] = type(old)(value)
  return config
