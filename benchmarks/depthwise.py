"""Depthwise k x k convolution, forward + backward, as XLA compiles it: a grouped
convolution (`feature_group_count = channels`) against the same sum written as k*k
shifted, strided slices times a per-channel weight.

  python -m benchmarks.depthwise            # the EfficientNet-Lite0 shapes at 128 px, batch 32

Each row is one depthwise layer shape of the network; the times are the median of jitted
value-and-grad calls (input and weight gradients), so they are what a train step pays.
"""
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from vda_jax.models.depthwise import depthwise_conv

# (spatial, channels, kernel, stride) of the depthwise convs of lite0 at 128 px.
LITE0_128 = ((64, 32, 3, 1), (64, 96, 3, 2), (32, 144, 3, 1), (32, 144, 5, 2), (16, 240, 5, 1),
             (16, 240, 3, 2), (8, 480, 3, 1), (8, 480, 5, 1), (8, 672, 5, 2), (4, 1152, 5, 1),
             (4, 1152, 3, 1))

grouped = functools.partial(depthwise_conv, impl='grouped')   # XLA's grouped conv
shifted = functools.partial(depthwise_conv, impl='slices')


def time_value_and_grad(conv, x, w, stride, repeats=20):
  loss = lambda x, w: jnp.sum(jnp.square(conv(x, w, stride)))
  step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
  jax.block_until_ready(step(x, w))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(step(x, w))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main(batch=32, shapes=LITE0_128):
  rng = np.random.default_rng(0)
  print('| spatial | channels | kernel | stride | grouped conv ms | shifted slices ms | ratio |')
  print('|---|---|---|---|---|---|---|')
  totals = [0.0, 0.0]
  for size, channels, kernel, stride in shapes:
    x = jnp.asarray(rng.standard_normal((batch, size, size, channels)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((kernel, kernel, channels)), jnp.float32)
    np.testing.assert_allclose(shifted(x, w, stride), grouped(x, w, stride), rtol=1e-4,
                               atol=1e-3)
    a, b = (time_value_and_grad(f, x, w, stride) for f in (grouped, shifted))
    totals[0] += a
    totals[1] += b
    print(f'| {size} | {channels} | {kernel} | {stride} | {a * 1e3:.1f} | {b * 1e3:.1f} '
          f'| {a / b:.1f} |')
  print(f'| all | | | | {totals[0] * 1e3:.1f} | {totals[1] * 1e3:.1f} '
        f'| {totals[0] / totals[1]:.1f} |')


if __name__ == '__main__':
  main()
