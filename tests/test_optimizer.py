"""The network and the discriminators each get their own optimizer settings."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from conftest import tiny_config
from vda_jax.train.experiment import Experiment
from vda_jax.train.state import make_optimizer, param_groups


def _config(lr, disc_lr, grad_clip=1.0, eps=1e-8):
  return ml_collections.ConfigDict(dict(
      lr=lr, warmup_steps=0, final_lr_fraction=1.0, b1=0.9, b2=0.999, eps=eps, weight_decay=0.0,
      grad_clip=grad_clip, disc=dict(lr=disc_lr, b1=0.5, b2=0.99, weight_decay=0.0, grad_clip=0.0)))


def _params():
  return {'model': {'w': jnp.ones((3,))}, 'aux': {'w': jnp.ones((2,))},
          'disc': {'global': {'stem': {'w': jnp.ones((4,))}}}}


def _update(config, grads, params=None):
  params = params or _params()
  tx = make_optimizer(config, 10)
  updates, _ = tx.update(grads, tx.init(params), params)
  return optax.apply_updates(params, updates)


def test_groups_split_discriminators_from_the_network():
  labels = param_groups(_params())
  assert labels == {'model': {'w': 'network'}, 'aux': {'w': 'network'},
                    'disc': {'global': {'stem': {'w': 'disc'}}}}


def test_batchnorm_statistics_stay_put_under_gradients_and_weight_decay():
  """An EfficientNet layer's names: its BN mean and var are 'frozen', scale and kernel move."""
  layer = {'bn': {'mean': jnp.full((2,), 0.5), 'var': jnp.full((2,), 2.0),
                  'scale': jnp.ones((2,)), 'bias': jnp.zeros((2,))},
           'conv': {'kernel': jnp.ones((1, 1, 3, 2))}}
  params = {'model': {'encoder': {'stem': layer}}}
  assert param_groups(params)['model']['encoder']['stem']['bn'] == {
      'mean': 'frozen', 'var': 'frozen', 'scale': 'network', 'bias': 'network'}
  config = _config(lr=0.1, disc_lr=0.1)
  config.weight_decay = 0.1
  moved = _update(config, jax.tree.map(jnp.ones_like, params), params)['model']['encoder']['stem']
  np.testing.assert_array_equal(moved['bn']['mean'], 0.5)
  np.testing.assert_array_equal(moved['bn']['var'], 2.0)
  # AdamW's first step: -lr * (m / sqrt(v) + weight_decay * p) = -0.1 * (1 + 0.1).
  np.testing.assert_allclose(moved['bn']['scale'], 0.89, rtol=1e-4)
  np.testing.assert_allclose(moved['conv']['kernel'], 0.89, rtol=1e-4)


def test_each_learning_rate_reaches_only_its_group():
  grads = jax.tree.map(jnp.ones_like, _params())
  # Adam's first step moves every parameter by its lr (m / sqrt(v) = 1).
  p = _update(_config(lr=0.0, disc_lr=0.5), grads)
  np.testing.assert_allclose(p['model']['w'], 1.0)
  np.testing.assert_allclose(p['aux']['w'], 1.0)
  np.testing.assert_allclose(p['disc']['global']['stem']['w'], 0.5, rtol=1e-5)
  p = _update(_config(lr=0.25, disc_lr=0.0), grads)
  np.testing.assert_allclose(p['model']['w'], 0.75, rtol=1e-5)
  np.testing.assert_allclose(p['disc']['global']['stem']['w'], 1.0)


def test_the_networks_clip_ignores_discriminator_gradients():
  # With a large eps Adam's step scales with the gradient, so a clip shared
  # with huge discriminator gradients would shrink the network's step.
  config = _config(lr=0.1, disc_lr=0.1, grad_clip=1.0, eps=10.0)
  small = {'model': {'w': jnp.full((3,), 0.1)}, 'aux': {'w': jnp.zeros((2,))},
           'disc': {'global': {'stem': {'w': jnp.zeros((4,))}}}}
  huge = {**small, 'disc': {'global': {'stem': {'w': jnp.full((4,), 1e4)}}}}
  a, b = _update(config, small), _update(config, huge)
  np.testing.assert_allclose(a['model']['w'], b['model']['w'], rtol=1e-7)
  # ... and the discriminators are not clipped by default: step = lr * g / (|g| + eps).
  np.testing.assert_allclose(b['disc']['global']['stem']['w'], 1 - 0.1 * 1e4 / (1e4 + 10.0),
                             rtol=1e-5)


def test_a_discriminator_group_with_its_own_lr_gets_it_and_only_it():
  params = {**_params(), 'disc': {'global': {'stem': {'w': jnp.ones((4,))}},
                                  'clustered': {'stem': {'w': jnp.ones((2,))}}}}
  assert param_groups(params, own_lr=('clustered',))['disc'] == {
      'global': {'stem': {'w': 'disc'}}, 'clustered': {'stem': {'w': 'disc/clustered'}}}
  grads = jax.tree.map(jnp.ones_like, params)
  tx = make_optimizer(_config(lr=0.0, disc_lr=0.5), 10, {'clustered': 0.125})
  updates, _ = tx.update(grads, tx.init(params), params)
  p = optax.apply_updates(params, updates)
  np.testing.assert_allclose(p['disc']['global']['stem']['w'], 0.5, rtol=1e-5)
  np.testing.assert_allclose(p['disc']['clustered']['stem']['w'], 0.875, rtol=1e-5)
  np.testing.assert_allclose(p['model']['w'], 1.0)
  # None (the config's placeholder left unset): the shared discriminator lr, and the
  # optimizer state of runs saved before the field existed.
  plain = make_optimizer(_config(lr=0.0, disc_lr=0.5), 10, {'clustered': None})
  assert (jax.tree.structure(plain.init(params))
          == jax.tree.structure(make_optimizer(_config(lr=0.0, disc_lr=0.5), 10).init(params)))


def test_the_clustered_discriminators_own_lr_reaches_the_run_s_optimizer():
  config = tiny_config('paper')
  state = lambda: jax.eval_shape(Experiment.from_config(config, jax.devices()[:1]).init,
                                 jax.random.key(0))
  assert set(state().opt_state.inner_states) == {'network', 'disc', 'frozen'}
  config.adversarial.clustered.disc_lr = 2e-3
  assert set(state().opt_state.inner_states) == {'network', 'disc', 'disc/clustered', 'frozen'}
