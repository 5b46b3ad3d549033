"""The shifted-slices depthwise convolution against XLA's grouped convolution."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.depthwise import grouped, shifted
from vda_jax.models.depthwise import DepthwiseConv, depthwise_conv, same_padding


def test_same_padding_is_tensorflows():
  # TF: out = ceil(in / s); pad = max((out - 1) * s + k - in, 0), the odd pixel after.
  assert same_padding(7, 3, 1) == (1, 1)
  assert same_padding(8, 3, 2) == (0, 1)
  assert same_padding(7, 5, 2) == (2, 2)
  assert same_padding(9, 5, 2) == (2, 2)
  assert same_padding(1, 3, 2) == (1, 1)


@pytest.mark.parametrize('size,kernel,stride', [(8, 3, 1), (9, 3, 2), (8, 5, 2), (7, 5, 1),
                                                (6, 3, 2)])
def test_values_and_both_gradients_match_the_grouped_convolution(size, kernel, stride):
  rng = np.random.default_rng(size * kernel + stride)
  x = jnp.asarray(rng.standard_normal((2, size, size + 1, 5)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((kernel, kernel, 5)), jnp.float32)
  np.testing.assert_allclose(shifted(x, w, stride), grouped(x, w, stride), rtol=1e-5,
                             atol=1e-5)
  cotangent = jnp.asarray(rng.standard_normal(grouped(x, w, stride).shape), jnp.float32)
  loss = lambda f: lambda x, w: jnp.sum(f(x, w, stride) * cotangent)
  ours = jax.grad(loss(shifted), argnums=(0, 1))(x, w)
  theirs = jax.grad(loss(grouped), argnums=(0, 1))(x, w)
  for a, b in zip(ours, theirs):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_grouped_is_the_grouped_convolution_over_any_leading_axes_and_auto_is_slices_on_cpu():
  rng = np.random.default_rng(0)
  clips = jnp.asarray(rng.standard_normal((2, 3, 7, 6, 4)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((3, 3, 4)), jnp.float32)
  reference = jax.lax.conv_general_dilated(
      clips.reshape(6, 7, 6, 4), w[:, :, None, :], (2, 2), ((1, 1), (0, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=4)
  np.testing.assert_allclose(grouped(clips, w, 2), reference.reshape(2, 3, 4, 3, 4), rtol=1e-6)
  assert jax.default_backend() == 'cpu'
  np.testing.assert_array_equal(depthwise_conv(clips, w, 2), shifted(clips, w, 2))
  with pytest.raises(ValueError, match=r"depthwise_impl='cudnn'; expected one of"):
    depthwise_conv(clips, w, 2, impl='cudnn')


def test_the_module_keeps_nn_conv_s_parameters_and_output():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 6, 6, 4)), jnp.float32)
  ours = DepthwiseConv(3, use_bias=True)
  params = ours.init(jax.random.key(0), x)
  conv = nn.Conv(4, (3, 3), padding='SAME', feature_group_count=4)
  reference = jax.eval_shape(conv.init, jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(lambda s: s.shape, reference)
  params = jax.tree.map(lambda p: p + 0.5, params)  # a non-zero bias too
  np.testing.assert_allclose(ours.apply(params, x), conv.apply(params, x), rtol=1e-5, atol=1e-5)


def test_the_benchmark_prints_one_row_per_layer_shape_and_a_total(capsys):
  from benchmarks import depthwise as benchmark
  shapes = ((8, 4, 3, 1), (8, 6, 5, 2))
  benchmark.main(batch=2, shapes=shapes)
  rows = [line.split('|')[1:-1] for line in capsys.readouterr().out.splitlines()[2:]]
  assert [r[:4] for r in rows[:-1]] == [[f' {v} ' for v in shape] for shape in shapes]
  assert rows[-1][0].strip() == 'all'
  grouped, shifted = (sum(float(r[i]) for r in rows[:-1]) for i in (4, 5))
  assert abs(float(rows[-1][4]) - grouped) < 0.2 and abs(float(rows[-1][5]) - shifted) < 0.2
