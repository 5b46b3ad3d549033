"""What a run ran on: host, devices and package versions, in workdir/environment.json.

Numbers from two host types (AVX2 against AVX-512 CPUs, one accelerator against
another) or two JAX versions differ for the same seed, so paired comparisons
must not mix them: `host_type` is the key a report pairs runs by.
"""
import importlib.metadata
import json
import pathlib
import platform

import jax

from vda_jax.train.checkpoint import workdir_path

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'grain', 'tensorflow-datasets', 'orbax-checkpoint')
FILE = 'environment.json'


def _cpu_model() -> str:
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _cpu_isa() -> str:
  try:
    flags = next((line.split(':', 1)[1].split() for line in
                  pathlib.Path('/proc/cpuinfo').read_text().splitlines()
                  if line.startswith('flags')), [])
  except OSError:
    flags = []
  return next((isa for isa in ('avx512f', 'avx2', 'avx') if isa in flags), platform.machine())


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return 'absent'


def describe() -> dict:
  """This process's host, devices and package versions."""
  devices = jax.devices()
  return {'cpu': _cpu_model(), 'cpu_isa': _cpu_isa(), 'platform': devices[0].platform,
          'device_kind': devices[0].device_kind, 'device_count': len(devices),
          'process_count': jax.process_count(), 'python': platform.python_version(),
          'packages': {p: _version(p) for p in PACKAGES}}


def host_type(env: dict) -> str:
  """What runs must share to be paired: CPU model and ISA, device kind, JAX version."""
  return (f"{env['cpu']} ({env['cpu_isa']}), {env['device_kind']}, "
          f"jax {env['packages']['jax']}")


def record(workdir) -> None:
  """Appends this start's description to workdir/environment.json (a resumed run
  lists every host it ran on)."""
  if jax.process_index() != 0:
    return
  path = workdir_path(workdir) / FILE
  starts = json.loads(path.read_text())['starts'] if path.exists() else []
  starts.append(describe())
  tmp = path.parent / (FILE + '.tmp')
  tmp.write_text(json.dumps({'starts': starts}, indent=1))
  tmp.replace(path)   # never a half-written record


def run_host_types(workdir) -> set[str]:
  """The host types a run's starts ran on (empty: the run predates the record)."""
  path = workdir_path(workdir) / FILE
  if not path.exists():
    return set()
  return {host_type(env) for env in json.loads(path.read_text())['starts']}
