"""The unsupervised part of the train objective, as configured in `config.adversarial`.

Terms, each attachable at any taps (several kinds may be used together):
  global     a discriminator per tap: per position (DANN), or fully
             convolutional (disc_type='conv'; AdaptSegNet when the taps are
             'logits' / 'aux_logits': output space, fed as softmax)
  clustered  positions of both domains are k-means clustered; the domain loss
             is computed within each cluster (one discriminator per cluster, or
             one conditioned on the cluster id), averaged over clusters that
             hold both domains
  cdan       a discriminator on features (x) detached softmax predictions (CDAN)
  entropy    ADVENT's MinEnt on video predictions (no discriminator)
plus AdaptSegNet's auxiliary classifier: a 1x1 head on `aux_tap`, supervised on
images, whose output is the tap 'aux_logits'.

All discriminator inputs pass `grad_reverse`, so one minimisation of
sup + sum(weight * term) trains discriminators and network adversarially
(the discriminators on their own optimizer: train.state.make_optimizer).

Where this departs from the published methods (README, "Running experiments"):
- AdaptSegNet and CDAN train the network against the discriminator with a
  gradient reversal (the minimax loss), not with a second pass on flipped
  domain labels (AdaptSegNet's non-saturating GAN loss).
- "One discriminator per cluster" is K output heads on one discriminator
  network (cluster_mode='per_cluster'): the heads share the hidden layers, and
  each cluster's samples are judged by their own head only.
"""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from vda_jax.adversarial import clustering
from vda_jax.adversarial.discriminators import ConvDiscriminator, PixelDiscriminator
from vda_jax.adversarial.grl import grad_reverse, grl_scale, LAMBDA_SCHEDULES
from vda_jax.adversarial.losses import (clustered_domain_loss, conditional_features, domain_loss,
                                        entropy_loss, segmentation_loss)

KINDS = ('global', 'clustered', 'cdan')
DISC_TYPES = ('pixel', 'conv')
AUX = 'aux_logits'


def parse_taps(spec: str, default_weight: float = 1.0,
               field: str = 'config.adversarial.taps') -> dict[str, float]:
  """'stage3:0.5,stage4' -> {'stage3': 0.5, 'stage4': default_weight}; '' -> {}."""
  taps = {}
  for item in filter(None, (s.strip() for s in spec.split(','))):
    name, _, weight = item.partition(':')
    try:
      taps[name] = float(weight) if weight else default_weight
    except ValueError:
      raise ValueError(f'{field}: weight {weight!r} of tap {name!r} is not a number '
                       '(expected NAME[:WEIGHT],...)') from None
  return taps


