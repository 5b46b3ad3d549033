"""Gradient reversal (Ganin & Lempitsky, 2015) and its coefficient schedule."""
import jax
import jax.numpy as jnp


@jax.custom_vjp
def grad_reverse(x: jax.Array, scale: jax.Array | float) -> jax.Array:
  """Identity forward; backward multiplies the cotangent by -scale.

  `scale` may be a traced scalar (e.g. scheduled by the step); it gets a zero
  gradient, so it is never trained.
  """
  return x


def _fwd(x, scale):
  return x, scale


def _bwd(scale, g):
  reversed_g = jax.tree.map(lambda t: (-scale * t).astype(t.dtype), g)
  return reversed_g, jnp.zeros_like(scale)


grad_reverse.defvjp(_fwd, _bwd)

LAMBDA_SCHEDULES = ('constant', 'dann')


def grl_scale(step: jax.Array | int, total_steps: int, schedule: str,
              max_scale: float) -> jax.Array:
  """lambda at `step`: 'constant', or DANN's ramp 2 / (1 + exp(-10 p)) - 1, p = step / total."""
  if schedule == 'constant':
    return jnp.asarray(max_scale, jnp.float32)
  if schedule == 'dann':
    p = jnp.clip(jnp.asarray(step, jnp.float32) / total_steps, 0.0, 1.0)
    return max_scale * (2.0 / (1.0 + jnp.exp(-10.0 * p)) - 1.0)
  raise ValueError(f"lambda schedule {schedule!r} is not 'constant' or 'dann'")
