import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vda_jax.adversarial.grl import grad_reverse, grl_scale


def f(x):
  return jnp.sum(jnp.sin(x) * jnp.arange(1.0, x.size + 1).reshape(x.shape))


@pytest.mark.parametrize('scale', [0.0, 0.3, 1.0, 2.5])
def test_grad_reverse_is_minus_scale_times_finite_differences(scale):
  x = jnp.array([0.1, -0.7, 1.3, 2.0], jnp.float64) if jax.config.jax_enable_x64 else \
      jnp.array([0.1, -0.7, 1.3, 2.0])
  eps = 1e-3
  fd = np.array([(f(x.at[i].add(eps)) - f(x.at[i].add(-eps))) / (2 * eps)
                 for i in range(x.size)])
  g = jax.grad(lambda x: f(grad_reverse(x, jnp.float32(scale))))(x)
  np.testing.assert_allclose(g, -scale * fd, rtol=2e-3, atol=1e-4)


def test_forward_is_identity_and_scale_gets_no_gradient():
  x = jnp.arange(6.0).reshape(2, 3)
  np.testing.assert_array_equal(grad_reverse(x, 0.5), x)
  gx, gs = jax.grad(lambda x, s: jnp.sum(grad_reverse(x, s) ** 2), argnums=(0, 1))(x, 0.5)
  np.testing.assert_allclose(gx, -0.5 * 2 * x)
  assert gs == 0.0


def test_traced_scale_under_jit_and_bf16_cotangent_keeps_dtype():
  x = jnp.ones((3,), jnp.bfloat16)
  g = jax.jit(jax.grad(lambda x, s: jnp.sum(grad_reverse(x, s)).astype(jnp.float32)))(x, 2.0)
  assert g.dtype == jnp.bfloat16
  np.testing.assert_array_equal(g.astype(jnp.float32), -2.0)


def test_grl_schedules():
  assert float(grl_scale(5, 100, 'constant', 0.7)) == pytest.approx(0.7)
  assert float(grl_scale(0, 100, 'dann', 1.0)) == pytest.approx(0.0)
  p = 0.25
  expected = 2.0 * (2 / (1 + np.exp(-10 * p)) - 1)
  assert float(grl_scale(25, 100, 'dann', 2.0)) == pytest.approx(expected, rel=1e-6)
  expected = 2 / (1 + np.exp(-10)) - 1
  assert float(grl_scale(500, 100, 'dann', 1.0)) == pytest.approx(expected, rel=1e-6)
  with pytest.raises(ValueError, match='linear'):
    grl_scale(0, 10, 'linear', 1.0)
