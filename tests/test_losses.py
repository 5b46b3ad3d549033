import jax.numpy as jnp
import numpy as np
import pytest

from vda_jax.adversarial.losses import domain_loss, segmentation_loss


def test_domain_loss_by_hand():
  # Image (label 0) logits 0 and ln 3: losses ln 2 and ln 4. Video (label 1)
  # logit ln 3: loss -log(3/4) = ln(4/3). Each domain averaged, then both.
  img = jnp.array([0.0, np.log(3.0)])
  vid = jnp.array([np.log(3.0)])
  loss, acc = domain_loss(img, vid)
  assert float(loss) == pytest.approx(0.5 * ((np.log(2) + np.log(4)) / 2 + np.log(4 / 3)), rel=1e-6)
  # Image logits are not < 0 (both wrong), the video one is > 0 (right).
  assert float(acc) == pytest.approx(0.5)


def test_domain_loss_balances_domains_of_different_size():
  a, _ = domain_loss(jnp.zeros((2, 4, 4)), jnp.full((6, 4, 4), 2.0))
  b, _ = domain_loss(jnp.zeros((1,)), jnp.full((1,), 2.0))
  assert float(a) == pytest.approx(float(b), rel=1e-6)


def test_segmentation_loss_by_hand_with_void():
  logits = jnp.array([[[[2.0, 0.0], [0.0, 0.0]]]])      # (1, 1, 2, 2): two pixels, two classes
  labels = jnp.array([[[0, 255]]], jnp.uint8)            # second pixel is void
  expected = -np.log(np.exp(2) / (np.exp(2) + 1))
  assert float(segmentation_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)
  assert float(segmentation_loss(logits, jnp.full((1, 1, 2), 255, jnp.uint8))) == 0.0
