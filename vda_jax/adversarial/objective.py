"""The unsupervised part of the train objective: the alignment terms of `config.adversarial`.

`Objective.from_config` builds the package's terms (adversarial.terms) from the
config's fields, plus any term named in `config.adversarial.terms`
({name: {type: registered term, taps: 'tap[:weight],...', other fields}}, the
way a fork adds its own). The Objective only combines them: their params and
state side by side, their weighted losses summed, one gradient reversal
schedule for all (a term with its own `lambda_max` gets the schedule rescaled to it).
"""
import dataclasses

import jax
import ml_collections

from vda_jax.adversarial import terms as terms_lib
from vda_jax.adversarial.grl import LAMBDA_SCHEDULES, grl_scale
from vda_jax.adversarial.terms import TermInputs


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


def package_terms(adv: ml_collections.ConfigDict) -> list:
  """The package's terms that config.adversarial's fields switch on (none: source-only)."""
  w, c = adv.weight, adv.clustered
  disc = dict(hidden=adv.disc_hidden, depth=adv.disc_depth)
  global_taps = parse_taps(adv.taps, w)
  features = {t: v for t, v in global_taps.items() if t not in terms_lib.OUTPUT_TAPS}
  outputs = {t: v for t, v in global_taps.items() if t in terms_lib.OUTPUT_TAPS}
  clustered = parse_taps(c.taps, w if c.get('weight') is None else c.weight,
                         'config.adversarial.clustered.taps')
  cdan = parse_taps(adv.cdan_taps, w, 'config.adversarial.cdan_taps')
  for field, taps in (('clustered.taps', clustered), ('cdan_taps', cdan)):
    if terms_lib.AUX in taps:
      raise ValueError(f'config.adversarial.{field}: tap {terms_lib.AUX!r} is the output-space '
                       'term\'s (name it in config.adversarial.taps)')
  if adv.disc_type not in ('pixel', 'conv'):
    raise ValueError(f"config.adversarial.disc_type={adv.disc_type!r}; expected 'pixel' or 'conv'")
  conv = adv.disc_type == 'conv'
  gan_loss = adv.get('gan_loss', 'minimax')   # configs saved before the field: minimax
  terms = []
  if features:
    terms.append(terms_lib.GlobalDomain(features, conv=conv, gan_loss=gan_loss, **disc))
  if outputs or adv.aux_tap:
    terms.append(terms_lib.OutputSpace(outputs, conv=conv, gan_loss=gan_loss,
                                       softmax=adv.output_softmax,
                                       aux_tap=adv.aux_tap, aux_weight=adv.aux_weight, **disc))
  if clustered:
    terms.append(terms_lib.ClusteredDomain(
        clustered, num_clusters=c.num_clusters, momentum=c.momentum, mode=c.mode,
        normalize=c.normalize, lambda_max=c.get('lambda_max'), **disc))
  if cdan:
    terms.append(terms_lib.Conditional(cdan, **disc))
  if adv.entropy_weight:
    terms.append(terms_lib.Entropy(adv.entropy_weight))
  return terms


def configured_terms(adv: ml_collections.ConfigDict) -> list:
  """config.adversarial.terms: {name: {type, taps, ...}} -> registered terms, by name."""
  terms = []
  for name, spec in sorted(adv.get('terms', {}).items()):
    fields = dict(spec)
    if 'type' not in fields:
      raise ValueError(f'config.adversarial.terms.{name}: no type; expected one of '
                       f'{sorted(terms_lib.TERMS)}')
    kind = fields.pop('type')
    if isinstance(fields.get('taps'), str):
      fields['taps'] = parse_taps(fields['taps'], adv.weight,
                                  f'config.adversarial.terms.{name}.taps')
    terms.append(terms_lib.build(kind, **fields))
  return terms


@dataclasses.dataclass(frozen=True)
class Objective:
  """The alignment terms of a run and the gradient reversal coefficient they share."""
  terms: tuple = ()
  lambda_schedule: str = 'dann'   # the GRL coefficient over training (grl.grl_scale)
  lambda_max: float = 1.0
  total_steps: int = 1

  def __post_init__(self):
    if self.lambda_schedule not in LAMBDA_SCHEDULES:
      raise ValueError(f'config.adversarial.lambda_schedule={self.lambda_schedule!r}; expected '
                       f'one of {LAMBDA_SCHEDULES}')
    if not self.lambda_max and any(_own_lambda(t) is not None for t in self.terms):
      raise ValueError('config.adversarial.lambda_max=0 while a term sets its own lambda_max: '
                       'a term\'s maximum rescales the shared schedule, which is then zero')

  @classmethod
  def from_config(cls, adv: ml_collections.ConfigDict, total_steps: int) -> 'Objective':
    """From config.adversarial; `total_steps` (config.train.steps) sets the λ ramp's length."""
    return cls(tuple(package_terms(adv) + configured_terms(adv)),
               lambda_schedule=adv.lambda_schedule, lambda_max=adv.lambda_max,
               total_steps=total_steps)

  def grl_lambda(self, step: jax.Array | int) -> jax.Array:
    """The gradient reversal coefficient at `step` (a traced scalar inside the step)."""
    return grl_scale(step, self.total_steps, self.lambda_schedule, self.lambda_max)

  @property
  def active(self) -> bool:
    """Whether any term is configured (source-only training has none)."""
    return bool(self.terms)

  def model_taps(self) -> list[str]:
    """Taps the network must provide."""
    return sorted(set().union(*(term.model_taps() for term in self.terms)))

  def init(self, rng: jax.Array, tap_shapes: dict, num_classes: int) -> tuple[dict, dict]:
    """(params, state) of all terms: params {'disc': {kind: {tap: ...}}, 'aux': ...},
    state {tap: k-means centroids, ...}. `tap_shapes`: {tap: ShapeDtypeStruct}."""
    dims = {name: s.shape[-1] for name, s in tap_shapes.items()}
    # The package's discriminator groups exist even when empty: checkpoints hold them,
    # and a restore matches trees exactly.
    params, state = {'disc': {group: {} for group in terms_lib.DISC_GROUPS}}, {}
    chain = [rng]

    def next_key():
      chain[0], key = jax.random.split(chain[0])
      return key
    for term in self.terms:
      term_params, term_state = term.init(next_key, dims, num_classes)
      _merge(params, term_params, type(term).__name__)
      _merge(state, term_state, type(term).__name__)
    return params, state

  def __call__(self, params: dict, state: dict, inputs: TermInputs) -> tuple[jax.Array, dict, dict]:
    """(weighted sum of the terms, their metrics, the updated state)."""
    total, metrics, new_state = 0.0, {}, dict(state)
    for term in self.terms:
      own = _own_lambda(term)
      term_inputs = inputs if own is None else inputs._replace(
          lam=inputs.lam * (own / self.lambda_max))
      loss, term_metrics, term_state = term(params, state, term_inputs)
      total += loss
      metrics.update(term_metrics)
      new_state.update(term_state)
    return total, metrics, new_state


def _own_lambda(term) -> float | None:
  """A term's own gradient reversal maximum (a `lambda_max` field), if it sets one."""
  return getattr(term, 'lambda_max', None)


def _merge(into: dict, part: dict, owner: str):
  """Adds a term's params or state; two terms may share a group, never an entry."""
  for key, value in part.items():
    if isinstance(value, dict) and isinstance(into.get(key), dict):
      _merge(into[key], value, owner)
    elif key in into:
      raise ValueError(f'{owner} and another alignment term both define {key!r}')
    else:
      into[key] = value
