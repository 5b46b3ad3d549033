"""A balanced logistic-regression domain classifier on fixed features.

Model selection (DEV's density ratios) and the domain probe of the analysis
both ask one question of features: how well can a linear model tell the two
domains apart?
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax


def fit_domain_classifier(source: np.ndarray, target: np.ndarray, *, steps: int, lr: float,
                          l2: float):
  """Logistic regression source (0) vs target (1) on (N, C) features, the two domains
  weighted equally (so the odds estimate p_target / p_source), features standardised
  with the training rows' mean and spread; Adam for `steps` full-batch steps.
  Returns logit(features (M, C)) -> (M,) numpy."""
  both = np.concatenate([source, target])
  mu, sd = both.mean(0), both.std(0) + 1e-6
  norm = lambda f: jnp.asarray((f - mu) / sd, jnp.float32)
  s, t = norm(source), norm(target)

  def loss(w):
    logit = lambda a: a @ w['w'] + w['b']
    return (0.5 * (jnp.mean(jax.nn.softplus(logit(s))) + jnp.mean(jax.nn.softplus(-logit(t))))
            + l2 * jnp.sum(w['w'] ** 2))

  tx = optax.adam(lr)

  @jax.jit
  def fit(w):
    def body(carry, _):
      w, state = carry
      u, state = tx.update(jax.grad(loss)(w), state)
      return (optax.apply_updates(w, u), state), None
    return jax.lax.scan(body, (w, tx.init(w)), None, length=steps)[0][0]

  w = fit({'w': jnp.zeros(s.shape[-1]), 'b': jnp.zeros(())})
  return lambda f: np.asarray(norm(f) @ w['w'] + w['b'], np.float64)
