"""examples/: a fork's alignment term and a fork's backbone, registered from outside the
package."""
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from benchmarks.batches import random_batch
from conftest import ROOT, program_env, tiny_config, tiny_overrides
from vda_jax.adversarial.objective import Objective
from vda_jax.config_arg import load_config_module
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment
from vda_jax.train.metrics_writer import read_metrics

coral = load_config_module(str(ROOT / 'examples' / 'coral.py'))


def test_coral_loss_by_hand():
  # Image features: rows (1, 0), (-1, 0) -> Cov = [[2, 0], [0, 0]]; video: rows (0, 1),
  # (0, -1) -> [[0, 0], [0, 2]]. ||diff||_F^2 = 8, over 4 C^2 = 16.
  image = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
  video = jnp.array([[0.0, 1.0], [0.0, -1.0]])
  assert float(coral.coral_loss(image, video)) == pytest.approx(0.5)
  assert float(coral.coral_loss(image, image)) == 0.0


def test_the_fork_config_builds_the_term_by_name():
  config = coral.get_config('model=segformer')
  (term,) = Objective.from_config(config.adversarial, config.train.steps).terms
  assert term == coral.Coral({'stem': 1.0}) and config.model.name == 'segformer'


def test_a_forks_file_run_again_registers_again_and_another_definition_is_refused(
    registries_kept):
  """A program may load a fork's file more than once (vda-confirm reads its plan three
  times): the same definitions take their names again; another definition is refused."""
  from vda_jax import register_model
  from vda_jax.adversarial import terms
  from vda_jax.models import registry
  again = load_config_module(str(ROOT / 'examples' / 'coral.py'))
  assert terms.TERMS['coral'] is again.Coral is not coral.Coral
  unet = [load_config_module(str(ROOT / 'examples' / 'tiny_unet.py')) for _ in range(2)]
  assert registry.MODELS['tiny_unet'] is unet[1].TinyUNet is not unet[0].TinyUNet
  with pytest.raises(ValueError, match=r"alignment term 'coral' is already registered "
                                       r"\(Coral in .*examples/coral.py\)"):
    terms.register('coral')(type('Coral', (), {}))
  with pytest.raises(ValueError, match=r"model 'tiny_unet' is already registered "
                                       r"\(TinyUNet in .*examples/tiny_unet.py\)"):
    register_model('tiny_unet')(type('TinyUNet', (), {}))


def _coral_config(**config_kw):
  config = tiny_config(method='source_only', **config_kw)
  with config.unlocked():
    config.adversarial.terms.coral = {'type': 'coral', 'taps': 'stage2:1.0'}
  return config


def test_coral_through_the_package_step_lowers_its_loss():
  config = _coral_config()
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  batch = shd.to_global(random_batch(config), exp.mesh)  # one batch, fitted 30 times
  losses = []
  for _ in range(30):
    state, metrics = exp.step(state, batch)
    losses.append(float(metrics['coral_loss/stage2']))
  assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.slow  # a subprocess end to end; the registration is tested above
def test_the_fork_backbone_trains_from_its_own_command(tmp_path, data_dir):
  """`python examples/tiny_unet.py --workdir=...`: a model registered from outside the
  package, trained by the package's step with a discriminator at its own 'stem' tap."""
  workdir = tmp_path / 'unet'
  overrides = [o for o in tiny_overrides(data_dir, steps=4) if not o.startswith('model.width=')]
  done = subprocess.run(
      [sys.executable, 'examples/tiny_unet.py', f'--workdir={workdir}',
       '--config.model.width=8', *[f'--config.{o}' for o in overrides]],
      cwd=ROOT, capture_output=True, text=True, timeout=600, env=program_env())
  assert done.returncode == 0, done.stderr[-3000:]
  logged = [r for r in read_metrics(str(workdir)) if 'domain_loss/stem' in r]
  assert logged and all(r['domain_loss/stem'] > 0 for r in logged)
  assert json.loads((workdir / 'config.json').read_text())['model']['name'] == 'tiny_unet'
