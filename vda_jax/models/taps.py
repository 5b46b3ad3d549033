"""Named feature taps: how every network exposes places a discriminator can attach.

A network calls `tap(self, name, x)` on its top-level module; the values land
in the 'taps' collection, flat and keyed by name. `apply_with_taps` returns
them next to the logits. Because taps are ordinary functions of the params,
a loss on a tap back-propagates into the network.
"""
import flax.linen as nn
import jax

TAPS = 'taps'


def tap(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
  """Records `x` as the tap `name` of `module`'s network; returns x unchanged."""
  module.sow(TAPS, name, x, init_fn=lambda: None, reduce_fn=lambda _, new: new)
  return x


def apply_with_taps(model: nn.Module, params, x: jax.Array, **kwargs) -> tuple[jax.Array, dict]:
  """(logits, {tap name: features}) of `model` on `x`."""
  logits, state = model.apply({'params': params}, x, mutable=[TAPS], **kwargs)
  return logits, dict(state[TAPS])


def tap_shapes(model: nn.Module, x_shape: tuple, dtype: str = 'uint8') -> dict:
  """{tap name: ShapeDtypeStruct} without running or compiling the network."""
  def run(x):
    params = model.init(jax.random.key(0), x)['params']
    return apply_with_taps(model, params, x)[1]
  return jax.eval_shape(run, jax.ShapeDtypeStruct(x_shape, dtype))


def check_taps(model, x_shape, names):
  """Fails before compilation when a configured tap does not exist."""
  shapes = tap_shapes(model, x_shape)
  missing = [n for n in names if n not in shapes]
  if missing:
    raise ValueError(f'{type(model).__name__} has no tap(s) {missing}; '
                     f'available: {sorted(shapes)}')
  return {n: shapes[n] for n in names}
