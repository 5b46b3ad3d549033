"""A run's workdir on disk: config.json and Orbax checkpoints of the train state.

  workdir/config.json             the locked config the run was made from
  workdir/checkpoints/<step>/     'state' (TrainState)

The data position is not saved: the training stream is a function of the global
step (data/pipeline.py), so a resumed run rebuilds it at state.step, on any
number of hosts. A 'data' item (a Grain iterator state) in a checkpoint is ignored.
"""
import json
import os

from etils import epath
import jax
import ml_collections
import orbax.checkpoint as ocp


def workdir_path(workdir) -> epath.Path:
  """epath.Path of a workdir: local, or a bucket (gs://...) that every host of a pod shares."""
  return epath.Path(workdir) if '://' in str(workdir) else epath.Path(os.path.abspath(workdir))


class _Manager(ocp.CheckpointManager):
  """Orbax's manager, minus its own calls to JAX's preemption sync point: it numbers
  them by step, while the loop's poll (vda_jax.preemption) counts training steps and
  evaluation records; two numberings would let the processes miss the agreed call.
  The loop decides when to save."""

  def reached_preemption(self, step: int) -> bool:
    return False


def manager(workdir, keep=2) -> ocp.CheckpointManager:
  """The Orbax manager of workdir/checkpoints, keeping the last `keep` steps."""
  return _Manager(
      workdir_path(workdir) / 'checkpoints',
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))


def save(mngr, step, state):
  """Saves state as step `step` (asynchronously)."""
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


def restore_latest(mngr, state):
  """The latest complete checkpoint laid out like `state`; `state` unchanged if none."""
  step = mngr.latest_step()
  if step is None:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  return mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract)))['state']


def restore_state(workdir, abstract_state, step=None):
  """The TrainState saved in `workdir` (latest step unless `step`) laid out as
  `abstract_state` (ShapeDtypeStructs with shardings), without the data state."""
  mngr = manager(workdir)
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {mngr.directory}')
  state = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state)))['state']
  mngr.close()
  return state


def save_config(config, workdir):
  """workdir/config.json: what a restored run (segment, analysis) is rebuilt from."""
  if jax.process_index() == 0:
    path = workdir_path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / 'config.json.tmp'
    tmp.write_text(config.to_json_best_effort(indent=1, sort_keys=True))
    tmp.replace(path / 'config.json')  # never a half-written config.json


# Where a run's files live or how it is watched, not what it computes: these may change on resume.
RESUMABLE_FIELDS = ('data.data_dir', 'train.compile_cache_dir', 'train.profile_steps')


def _flat(tree, prefix=''):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def check_same_config(config, workdir):
  """Raises ValueError if workdir holds a run made from another config, so that its
  checkpoints or final scores are never taken for this config's (a changed search space,
  selection or override would otherwise silently reuse them). Fields the saved config
  lacks (added to the library since) and RESUMABLE_FIELDS are not compared."""
  path = workdir_path(workdir) / 'config.json'
  if not path.exists():
    return
  saved = _flat(json.loads(path.read_text()))
  now = _flat(json.loads(config.to_json_best_effort()))
  diff = [f'{k}: saved {saved[k]!r}, now {now[k]!r}' for k in sorted(saved.keys() & now.keys())
          if k not in RESUMABLE_FIELDS and saved[k] != now[k]]
  if diff:
    raise ValueError(f'{path} was written by a run with another config ({"; ".join(diff)}); '
                     'use another workdir, or delete this one to start over')


def load_config(workdir) -> ml_collections.ConfigDict:
  """The locked ConfigDict a run saved in workdir/config.json."""
  path = workdir_path(workdir) / 'config.json'
  if not path.exists():
    raise FileNotFoundError(f'{path}: missing; --checkpoint must be the workdir of a run '
                            '(it holds config.json and checkpoints/)')
  config = ml_collections.ConfigDict(_tuples(json.loads(path.read_text())))
  config.lock()
  return config


def _tuples(tree):
  """JSON lists back to the tuples the config held (model fields must be hashable)."""
  if isinstance(tree, dict):
    return {k: _tuples(v) for k, v in tree.items()}
  if isinstance(tree, list):
    return tuple(_tuples(v) for v in tree)
  return tree
