"""Mesh from config, shardings, and process-local host batches -> global jax.Arrays."""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh(mesh_config, devices=None):
  """A 1-axis ('data',) mesh; `mesh_config.data` = device count, -1 = all."""
  devices = list(jax.devices() if devices is None else devices)
  n = mesh_config.data if mesh_config.data != -1 else len(devices)
  if n > len(devices) or len(devices) % n:
    raise ValueError(f'config.mesh.data={mesh_config.data} does not fit '
                     f'{len(devices)} devices')
  return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def replicated(mesh):
  return NamedSharding(mesh, P())


def batch_sharding(mesh):
  """Leading (batch) axis split over the data axis; the rest whole."""
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_fits(mesh, **global_batch_sizes):
  n = mesh.shape[DATA_AXIS]
  for name, size in global_batch_sizes.items():
    if size % n:
      raise ValueError(f'{name}={size} is not divisible by the {n} devices '
                       f'on the mesh data axis')
    if size % jax.process_count():
      raise ValueError(f'{name}={size} is not divisible by the '
                       f'{jax.process_count()} processes')


def to_global(local_batch, mesh):
  """Each process's slice of the batch -> one global array per key."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}
