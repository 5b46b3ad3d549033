"""The PyTorch baseline computes the JAX train step, so timing the two compares like with like."""
import functools

import jax
import numpy as np
import pytest

from benchmarks import measure
from benchmarks.batches import random_batch
from conftest import tiny_config
from vda_jax.adversarial.grl import grl_scale
from vda_jax.train.step import loss_fn

torch = pytest.importorskip('torch')
from benchmarks import torch_baseline  # noqa: E402  (needs torch)
from vda_jax.train.experiment import Experiment  # noqa: E402


def _both(config):
  """(JAX experiment, its initial state, the PyTorch step loaded with the same weights)."""
  exp = Experiment.from_config(config, jax.devices()[:1])
  state = exp.init(jax.random.key(0))
  step = torch_baseline.TrainStep(config, exp.model.num_classes)
  torch_baseline.load_flax_params(step, jax.device_get(state.params))
  return exp, state, step


def _config():
  config = tiny_config()                        # cnn2d; global domain losses at stage2 and stage4
  config.adversarial.lambda_schedule = 'constant'  # lambda = 1 from step 0: reversal is live
  return config


def test_same_loss_and_gradients_as_the_jax_step():
  config = _config()
  exp, state, step = _both(config)
  batch = random_batch(config)
  (loss, _), grads = jax.jit(jax.value_and_grad(functools.partial(
      loss_fn, model=exp.model, objective=exp.objective, lam=1.0, first_step=True,
      video_label_weight=0.0), has_aux=True))(state.params, state.clusters, batch)
  total, _ = step.loss(batch)
  total.backward()
  np.testing.assert_allclose(float(total.detach()), float(loss), rtol=1e-5)
  expected = torch_baseline.flax_to_torch(jax.device_get(grads))
  got = {n: p.grad.numpy() for n, p in torch_baseline.named_parameters(step).items()}
  assert set(got) == set(expected)
  for name in expected:  # includes the reversed gradients reaching stage2/stage4 through the GRL
    np.testing.assert_allclose(got[name], expected[name], rtol=2e-3, atol=2e-6, err_msg=name)


def test_same_parameters_after_three_updates():
  config = _config()
  config.optimizer.eps = 1e-3  # Adam's m/sqrt(v) would magnify float noise in near-zero grads
  exp, state, step = _both(config)
  for i in range(3):
    batch = random_batch(config, seed=i)
    state, _ = exp.step(state, batch)
    step(batch)
  expected = torch_baseline.flax_to_torch(jax.device_get(state.params))
  for name, p in torch_baseline.named_parameters(step).items():
    np.testing.assert_allclose(p.detach().numpy(), expected[name], rtol=1e-4, atol=1e-5,
                               err_msg=name)


def test_schedules_take_the_hand_computed_values():
  config = _config()
  o = config.optimizer
  o.update(warmup_steps=10, final_lr_fraction=0.1)
  # Linear warm-up over 10 steps, then a cosine from 1 down to 0.1 over steps 10..110.
  for step, factor in ((0, 0.0), (5, 0.5), (10, 1.0), (60, 0.55), (110, 0.1), (200, 0.1)):
    assert torch_baseline.lr_factor(step, o, 110) == pytest.approx(factor), step
  # DANN: 2 / (1 + exp(-10 p)) - 1 at p = 0, 0.5, 1 (times lambda_max 0.7).
  for step, lam in ((0, 0.0), (50, 0.7 * 0.9866142981514305), (100, 0.7 * 0.9999092042625952)):
    assert torch_baseline.grl_scale(step, 100, 'dann', 0.7) == pytest.approx(lam, rel=1e-6)
    assert float(grl_scale(step, 100, 'dann', 0.7)) == pytest.approx(lam, rel=1e-6)


def test_rejects_what_it_does_not_implement():
  config = tiny_config(method='clustered')
  config.adversarial.clustered.taps = 'stem'
  with pytest.raises(ValueError, match='global domain losses only'):
    torch_baseline.TrainStep(config, 5)
  config = _config()
  config.adversarial.taps = 'nowhere'
  with pytest.raises(ValueError, match="'nowhere'"):
    torch_baseline.TrainStep(config, 5)


def test_benchmark_times_the_pytorch_step():
  r = measure.benchmark_torch_step(_config(), steps=2, warmup=1)
  assert r['step_s'] > 0 and r['frames_per_s'] == pytest.approx((8 + 4 * 2) / r['step_s'])
  assert r['threads'] >= 1 and r['version'] == torch.__version__
