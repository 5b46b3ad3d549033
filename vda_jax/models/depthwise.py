"""Depthwise k x k convolution written as k*k shifted slices times a per-channel weight.

  y = DepthwiseConv(kernel=5, stride=2, name='dw')(x)       # (B, H, W, C) -> (B, H/2, W/2, C)

Same parameters ('kernel' of shape (k, k, 1, C), optional 'bias') and the same sum as
`nn.Conv(C, (k, k), strides, padding='SAME', feature_group_count=C)`, so published weights
load unchanged. XLA:CPU runs grouped convolutions, and above all their gradients, as slow
generic loops; the sum of slices is elementwise work it fuses, forward and transposed
(`python -m benchmarks.depthwise`: 6.9x less time over EfficientNet-Lite0's depthwise
layers at 128 px; docs/benchmarks.md).

`impl` picks the formulation: 'slices' (above), 'grouped' (XLA's grouped convolution) or
'auto': slices on CPU, grouped where XLA has native depthwise kernels (GPU, TPU; the
slices were measured on XLA:CPU only). The grouped convolution compiles about 3x sooner,
which is what tiny CPU runs (the tests) spend their time on.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's 'SAME': output ceil(size / stride); an odd pixel of padding goes after."""
  total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


IMPLEMENTATIONS = ('auto', 'slices', 'grouped')


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int = 1,
                   impl: str = 'auto') -> jax.Array:
  """x: (..., H, W, C); kernel: (k, k, C). 'SAME' padding, as TensorFlow pads."""
  if impl not in IMPLEMENTATIONS:
    raise ValueError(f'config.model.depthwise_impl={impl!r}; expected one of {IMPLEMENTATIONS}')
  if impl == 'auto':
    impl = 'slices' if jax.default_backend() == 'cpu' else 'grouped'
  k = kernel.shape[0]
  *lead, h, w, c = x.shape
  pads = (same_padding(h, k, stride), same_padding(w, k, stride))
  if impl == 'grouped':
    y = jax.lax.conv_general_dilated(
        x.reshape((-1, h, w, c)), kernel[:, :, None, :], (stride, stride), pads,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=c)
    return y.reshape((*lead, *y.shape[1:]))
  xp = jnp.pad(x, [(0, 0)] * len(lead) + list(pads) + [(0, 0)])
  oh, ow = -(-h // stride), -(-w // stride)
  out = None
  for a in range(k):
    for b in range(k):
      window = jax.lax.slice(
          xp, (0,) * len(lead) + (a, b, 0),
          (*lead, a + (oh - 1) * stride + 1, b + (ow - 1) * stride + 1, c),
          (1,) * len(lead) + (stride, stride, 1))
      term = window * kernel[a, b]
      out = term if out is None else out + term
  return out


class DepthwiseConv(nn.Module):
  kernel_size: int
  stride: int = 1
  use_bias: bool = False
  impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (self.kernel_size, self.kernel_size, 1, c))
    y = depthwise_conv(x.astype(self.dtype), kernel[:, :, 0].astype(self.dtype), self.stride,
                       self.impl)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (c,)).astype(self.dtype)
    return y
