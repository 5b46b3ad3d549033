"""Alignment terms: the unsupervised parts of the objective, one frozen dataclass each.

A term is registered by name (`@register('name')`) and follows one protocol:

  metric_prefixes          (loss prefix, accuracy prefix) of the metrics it logs;
                           plots and tables find its curves by these
  model_taps() -> set      the network taps it reads
  init(next_key, tap_dims, num_classes) -> (params, state)
                           params: a dict of top-level parameter groups ('disc' is
                           trained by the discriminators' optimizer, any other key by
                           the network's); state: arrays carried between steps that
                           no gradient trains (k-means centroids); next_key() draws
                           the next key of the objective's one chain, so a term's
                           initial values depend only on the terms before it
  __call__(params, state, inputs) -> (weighted loss, metrics, new state)
                           params and state: the whole objective's; inputs: TermInputs

Every discriminator input passes `grad_reverse(x, inputs.lam)`, so minimising
the sum trains discriminators and network adversarially. A fork adds a term in
its own file (examples/coral.py) and names it in `config.adversarial.terms`.

Where this departs from the published methods (docs/methods.md, "Running experiments"):
- AdaptSegNet and CDAN train the network against the discriminator with a
  gradient reversal (the minimax loss) by default; GlobalDomain's
  gan_loss='nonsaturating' trains it on flipped domain labels instead
  (AdaptSegNet's GAN loss), in the same single pass.
- "One discriminator per cluster" is K output heads on one discriminator
  network (mode='per_cluster'): the heads share the hidden layers, and each
  cluster's samples are judged by their own head only.
"""
import dataclasses
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from vda_jax import registration
from vda_jax.adversarial import clustering
from vda_jax.adversarial.discriminators import ConvDiscriminator, PixelDiscriminator
from vda_jax.adversarial.grl import grad_reverse
from vda_jax.adversarial.losses import (
  clustered_domain_loss,
  conditional_features,
  domain_loss,
  entropy_loss,
  segmentation_loss,
)

AUX = 'aux_logits'          # the auxiliary classifier's output (OutputSpace makes it)
OUTPUT_TAPS = ('logits', AUX)

TERMS: dict[str, type] = {}


def register(name: str):
  """Class decorator: makes a term buildable as `config.adversarial.terms.X.type=name`."""
  def add(cls):
    return registration.register(TERMS, 'alignment term', name, cls)
  return add


def build(name: str, **fields) -> Any:
  """The registered term `name` with `fields` (its dataclass fields)."""
  if name not in TERMS:
    raise ValueError(f'alignment term type={name!r}; registered: {sorted(TERMS)} (a fork '
                     'registers its own with vda_jax.adversarial.terms.register)')
  cls = TERMS[name]
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ValueError(f'alignment term {name!r} has no field(s) {unknown}; fields: {sorted(known)}')
  return cls(**fields)


def metric_prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
  """(loss prefixes, accuracy prefixes) of every registered term, forks' included."""
  pairs = [cls.metric_prefixes for cls in TERMS.values()]
  return (tuple(dict.fromkeys(p[0] for p in pairs if p[0])),
          tuple(dict.fromkeys(p[1] for p in pairs if p[1])))


class TermInputs(NamedTuple):
  """What a term may read in one step (2D models' video entries are per frame)."""
  image_taps: dict           # tap name -> image features
  video_taps: dict           # tap name -> video features
  image_logits: jax.Array    # (B, H, W, K)
  video_logits: jax.Array    # (B, T, H, W, K)
  labels: jax.Array          # (B, H, W) image labels
  lam: jax.Array             # the gradient reversal coefficient at this step
  first_step: jax.Array      # bool: state may be seeded from this batch


def _init_discriminators(next_key, module, taps, dims, conv=False):
  """{tap: params} of one `module` per tap; a conv discriminator's kernels do not depend
  on the grid, so any map that survives its strides initialises it."""
  params = {}
  for tap in sorted(taps):
    shape = ((1, 2 ** (module.depth + 1), 2 ** (module.depth + 1), dims[tap]) if conv
             else (1, dims[tap]))
    params[tap] = module.init(next_key(), jnp.zeros(shape))['params']
  return params


