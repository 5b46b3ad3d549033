"""Launch recipes print exactly what they would run (--dry-run); process-group settings."""
import shlex
import subprocess

import ml_collections
import pytest

from conftest import ROOT
from vda_jax.config_arg import load_config_module
from vda_jax.train import distributed, sharding


def _dry(script, *args):
  out = subprocess.run(['bash', str(ROOT / 'scripts' / script), '--dry-run', *args],
                       capture_output=True, text=True, timeout=60)
  return out.returncode, out.stdout.splitlines(), out.stderr


def _commands(lines):
  """The dry run's commands as argument lists (the trace's '+ ' dropped)."""
  return [shlex.split(line[2:]) for line in lines]


def _train_command(shell):
  """The `python -m vda_jax.commands.train ...` a remote shell line runs, as its arguments."""
  for part in shell.split(' && '):
    args = shlex.split(part)
    if args[1:3] == ['-m', 'vda_jax.commands.train']:
      return args
  raise AssertionError(f'no vda-train in {shell!r}')


def test_tpu_pod_dry_run_creates_copies_trains_on_every_worker_and_deletes():
  rc, lines, err = _dry('launch_tpu_pod.sh', '--name=p', '--zone=z', '--type=v4-32',
                        '--workdir=gs://b/r', '--', '--config=configs/pod.py:method=clustered')
  assert rc == 0, err
  commands = _commands(lines)
  create, delete = commands[0], commands[-1]
  assert create[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'create', 'p']
  assert {'--zone=z', '--accelerator-type=v4-32'} <= set(create)
  assert delete[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'delete', 'p']
  assert '--zone=z' in delete
  runs = [c for c in commands if any('vda_jax.commands.train' in a for a in c)]
  assert len(runs) == 1 and '--worker=all' in runs[0]
  remote = next(a for a in runs[0] if a.startswith('--command='))[len('--command='):]
  train = _train_command(remote)
  # Every worker trains the asked config into the shared workdir, as one process group.
  assert train[3:] == ['--config=configs/pod.py:method=clustered', '--workdir=gs://b/r',
                       '--config.distributed.coordinator=auto']
  config = load_config_module(str(ROOT / 'configs' / 'pod.py')).get_config('method=clustered')
  assert config.adversarial.clustered.taps
  rc, _, err = _dry('launch_tpu_pod.sh', '--', '--config=configs/pod.py')
  assert rc == 2 and '--workdir=gs://... is required' in err


def test_multi_gpu_dry_run_gives_each_host_its_process_id():
  rc, lines, err = _dry('launch_multi_gpu.sh', '--hosts=a,b', '--port=9000', '--workdir=/w', '--',
                        '--config=configs/pod.py')
  assert rc == 0, err
  commands = _commands(lines)
  assert [c[:2] for c in commands] == [['ssh', 'a'], ['ssh', 'b']]
  for i, (_, _, remote) in enumerate(commands):
    env_and_train = remote.split(' && ')[-1]
    env = dict(a.split('=', 1) for a in shlex.split(env_and_train) if a.startswith('VDA_'))
    assert env == {'VDA_COORDINATOR': 'a:9000', 'VDA_NUM_PROCESSES': '2', 'VDA_PROCESS_ID': str(i)}
    # What the host's process reads from that environment (the first host coordinates).
    assert distributed.settings(_dist(), env) == ('a:9000', 2, i)
    train = shlex.split(env_and_train)[len(env):]
    assert train[1:] == ['-m', 'vda_jax.commands.train', '--config=configs/pod.py', '--workdir=/w']


def _dist(**kw):
  return ml_collections.ConfigDict(dict(dict(coordinator='', num_processes=1, process_id=0,
                                             cpu_collectives='gloo'), **kw))


def test_process_group_settings_from_config_or_environment():
  assert distributed.settings(_dist(), {}) == (None, 1, 0)
  assert distributed.settings(_dist(coordinator='auto'), {}) == ('auto', None, None)
  assert distributed.settings(_dist(coordinator='h:1', num_processes=4, process_id=3), {}) == (
      'h:1', 4, 3)
  env = {'VDA_COORDINATOR': 'h:2', 'VDA_NUM_PROCESSES': '2', 'VDA_PROCESS_ID': '1'}
  assert distributed.settings(_dist(), env) == ('h:2', 2, 1)
  with pytest.raises(ValueError, match='VDA_NUM_PROCESSES and VDA_PROCESS_ID must be integers'):
    distributed.settings(_dist(), {'VDA_COORDINATOR': 'h:2'})
  with pytest.raises(ValueError, match=r'process id 2 is not in \[0, 2\)'):
    distributed.settings(_dist(), {**env, 'VDA_PROCESS_ID': '2'})


def test_pod_config_mesh_fits_eight_devices():
  import jax  # pylint: disable=g-import-not-at-top
  config = load_config_module(str(ROOT / 'configs' / 'pod.py')).get_config()
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:8])
  assert dict(mesh.shape) == {'data': 2, 'fsdp': 4, 'model': 1}
  sharding.check_batch_fits(mesh, image_batch=config.input.image_batch,
                            video_batch=config.input.video_batch)
