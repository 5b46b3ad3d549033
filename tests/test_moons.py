"""DANN on the inter-twinning moons (Ganin et al., JMLR 2016, section 5.1), built from
the library's public pieces only: grad_reverse, domain_loss, grl_scale, make_optimizer.

Source: two labeled moons. Target: the same moons rotated by 35 degrees, unlabeled.
A network trained on the source alone misclassifies the rotated tips; with a
domain classifier behind a gradient reversal on its hidden features it fits
them. If the reversal machinery broke (sign, scale, which parameters a term
reaches, the discriminators' optimizer), this gain would vanish.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from vda_jax import domain_loss, grad_reverse, grl_scale, make_optimizer

STEPS = 2000
SEEDS = range(5)


def moons(n, rng, noise=0.1):
  """Two interleaving half circles (label 0 upper, 1 lower) with Gaussian noise."""
  t = rng.uniform(0, np.pi, n)
  y = rng.integers(0, 2, n)
  x = np.where(y[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1),
               np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
  return (x + rng.normal(0, noise, x.shape)).astype(np.float32), y


def rotate(x, degrees, centre=np.array([0.5, 0.25], np.float32)):
  a = np.deg2rad(degrees)
  r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
  return (x - centre) @ r.T + centre


class Net(nn.Module):
  """15 hidden units (the features G_f) and a linear label predictor, as in the paper."""

  @nn.compact
  def __call__(self, x):
    features = nn.relu(nn.Dense(15)(x))
    return nn.Dense(2)(features), features


class DomainClassifier(nn.Module):

  @nn.compact
  def __call__(self, features):
    return nn.Dense(1)(nn.relu(nn.Dense(15)(features)))[..., 0]


def train(seed, domain_weight):
  """(target test accuracy, source train accuracy) after STEPS full-batch updates."""
  rng = np.random.default_rng(seed)
  xs, ys = moons(300, rng)
  xt = rotate(moons(300, rng)[0], 35.0)
  xt_test, yt_test = moons(1000, rng)
  xt_test = rotate(xt_test, 35.0)
  opt = ml_collections.ConfigDict(dict(
      lr=1e-2, warmup_steps=0, final_lr_fraction=1.0, b1=0.9, b2=0.999, eps=1e-8,
      weight_decay=0.0, grad_clip=0.0,
      disc=dict(lr=1e-2, b1=0.9, b2=0.999, weight_decay=0.0, grad_clip=0.0)))
  tx = make_optimizer(opt, STEPS)
  k_net, k_disc = jax.random.split(jax.random.key(seed))
  params = {'model': Net().init(k_net, xs)['params'],
            'disc': DomainClassifier().init(k_disc, jnp.zeros((1, 15)))['params']}

  def loss(p, step):
    logits, fs = Net().apply({'params': p['model']}, xs)
    _, ft = Net().apply({'params': p['model']}, xt)
    lam = grl_scale(step, STEPS, 'dann', 1.0)
    disc = lambda f: DomainClassifier().apply({'params': p['disc']}, grad_reverse(f, lam))
    dom, _ = domain_loss(disc(fs), disc(ft))
    return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean() + domain_weight * dom

  def update(carry, step):
    p, o = carry
    u, o = tx.update(jax.grad(loss)(p, step), o, p)
    return (optax.apply_updates(p, u), o), None

  (params, _), _ = jax.lax.scan(update, (params, tx.init(params)), jnp.arange(STEPS))
  accuracy = lambda x, y: float(np.mean(
      np.asarray(Net().apply({'params': params['model']}, x)[0].argmax(-1)) == y))
  return accuracy(xt_test, yt_test), accuracy(xs, ys)


def test_dann_fits_the_rotated_moons_where_source_only_fails():
  source_only = np.array([train(s, 0.0) for s in SEEDS])
  dann = np.array([train(s, 1.0) for s in SEEDS])
  # Both fit the labeled source domain.
  assert source_only[:, 1].min() >= 0.95 and dann[:, 1].min() >= 0.95
  # Source-only fails on the rotated tips (about 0.73 here); DANN fits them
  # (about 0.89): on every seed, and clearly on average.
  assert source_only[:, 0].mean() < 0.8
  assert np.all(dann[:, 0] > source_only[:, 0])
  assert dann[:, 0].mean() - source_only[:, 0].mean() > 0.1
