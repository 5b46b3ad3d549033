"""Joining the JAX process group: from config.distributed or the environment.

  config.distributed.coordinator = ''      one process, unless VDA_COORDINATOR is set
                                   'auto'  jax.distributed.initialize() finds the cluster
                                           itself (Cloud TPU pods, SLURM, Open MPI)
                                   'host:port' with num_processes and process_id
The launch scripts set VDA_COORDINATOR, VDA_NUM_PROCESSES and VDA_PROCESS_ID,
so every process runs the same command. Call before anything touches devices.
"""
import os

import jax
import ml_collections


def settings(dist_config, environ=os.environ):
  """(coordinator, num_processes, process_id) to initialize with; coordinator None = single
  process."""
  coordinator = dist_config.coordinator or environ.get('VDA_COORDINATOR', '')
  if not coordinator:
    return None, 1, 0
  if coordinator == 'auto':
    return 'auto', None, None
  if dist_config.coordinator:
    num, index = dist_config.num_processes, dist_config.process_id
  else:
    try:
      num, index = int(environ['VDA_NUM_PROCESSES']), int(environ['VDA_PROCESS_ID'])
    except (KeyError, ValueError) as e:
      raise ValueError('VDA_COORDINATOR is set, so VDA_NUM_PROCESSES and VDA_PROCESS_ID must be '
                       f'integers too ({e!r})') from e
  if not 0 <= index < num:
    raise ValueError(f'process id {index} is not in [0, {num}) for coordinator {coordinator}')
  return coordinator, num, index


def initialize(dist_config: ml_collections.ConfigDict, environ=os.environ) -> int:
  """Initializes jax.distributed when configured; returns the number of processes."""
  coordinator, num, index = settings(dist_config, environ)
  if coordinator is None or jax.distributed.is_initialized():
    return jax.process_count()
  # CPU hosts need a collectives backend for cross-process reductions (GPU/TPU have theirs).
  jax.config.update('jax_cpu_collectives_implementation', dist_config.cpu_collectives)
  if coordinator == 'auto':
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator, num_processes=num, process_id=index)
  return jax.process_count()
