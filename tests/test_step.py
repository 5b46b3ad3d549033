"""The jitted train step: sharding invariance and the adversarial gradient."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.batches import random_batch
from conftest import ROOT, tiny_config
from vda_jax.adversarial.losses import domain_loss, segmentation_loss
from vda_jax.adversarial.objective import parse_taps
from vda_jax.config_arg import load_config_module
from vda_jax.train import sharding as shd
from vda_jax.train import step as step_lib
from vda_jax.train.experiment import Experiment


def run_steps(config, devices, batches):
  exp = Experiment.from_config(config, devices)
  state = exp.init(jax.random.key(0))
  losses = []
  for i, batch in enumerate(batches):
    state, metrics = exp.step(state, shd.to_global(batch, exp.mesh))
    losses.append(float(metrics['total_loss']))
  return losses, jax.device_get(state.params)


def _sharding_config():
  config = tiny_config()
  # Reduction order differs across shardings. With Adam's default eps, m / sqrt(v)
  # blows that float noise in near-zero gradients up to whole lr-sized steps; a
  # larger eps keeps the update proportional to the gradient, so params must agree.
  config.optimizer.eps = 1e-3
  config.mesh.fsdp_min_size = 512  # the tiny net has few large leaves; shard most of them
  return config


@pytest.fixture(scope='module')
def one_device_run():
  config = _sharding_config()
  batches = [random_batch(config, i) for i in range(3)]
  return batches, run_steps(config, jax.devices()[:1], batches)


@pytest.mark.parametrize('mesh', [dict(data=2, fsdp=2, model=2), dict(data=1, fsdp=4, model=2)])
def test_sharded_meshes_give_the_one_device_losses_and_params(mesh, one_device_run):
  assert len(jax.devices()) >= 8, 'conftest should fake 8 CPU devices'
  batches, (losses1, params1) = one_device_run
  config = _sharding_config()
  config.mesh.update(mesh)
  losses_n, params_n = run_steps(config, jax.devices()[:8], batches)
  np.testing.assert_allclose(losses1, losses_n, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), params1,
               params_n)


def test_state_is_created_sharded_by_the_size_rule():
  config = tiny_config()
  config.mesh.update(data=2, fsdp=2, model=2, fsdp_min_size=1024)
  exp = Experiment.from_config(config, jax.devices()[:8])
  state = exp.init(jax.random.key(0))
  P = jax.sharding.PartitionSpec
  # stage4's second conv: (3, 3, 32, 32) = 9216 elements: channels out on 'model', in on 'fsdp'.
  kernel = state.params['model']['stage4_block0']['Conv_1']['kernel']
  assert kernel.shape == (3, 3, 32, 32) and kernel.sharding.spec == P(None, None, 'fsdp', 'model')
  assert kernel.addressable_shards[0].data.shape == (3, 3, 16, 16)
  # Adam's moments follow their parameter; a 1-D norm scale of 32 is only split on 'model'...
  # (the network's AdamW: clip state, then (adam, weight decay, schedule))
  adam = state.opt_state.inner_states['network'].inner_state[1][0]
  mu = adam.mu['model']['stage4_block0']['Conv_1']['kernel']
  assert mu.sharding == kernel.sharding
  assert state.params['model']['stage4_block0']['GroupNorm_1']['scale'].sharding.spec == P(None)
  # ...and the step counter is replicated.
  assert state.step.sharding.is_fully_replicated
  with pytest.raises(ValueError, match='at most one may be -1'):
    config.mesh.update(data=-1, fsdp=-1)
    Experiment.from_config(config, jax.devices()[:8])


def test_state_is_sharded_over_the_mesh_and_donated():
  config = tiny_config()
  config.mesh.data = 4
  exp = Experiment.from_config(config, jax.devices()[:4])
  state = exp.init(jax.random.key(0))
  batch = shd.to_global(random_batch(config), exp.mesh)
  assert batch['image'].sharding.spec == jax.sharding.PartitionSpec(('data', 'fsdp'))
  assert len(batch['image'].addressable_shards) == 4
  leaf = jax.tree.leaves(state.params)[0]
  new_state, _ = exp.step(state, batch)
  assert leaf.is_deleted(), 'the old state should be donated to the step'
  assert jax.tree.leaves(new_state.params)[0].sharding.is_fully_replicated
  # A later step (another step count, lambda, batch) reuses the one compiled program.
  exp.step(new_state, shd.to_global(random_batch(config, 1), exp.mesh))
  assert exp.step._cache_size() == 1


def test_model_gets_minus_lambda_times_the_domain_gradient_and_discriminator_the_plain_one():
  config = tiny_config()  # global domain losses at stage2 and stage4
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  batch = jax.tree.map(jnp.asarray, random_batch(config))
  objective = exp.objective

  def domain_part(params, lam):
    total, (metrics, _) = step_lib.loss_fn(
        params, state.clusters, batch, model=exp.model, objective=objective, lam=lam,
        first_step=True, video_label_weight=0.0)
    return total - metrics['sup_loss']

  def plain_domain(params):  # the same losses, written without the reversal layer
    out = step_lib.forward(exp.model, params['model'], batch['image'], batch['video'])
    total = 0.0
    (term,) = objective.terms
    for name, w in term.taps.items():
      disc = lambda x: term.discriminator().apply(
          {'params': params['disc']['global'][name]}, x)
      total += w * domain_loss(disc(out.image_taps[name]), disc(out.video_taps[name]))[0]
    return total

  lam = 0.37
  g_rev = jax.jit(jax.grad(domain_part))(state.params, jnp.float32(lam))
  g_plain = jax.jit(jax.grad(plain_domain))(state.params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, -lam * b, rtol=1e-4, atol=1e-7),
               g_rev['model'], g_plain['model'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8),
               g_rev['disc'], g_plain['disc'])
  assert any(np.abs(x).max() > 0 for x in jax.tree.leaves(g_plain['model']))


def test_every_term_kind_is_reversed_into_the_network():
  """Clustered and CDAN terms too: grad_reverse(x, -1) is the identity both ways, so
  the model gradient at lambda must be -lambda times the one at -1."""
  config = tiny_config()
  config.adversarial.update(taps='logits', cdan_taps='decoder', aux_tap='stage3')
  config.adversarial.clustered.taps = 'stem'
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  batch = jax.tree.map(jnp.asarray, random_batch(config))

  def adversarial_part(params, lam):
    _, (metrics, _) = step_lib.loss_fn(
        params, state.clusters, batch, model=exp.model, objective=exp.objective,
        lam=lam, first_step=True, video_label_weight=0.0)
    return sum(metrics[k] * w for k, w in [('clustered_loss/stem', 0.1), ('cdan_loss/decoder', 0.1),
                                           ('domain_loss/logits', 0.1)])

  lam = 0.37
  grad = jax.jit(jax.grad(adversarial_part))  # one compile for both lambdas
  g_rev, g_plain = grad(state.params, jnp.float32(lam)), grad(state.params, jnp.float32(-1.0))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, -lam * b, rtol=1e-4, atol=1e-7),
               g_rev['model'], g_plain['model'])
  for kind in ('clustered', 'cdan', 'global'):
    assert any(np.abs(x).max() > 0 for x in jax.tree.leaves(g_rev['disc'][kind])), kind


def test_parse_taps():
  assert parse_taps('stage3:0.5, stage4', 0.1) == {'stage3': 0.5, 'stage4': 0.1}
  assert parse_taps('', 1.0) == {}
  with pytest.raises(ValueError, match="weight 'x' of tap 'stage3'"):
    parse_taps('stage3:x')


def test_bad_configs_fail_before_compiling_with_clear_messages():
  config = tiny_config()
  config.adversarial.taps = 'stage9'
  with pytest.raises(ValueError, match=r"no tap\(s\) \['stage9'\].*available"):
    Experiment.from_config(config, jax.devices()[:1])
  config = tiny_config()
  config.mesh.data = 4
  config.input.image_batch = 6
  with pytest.raises(ValueError,
                     match='config.input.image_batch=6 is not divisible by the 4 devices'):
    Experiment.from_config(config, jax.devices()[:4])
  config = tiny_config()
  config.adversarial.taps = 'aux_logits'
  with pytest.raises(ValueError, match="tap 'aux_logits' needs config.adversarial.aux_tap"):
    Experiment.from_config(config, jax.devices()[:1])
  config = tiny_config()
  config.adversarial.clustered.update(taps='stem', mode='soft')
  with pytest.raises(ValueError, match="clustered.mode='soft'"):
    Experiment.from_config(config, jax.devices()[:1])
  config = tiny_config()
  config.input.clip_len = 9
  with pytest.raises(ValueError, match='clip_len=9 is longer than the stored clips'):
    Experiment.from_config(config, jax.devices()[:1])
  config = load_config_module(str(ROOT / 'configs' / 'real.py')).get_config('model=cnn2d')
  config.input.clip_len = 17
  with pytest.raises(ValueError, match=r'clip_len=17 .* \(config.data.train_clips.chunk_len=16\)'):
    Experiment.from_config(config, jax.devices()[:1])


@pytest.mark.parametrize('model', ['cnn2d', 'segformer_st'])
def test_source_only_skips_the_video_frames_but_not_the_image_loss(model):
  config = tiny_config('source_only', model=model)
  exp = Experiment.from_config(config, jax.devices()[:1])
  params = exp.init(jax.random.key(0)).params
  batch = random_batch(config)
  source_only = jax.jit(lambda p, b: step_lib.loss_fn(
      p, {}, b, model=exp.model, objective=exp.objective, lam=1.0, first_step=True,
      video_label_weight=0.0))
  both_domains = jax.jit(lambda p, b: segmentation_loss(
      step_lib.forward(exp.model, p['model'], b['image'], b['video']).image_logits, b['label']))
  loss, (metrics, _) = source_only(params, batch)
  np.testing.assert_allclose(float(loss), float(both_domains(params, batch)), rtol=1e-5)
  assert set(metrics) == {'sup_loss', 'total_loss'}
