"""The mesh from config, sharding rules for the train state, and host batches -> global arrays.

Mesh axes: 'data' (pure data parallel), 'fsdp' (data parallel whose members
also split the large parameters and their optimizer state) and 'model' (splits
the output features of matrices and kernels). The batch is split over data x
fsdp. Every state leaf gets its sharding from its shape alone, so parameters,
Adam moments and EMA centroids follow one rule:
  - 'model' on the last axis when it divides evenly (ndim >= 2);
  - 'fsdp' on the largest other axis that divides evenly, when the leaf has at
    least `fsdp_min_size` elements (small leaves stay replicated: splitting
    them costs more in collectives than it saves in memory);
  - everything else replicated.
"""
import math
from typing import Sequence

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np

AXES = ('data', 'fsdp', 'model')
BATCH_AXES = ('data', 'fsdp')


def make_mesh(mesh_config: ml_collections.ConfigDict,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Mesh over AXES; config.mesh.{data,fsdp,model} are sizes, one of them may be -1 (the rest).

  Devices keep jax.devices() order (process-major), so each process's devices
  hold a contiguous block of the batch.
  """
  devices = list(jax.devices() if devices is None else devices)
  sizes = {a: int(mesh_config[a]) for a in AXES}
  requested = dict(sizes)
  free = [a for a, n in sizes.items() if n == -1]
  fixed = math.prod(n for n in sizes.values() if n != -1)
  if len(free) > 1 or any(n == 0 or n < -1 for n in sizes.values()):
    raise ValueError(f'config.mesh={sizes}: sizes must be positive, at most one may be -1')
  if free:
    if len(devices) % fixed:
      raise ValueError(f'config.mesh={sizes}: {len(devices)} devices are not divisible by '
                       f'the fixed axes ({fixed})')
    sizes[free[0]] = len(devices) // fixed
  n = math.prod(sizes.values())
  if n > len(devices) or len(devices) % n:
    raise ValueError(f'config.mesh={requested} ({n} devices) does not fit '
                     f'{len(devices)} devices')
  return Mesh(np.asarray(devices[:n]).reshape([sizes[a] for a in AXES]), AXES)


def replicated(mesh):
  return NamedSharding(mesh, P())


def batch_sharding(mesh):
  """Leading (batch) axis split over data x fsdp; the rest whole."""
  return NamedSharding(mesh, P(BATCH_AXES))


def batch_devices(mesh):
  return mesh.shape['data'] * mesh.shape['fsdp']


def leaf_spec(shape: tuple, mesh: Mesh, fsdp_min_size: int) -> P:
  """The PartitionSpec of one state leaf (see the module docstring)."""
  spec = [None] * len(shape)
  m, f = mesh.shape['model'], mesh.shape['fsdp']
  if m > 1 and len(shape) >= 2 and shape[-1] % m == 0:
    spec[-1] = 'model'
  if f > 1 and math.prod(shape) >= fsdp_min_size:
    free = [i for i, n in enumerate(shape) if spec[i] is None and n % f == 0]
    if free:
      spec[max(free, key=lambda i: shape[i])] = 'fsdp'
  return P(*spec)


def state_shardings(abstract_state, mesh: Mesh, fsdp_min_size: int):
  """NamedShardings for a pytree of ShapeDtypeStructs (e.g. jax.eval_shape of init)."""
  return jax.tree.map(lambda x: NamedSharding(mesh, leaf_spec(x.shape, mesh, fsdp_min_size)),
                      abstract_state)


def check_batch_fits(mesh, **global_batch_sizes):
  n = batch_devices(mesh)
  for name, size in global_batch_sizes.items():
    if size % n:
      raise ValueError(f'{name}={size} is not divisible by the {n} devices '
                       f'on the mesh batch axes (data x fsdp)')
    if size % jax.process_count():
      raise ValueError(f'{name}={size} is not divisible by the '
                       f'{jax.process_count()} processes')


def to_global(local_batch, mesh):
  """Each process's slice of the batch -> one global array per key."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}