@dataclasses.dataclass(frozen=True)
class Objective:
  """Static description of the adversarial objective (which terms, where, how)."""
  taps: dict              # kind -> {tap name: weight}
  num_clusters: int = 8
  cluster_momentum: float = 0.9
  cluster_mode: str = 'per_cluster'
  cluster_normalize: bool = True
  entropy_weight: float = 0.0
  aux_tap: str = ''
  aux_weight: float = 0.1
  output_softmax: bool = True
  disc_type: str = 'pixel'
  disc_hidden: int = 64
  disc_depth: int = 2
  lambda_schedule: str = 'dann'   # the GRL coefficient over training (grl.grl_scale)
  lambda_max: float = 1.0
  total_steps: int = 1

  @classmethod
  def from_config(cls, adv: ml_collections.ConfigDict, total_steps: int) -> 'Objective':
    """From config.adversarial; `total_steps` (config.train.steps) sets the λ ramp's length."""
    w = adv.weight
    c = adv.clustered
    taps = {'global': parse_taps(adv.taps, w),
            'clustered': parse_taps(c.taps, w, 'config.adversarial.clustered.taps'),
            'cdan': parse_taps(adv.cdan_taps, w, 'config.adversarial.cdan_taps')}
    return cls(taps=taps, num_clusters=c.num_clusters, cluster_momentum=c.momentum,
               cluster_mode=c.mode, cluster_normalize=c.normalize,
               entropy_weight=adv.entropy_weight, aux_tap=adv.aux_tap,
               aux_weight=adv.aux_weight, output_softmax=adv.output_softmax,
               disc_type=adv.disc_type, disc_hidden=adv.disc_hidden, disc_depth=adv.disc_depth,
               lambda_schedule=adv.lambda_schedule, lambda_max=adv.lambda_max,
               total_steps=total_steps)

  def grl_lambda(self, step: jax.Array | int) -> jax.Array:
    """The gradient reversal coefficient at `step` (a traced scalar inside the step)."""
    return grl_scale(step, self.total_steps, self.lambda_schedule, self.lambda_max)

  @property
  def active(self):
    """Whether any term is configured (source-only training has none)."""
    return bool(any(self.taps[kind] for kind in KINDS) or self.entropy_weight or self.aux_tap)

  def model_taps(self):
    """Taps the network must provide (aux_logits is made here, from aux_tap)."""
    names = {t for kind in KINDS for t in self.taps[kind]} - {AUX}
    return sorted(names | ({self.aux_tap} if self.aux_tap else set()))

  def __post_init__(self):
    """Every Objective is valid, however it was made (errors name the config field)."""
    if self.cluster_mode not in ('per_cluster', 'conditioned'):
      raise ValueError(f"config.adversarial.clustered.mode={self.cluster_mode!r}; expected "
                       "'per_cluster' or 'conditioned'")
    if self.disc_type not in DISC_TYPES:
      raise ValueError(f'config.adversarial.disc_type={self.disc_type!r}; expected one of '
                       f'{DISC_TYPES}')
    if self.lambda_schedule not in LAMBDA_SCHEDULES:
      raise ValueError(f'config.adversarial.lambda_schedule={self.lambda_schedule!r}; expected '
                       f'one of {LAMBDA_SCHEDULES}')
    if self.num_clusters < 1:
      raise ValueError(f'config.adversarial.clustered.num_clusters={self.num_clusters}; '
                       'expected >= 1')
    used = [t for kind in KINDS for t in self.taps[kind]]
    if AUX in used and not self.aux_tap:
      raise ValueError(f"tap {AUX!r} needs config.adversarial.aux_tap (AdaptSegNet's "
                       'auxiliary classifier) to name the tap it reads')


def _disc_input_dim(objective, kind, tap_dim, num_classes):
  if kind == 'cdan':
    return tap_dim * num_classes
  if kind == 'clustered' and objective.cluster_mode == 'conditioned':
    return tap_dim + objective.num_clusters
  return tap_dim


def init_params(rng, objective, tap_shapes, num_classes):
  """(params, clusters) for the terms: discriminators, aux head and zero centroids.

  params = {'disc': {kind: {tap: ...}}, 'aux': ...};  clusters = {tap: (K, C)}.
  """
  dims = {name: s.shape[-1] for name, s in tap_shapes.items()}
  dims[AUX] = num_classes
  params = {'disc': {kind: {} for kind in KINDS}}
  for kind in KINDS:
    for tap in sorted(objective.taps[kind]):
      rng, r = jax.random.split(rng)
      dim = _disc_input_dim(objective, kind, dims[tap], num_classes)
      # A conv discriminator's kernels do not depend on the grid: any map that
      # survives its strides initialises it.
      shape = ((1, 2 ** (objective.disc_depth + 1), 2 ** (objective.disc_depth + 1), dim)
               if _is_conv(objective, kind) else (1, dim))
      params['disc'][kind][tap] = discriminator(objective, kind).init(
          r, jnp.zeros(shape))['params']
  if objective.aux_tap:
    params['aux'] = nn.Dense(num_classes).init(rng, jnp.zeros((1, dims[objective.aux_tap])))['params']
  clusters = {tap: jnp.zeros((objective.num_clusters, dims[tap]), jnp.float32)
              for tap in sorted(objective.taps['clustered'])}
  return params, clusters


def _is_conv(objective, kind):
  return kind == 'global' and objective.disc_type == 'conv'


def discriminator(objective, kind):
  """The discriminator module of a term. disc_type applies to the global terms; the
  clustered and CDAN terms classify single positions (cluster ids are per position)."""
  if _is_conv(objective, kind):
    return ConvDiscriminator(objective.disc_hidden, objective.disc_depth)
  per_cluster = kind == 'clustered' and objective.cluster_mode == 'per_cluster'
  return PixelDiscriminator(objective.disc_hidden, objective.disc_depth,
                            outputs=objective.num_clusters if per_cluster else None)


def _aux_logits(params, image_taps, video_taps, tap):
  head = lambda x: nn.Dense(params['kernel'].shape[-1]).apply({'params': params}, x)
  return head(image_taps[tap]), head(video_taps[tap])