@dataclasses.dataclass(frozen=True)
class _DomainTerm:
  """Shared by the discriminator terms: taps {name: weight}, the discriminator's size, and
  the term's own gradient reversal maximum (None: the objective's lambda_max)."""
  taps: dict
  hidden: int = 64
  depth: int = 2
  lambda_max: float | None = None

  def model_taps(self):
    return set(self.taps)

  def _pixel(self, outputs=None):
    return PixelDiscriminator(self.hidden, self.depth, outputs=outputs)


@register('global')
@dataclasses.dataclass(frozen=True)
class GlobalDomain(_DomainTerm):
  """DANN: a discriminator per tap judges every position; `conv` makes it fully
  convolutional (AdaptSegNet's), judging spatial layout.

  `gan_loss` 'minimax': the network ascends the discriminator's loss through the
  gradient reversal. 'nonsaturating': the discriminator learns from detached
  features, and the network, through a detached discriminator, descends the loss
  with the domain labels flipped (each domain made to pass for the other), scaled
  by λ: its gradient stays large when the discriminator is confident.
  """
  conv: bool = False
  gan_loss: str = 'minimax'
  metric_prefixes: ClassVar = ('domain_loss/', 'disc_acc/')
  key: ClassVar = 'global'   # params['disc'][key][tap]: checkpoints name them so

  def __post_init__(self):
    if self.gan_loss not in ('minimax', 'nonsaturating'):
      raise ValueError(f"config.adversarial.gan_loss={self.gan_loss!r}; expected 'minimax' or "
                       "'nonsaturating'")

  def discriminator(self):
    return ConvDiscriminator(self.hidden, self.depth) if self.conv else self._pixel()

  def _features(self, tap, x):
    return x

  def init(self, next_key, tap_dims, num_classes):
    params = _init_discriminators(next_key, self.discriminator(), self.taps, tap_dims, self.conv)
    return {'disc': {self.key: params}}, {}

  def __call__(self, params, state, inputs):
    total, metrics = 0.0, {}
    for tap, w in self.taps.items():
      p = params['disc'][self.key][tap]
      apply = lambda p, x: self.discriminator().apply({'params': p}, x)
      fi = self._features(tap, inputs.image_taps[tap])
      fv = self._features(tap, inputs.video_taps[tap])
      if self.gan_loss == 'minimax':
        reversed_ = lambda x: apply(p, grad_reverse(x, inputs.lam))
        loss, acc = domain_loss(reversed_(fi), reversed_(fv))
        network_loss = 0.0
      else:
        detached = lambda x: apply(p, jax.lax.stop_gradient(x))
        loss, acc = domain_loss(detached(fi), detached(fv))
        fixed = lambda x: apply(jax.lax.stop_gradient(p), x)
        network_loss = inputs.lam * domain_loss(fixed(fv), fixed(fi))[0]   # labels flipped
      total += w * (loss + network_loss)
      metrics.update({f'domain_loss/{tap}': loss, f'disc_acc/{tap}': acc})
    return total, metrics, {}


