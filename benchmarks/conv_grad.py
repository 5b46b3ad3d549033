"""Ways to compute a 3x3 stride-1 SAME convolution's weight gradient on XLA:CPU.

The cnn2d backward pass is dominated by these weight gradients (docs/benchmarks.md),
so each way below is timed against what `jax.grad` of the NHWC/HWIO convolution
gives (`xla`), in interleaved rounds within one process so that a busy host slows
all of them alike:

  xla            jax.vjp of lax.conv_general_dilated, NHWC x HWIO (what flax.linen.Conv does)
  xla_nchw       the same convolution in NCHW x OIHW, transposes included
  batch_as_feature  dW written directly as a convolution of x with dy, the channels of x
                 as the batch and the batch as the contracted feature (what XLA emits
                 for dW, spelled out so that XLA:CPU may pick another kernel)
  shifted_matmul dW[kh, kw] = sum over pixels of x shifted by (kh, kw) times dy: one
                 batched matmul over the 9 shifted views (a custom-VJP candidate)

  python benchmarks/conv_grad.py [--rounds=15]
"""
import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

# (batch, height = width, in channels, out channels) of cnn2d's 3x3 convs (tiny, width
# 16, 64 px, 16 images + 16 frames): the stem's and the three downsampled stages'.
LAYERS = ((32, 64, 16, 16), (32, 32, 16, 32), (32, 16, 32, 64), (32, 8, 64, 128))
PAD = ((1, 1), (1, 1))


def conv(x, w):
  return lax.conv_general_dilated(x, w, (1, 1), PAD, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def xla(x, dy, w):
  return jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]


def xla_nchw(x, dy, w):
  nchw = lambda w: lax.conv_general_dilated(
      x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), (1, 1), PAD,
      dimension_numbers=('NCHW', 'OIHW', 'NCHW'))
  return jax.vjp(nchw, w)[1](dy.transpose(0, 3, 1, 2))[0]


def batch_as_feature(x, dy, w):
  del w
  # x[n, h, w, ci] read as batch ci, feature n; dy[n, h, w, co] as a kernel with input
  # feature n and output co; the 3x3 "output image" is dW's spatial extent.
  return lax.conv_general_dilated(x, dy, (1, 1), PAD,
                                  dimension_numbers=('CHWN', 'IHWO', 'HWNC'))


def shifted_matmul(x, dy, w):
  n, h, wd, ci = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  views = jnp.stack([padded[:, i:i + h, j:j + wd].reshape(-1, ci)
                     for i in range(3) for j in range(3)])
  return jnp.einsum('kpc,pd->kcd', views, dy.reshape(n * h * wd, -1)).reshape(w.shape)


WAYS = {'xla': xla, 'xla_nchw': xla_nchw, 'batch_as_feature': batch_as_feature,
        'shifted_matmul': shifted_matmul}


def layer_inputs(n, size, ci, co, seed=0):
  kx, kd, kw = jax.random.split(jax.random.key(seed), 3)
  return (jax.random.normal(kx, (n, size, size, ci)), jax.random.normal(kd, (n, size, size, co)),
          jax.random.normal(kw, (3, 3, ci, co)))


def time_ways(n, size, ci, co, rounds, calls=5):
  """{way: [ms per call in each round]}; the ways take turns within every round."""
  args = layer_inputs(n, size, ci, co)
  jitted = {name: jax.jit(fn) for name, fn in WAYS.items()}
  for fn in jitted.values():
    jax.block_until_ready(fn(*args))
  times = {name: [] for name in WAYS}
  for _ in range(rounds):
    for name, fn in jitted.items():
      start = time.perf_counter()
      for _ in range(calls):
        jax.block_until_ready(fn(*args))
      times[name].append(1000 * (time.perf_counter() - start) / calls)
  return times


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=15)
  rounds = parser.parse_args().rounds
  print('| layer (N, HxW, Cin->Cout) | way | min ms | median ms | max ms | median / xla |')
  print('|---|---|---|---|---|---|')
  for n, size, ci, co in LAYERS:
    times = time_ways(n, size, ci, co, rounds)
    base = statistics.median(times['xla'])
    for name, t in times.items():
      print(f'| {n}, {size}x{size}, {ci}->{co} | {name} | {min(t):.2f} | '
            f'{statistics.median(t):.2f} | {max(t):.2f} | {statistics.median(t) / base:.2f} |',
            flush=True)


if __name__ == '__main__':
  main()