def _to_label_grid(logits, labels):
  """Aux logits (B[, T], h, w, K) -> (B, H, W, K) on the labels' grid (static clips' frames vote)."""
  if logits.ndim == labels.ndim + 2:
    logits = jnp.mean(logits, axis=1)
  return jax.image.resize(logits, labels.shape + logits.shape[-1:], 'linear')


def adversarial_losses(params: dict, clusters: dict, image_taps: dict, video_taps: dict,
                       image_logits: jax.Array, video_logits: jax.Array, labels: jax.Array, *,
                       objective: 'Objective', lam: jax.Array, first_step: jax.Array
                       ) -> tuple[jax.Array, dict, dict]:
  """(weighted sum of the terms, metrics, updated cluster centroids)."""
  image_taps, video_taps = dict(image_taps), dict(video_taps)
  total, metrics = 0.0, {}
  if objective.aux_tap:
    image_taps[AUX], video_taps[AUX] = _aux_logits(params['aux'], image_taps, video_taps,
                                                   objective.aux_tap)
    aux = segmentation_loss(_to_label_grid(image_taps[AUX], labels), labels)
    total += objective.aux_weight * aux
    metrics['aux_sup_loss'] = aux
  if objective.entropy_weight:
    ent = entropy_loss(video_logits)
    total += objective.entropy_weight * ent
    metrics['entropy_loss'] = ent

  def disc(kind, tap, x):
    return discriminator(objective, kind).apply({'params': params['disc'][kind][tap]},
                                                grad_reverse(x, lam))

  for tap, w in objective.taps['global'].items():
    fi, fv = image_taps[tap], video_taps[tap]
    if objective.output_softmax and tap in ('logits', AUX):
      fi, fv = jax.nn.softmax(fi.astype(jnp.float32)), jax.nn.softmax(fv.astype(jnp.float32))
    loss, acc = domain_loss(disc('global', tap, fi), disc('global', tap, fv))
    total += w * loss
    metrics.update({f'domain_loss/{tap}': loss, f'disc_acc/{tap}': acc})

  for tap, w in objective.taps['cdan'].items():
    loss, acc = domain_loss(
        disc('cdan', tap, conditional_features(image_taps[tap], image_logits)),
        disc('cdan', tap, conditional_features(video_taps[tap], video_logits)))
    total += w * loss
    metrics.update({f'cdan_loss/{tap}': loss, f'cdan_acc/{tap}': acc})

  new_clusters = {}
  for tap, w in objective.taps['clustered'].items():
    loss, acc, new_clusters[tap], occ = _clustered_term(
        objective, clusters[tap], image_taps[tap], video_taps[tap], first_step,
        lambda x, tap=tap: disc('clustered', tap, x))
    total += w * loss
    metrics.update({f'clustered_loss/{tap}': loss, f'clustered_acc/{tap}': acc})
    metrics.update({f'clusters/{tap}/{domain}/{j}': occ[domain][j]
                    for domain in occ for j in range(objective.num_clusters)})
  return total, metrics, new_clusters


def _clustered_term(objective, centroids, image_features, video_features, first_step, disc):
  k = objective.num_clusters
  xi = clustering.prepare(jax.lax.stop_gradient(image_features), objective.cluster_normalize)
  xv = clustering.prepare(jax.lax.stop_gradient(video_features), objective.cluster_normalize)
  x = jnp.concatenate([xi, xv])
  # The first step seeds the centroids from its own features (deterministic picks).
  centroids = jax.lax.cond(first_step, lambda: clustering.farthest_point_init(x, k),
                           lambda: centroids)
  ai, av = clustering.assign(xi, centroids), clustering.assign(xv, centroids)
  updated = clustering.ema_update(centroids, x, jnp.concatenate([ai, av]),
                                  objective.cluster_momentum)

  def logits(features, a):
    f = features.reshape(-1, features.shape[-1])
    if objective.cluster_mode == 'conditioned':
      return disc(jnp.concatenate([f, jax.nn.one_hot(a, k, dtype=f.dtype)], -1))
    return jnp.take_along_axis(disc(f), a[:, None], axis=-1)[:, 0]

  loss, acc = clustered_domain_loss(logits(image_features, ai), logits(video_features, av),
                                    ai, av, k)
  occ = {'image': clustering.occupancy(ai, k), 'video': clustering.occupancy(av, k)}
  return loss, acc, updated, occ