@register('output_space')
@dataclasses.dataclass(frozen=True)
class OutputSpace(GlobalDomain):
  """AdaptSegNet: discriminators on the segmentation output ('logits') and on an
  auxiliary classifier's ('aux_logits': a 1x1 head on `aux_tap`, supervised on
  images with weight `aux_weight`), fed as softmax probabilities when `softmax`."""
  softmax: bool = True
  aux_tap: str = ''
  aux_weight: float = 0.1

  def __post_init__(self):
    super().__post_init__()
    other = sorted(set(self.taps) - set(OUTPUT_TAPS))
    if other:
      raise ValueError(f'the output-space term reads {OUTPUT_TAPS}; got taps {other}')
    if AUX in self.taps and not self.aux_tap:
      raise ValueError(f"tap {AUX!r} needs config.adversarial.aux_tap (AdaptSegNet's "
                       'auxiliary classifier) to name the tap it reads')

  def model_taps(self):
    return (set(self.taps) - {AUX}) | ({self.aux_tap} if self.aux_tap else set())

  def _features(self, tap, x):
    return jax.nn.softmax(x.astype(jnp.float32)) if self.softmax else x

  def init(self, next_key, tap_dims, num_classes):
    params, state = super().init(next_key, {**tap_dims, **{t: num_classes for t in OUTPUT_TAPS}},
                                 num_classes)
    if self.aux_tap:
      params['aux'] = nn.Dense(num_classes).init(
          next_key(), jnp.zeros((1, tap_dims[self.aux_tap])))['params']
    return params, state

  def __call__(self, params, state, inputs):
    total, metrics = 0.0, {}
    if self.aux_tap:
      dense = nn.Dense(params['aux']['kernel'].shape[-1])
      head = lambda x: dense.apply({'params': params['aux']}, x)
      image_aux = head(inputs.image_taps[self.aux_tap])
      video_aux = head(inputs.video_taps[self.aux_tap])
      aux = segmentation_loss(_to_label_grid(image_aux, inputs.labels), inputs.labels)
      total, metrics['aux_sup_loss'] = self.aux_weight * aux, aux
      inputs = inputs._replace(image_taps={**inputs.image_taps, AUX: image_aux},
                               video_taps={**inputs.video_taps, AUX: video_aux})
    adv, adv_metrics, _ = super().__call__(params, state, inputs)
    return total + adv, {**metrics, **adv_metrics}, {}


def _to_label_grid(logits, labels):
  """Aux logits (B[, T], h, w, K) -> (B, H, W, K) on the labels' grid (static clips' frames
  vote)."""
  if logits.ndim == labels.ndim + 2:
    logits = jnp.mean(logits, axis=1)
  return jax.image.resize(logits, labels.shape + logits.shape[-1:], 'linear')


