"""PyTorch checkpoints read with numpy alone: `read_checkpoint(path) -> {name: array}`.

Both of `torch.save`'s formats: the zip archive (PyTorch >= 1.6: data.pkl + one file per
storage) and the legacy stream (pickles, then every storage's bytes in order), so an
accelerator image needs no torch to load published weights. Only what a state_dict holds
is rebuilt (tensors, parameters, ordered dicts, numbers); any other object in the pickle is
refused, so a checkpoint cannot run code.
"""
import collections
import io
import pickle
import struct
import zipfile

import ml_dtypes
import numpy as np

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'BFloat16Storage': ml_dtypes.bfloat16, 'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
    'BoolStorage': np.bool_,
}


class CheckpointError(ValueError):
  """A file that is not a readable PyTorch checkpoint."""


class _Storage:
  def __init__(self, dtype, key, numel):
    self.dtype, self.key, self.numel, self.data = np.dtype(dtype), key, numel, None


class _Tensor:
  """A tensor waiting for its storage's bytes."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def array(self):
    data = self.storage.data
    if data is None:
      raise CheckpointError(f'storage {self.storage.key} has no data')
    if not self.size:
      return np.array(data[self.offset])
    item = data.itemsize
    end = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if end > data.size:
      raise CheckpointError(f'a tensor reaches past its storage {self.storage.key}')
    return np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size, tuple(s * item for s in self.stride)).copy()


def _rebuild_tensor(storage, offset, size, stride, *unused):
  del unused
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(tensor, *unused):
  del unused
  return tensor


_ALLOWED = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
  def __init__(self, file, storages):
    super().__init__(file)
    self.storages = storages

  def find_class(self, module, name):
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _STORAGE_DTYPES[name]
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    raise CheckpointError(f'it holds a {module}.{name}, which a state_dict never does')

  def persistent_load(self, pid):
    if pid[0] != 'storage':
      raise CheckpointError(f'unknown persistent record {pid[0]!r}')
    dtype, key, numel = pid[1], str(pid[2]), pid[4]
    if key not in self.storages:
      self.storages[key] = _Storage(dtype, key, numel)
    return self.storages[key]


def _materialise(obj):
  if isinstance(obj, _Tensor):
    return obj.array()
  if isinstance(obj, dict):
    return {k: _materialise(v) for k, v in obj.items()}
  return obj


def _read_zip(path):
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pkl = next((n for n in names if n.endswith('/data.pkl') or n == 'data.pkl'), None)
    if pkl is None:
      raise CheckpointError('a zip archive without data.pkl')
    prefix = pkl[:-len('data.pkl')]
    storages = {}
    obj = _Unpickler(io.BytesIO(archive.read(pkl)), storages).load()
    for key, storage in storages.items():
      raw = archive.read(f'{prefix}data/{key}')
      storage.data = np.frombuffer(raw, storage.dtype)
  return obj


def _read_legacy(path):
  with open(path, 'rb') as f:
    if pickle.load(f) != _LEGACY_MAGIC:
      raise CheckpointError('not a PyTorch checkpoint (no magic number)')
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    storages = {}
    obj = _Unpickler(f, storages).load()
    for key in pickle.load(f):
      storage = storages[str(key)]
      head = f.read(8)
      if len(head) < 8:
        raise CheckpointError(f'truncated: storage {key} is missing')
      (numel,) = struct.unpack('<q', head)
      raw = f.read(numel * storage.dtype.itemsize)
      if len(raw) < numel * storage.dtype.itemsize:
        raise CheckpointError(f'truncated: storage {key} has {len(raw)} of '
                              f'{numel * storage.dtype.itemsize} bytes')
      storage.data = np.frombuffer(raw, storage.dtype)
  return obj


def read_checkpoint(path) -> dict:
  """{name: numpy array} of a PyTorch state_dict file (or a dict holding one under
  'state_dict' or 'model'); CheckpointError naming the file if it cannot be read."""
  try:
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
  except CheckpointError as e:
    raise CheckpointError(f'{path}: {e}') from None
  except (pickle.UnpicklingError, EOFError, struct.error, KeyError, zipfile.BadZipFile,
          ValueError, TypeError, AttributeError, IndexError) as e:
    raise CheckpointError(f'{path}: not a readable PyTorch checkpoint '
                          f'({type(e).__name__}: {e})') from None
  for key in ('state_dict', 'model'):
    if isinstance(obj, dict) and isinstance(obj.get(key), dict):
      obj = obj[key]
  if not isinstance(obj, dict):
    raise CheckpointError(f'{path}: holds a {type(obj).__name__}, not a state_dict')
  try:
    return {str(k): v for k, v in _materialise(obj).items() if isinstance(v, np.ndarray)}
  except CheckpointError as e:
    raise CheckpointError(f'{path}: {e}') from None