@register('clustered')
@dataclasses.dataclass(frozen=True)
class ClusteredDomain(_DomainTerm):
  """Positions of both domains are k-means clustered (online, EMA centroids in the
  state); the domain loss is computed within each cluster (`mode` 'per_cluster':
  one discriminator head per cluster; 'conditioned': one discriminator given the
  cluster id), averaged over the clusters that hold both domains."""
  num_clusters: int = 8
  momentum: float = 0.9
  mode: str = 'per_cluster'
  normalize: bool = True
  metric_prefixes: ClassVar = ('clustered_loss/', 'clustered_acc/')
  key: ClassVar = 'clustered'   # params['disc'][key][tap]

  def __post_init__(self):
    if self.mode not in ('per_cluster', 'conditioned'):
      raise ValueError(f"config.adversarial.clustered.mode={self.mode!r}; expected "
                       "'per_cluster' or 'conditioned'")
    if self.num_clusters < 1:
      raise ValueError(f'config.adversarial.clustered.num_clusters={self.num_clusters}; '
                       'expected >= 1')

  def discriminator(self):
    return self._pixel(self.num_clusters if self.mode == 'per_cluster' else None)

  def init(self, next_key, tap_dims, num_classes):
    extra = self.num_clusters if self.mode == 'conditioned' else 0
    params = _init_discriminators(next_key, self.discriminator(), self.taps,
                                  {t: tap_dims[t] + extra for t in self.taps})
    # The centroids are keyed by tap alone: checkpoints name them so.
    state = {tap: jnp.zeros((self.num_clusters, tap_dims[tap]), jnp.float32)
             for tap in sorted(self.taps)}
    return {'disc': {self.key: params}}, state

  def __call__(self, params, state, inputs):
    total, metrics, new_state = 0.0, {}, {}
    for tap, w in self.taps.items():
      disc = lambda x, tap=tap: self.discriminator().apply(
          {'params': params['disc'][self.key][tap]}, grad_reverse(x, inputs.lam))
      loss, acc, new_state[tap], occ = self._one_tap(
          state[tap], inputs.image_taps[tap], inputs.video_taps[tap], inputs.first_step, disc)
      total += w * loss
      metrics.update({f'clustered_loss/{tap}': loss, f'clustered_acc/{tap}': acc,
                      # Clusters holding both domains: the only ones the loss reads.
                      f'clusters_both/{tap}': jnp.sum((occ['image'] > 0) & (occ['video'] > 0))})
      metrics.update({f'clusters/{tap}/{domain}/{j}': occ[domain][j]
                      for domain in occ for j in range(self.num_clusters)})
    return total, metrics, new_state

  def _one_tap(self, centroids, image_features, video_features, first_step, disc):
    k = self.num_clusters
    xi = clustering.prepare(jax.lax.stop_gradient(image_features), self.normalize)
    xv = clustering.prepare(jax.lax.stop_gradient(video_features), self.normalize)
    x = jnp.concatenate([xi, xv])
    # The first step seeds the centroids from its own features (deterministic picks).
    centroids = jax.lax.cond(first_step, lambda: clustering.farthest_point_init(x, k),
                             lambda: centroids)
    ai, av = clustering.assign(xi, centroids), clustering.assign(xv, centroids)
    updated = clustering.ema_update(centroids, x, jnp.concatenate([ai, av]), self.momentum)

    def logits(features, a):
      f = features.reshape(-1, features.shape[-1])
      if self.mode == 'conditioned':
        return disc(jnp.concatenate([f, jax.nn.one_hot(a, k, dtype=f.dtype)], -1))
      return jnp.take_along_axis(disc(f), a[:, None], axis=-1)[:, 0]

    loss, acc = clustered_domain_loss(logits(image_features, ai), logits(video_features, av),
                                      ai, av, k)
    occ = {'image': clustering.occupancy(ai, k), 'video': clustering.occupancy(av, k)}
    return loss, acc, updated, occ


@register('cdan')
@dataclasses.dataclass(frozen=True)
class Conditional(_DomainTerm):
  """CDAN: a per-position discriminator on features (x) detached softmax predictions."""
  metric_prefixes: ClassVar = ('cdan_loss/', 'cdan_acc/')
  key: ClassVar = 'cdan'   # params['disc'][key][tap]

  def init(self, next_key, tap_dims, num_classes):
    params = _init_discriminators(next_key, self._pixel(), self.taps,
                                  {t: tap_dims[t] * num_classes for t in self.taps})
    return {'disc': {self.key: params}}, {}

  def __call__(self, params, state, inputs):
    total, metrics = 0.0, {}
    for tap, w in self.taps.items():
      disc = lambda x, tap=tap: self._pixel().apply(
          {'params': params['disc'][self.key][tap]}, grad_reverse(x, inputs.lam))
      loss, acc = domain_loss(
          disc(conditional_features(inputs.image_taps[tap], inputs.image_logits)),
          disc(conditional_features(inputs.video_taps[tap], inputs.video_logits)))
      total += w * loss
      metrics.update({f'cdan_loss/{tap}': loss, f'cdan_acc/{tap}': acc})
    return total, metrics, {}


@register('entropy')
@dataclasses.dataclass(frozen=True)
class Entropy:
  """ADVENT's MinEnt on video predictions (no discriminator)."""
  weight: float
  metric_prefixes: ClassVar = ('entropy_loss', '')

  def model_taps(self):
    return set()

  def init(self, next_key, tap_dims, num_classes):
    return {}, {}

  def __call__(self, params, state, inputs):
    ent = entropy_loss(inputs.video_logits)
    return self.weight * ent, {'entropy_loss': ent}, {}


# params['disc'][group][tap] of the package's discriminator terms (checkpoints name them so).
DISC_GROUPS = tuple(cls.key for cls in (GlobalDomain, ClusteredDomain, Conditional))
