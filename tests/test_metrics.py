"""mIoU by hand; DAVIS J&F against the official toolkit's numbers on real frames."""
import json

import numpy as np
from PIL import Image
import pytest

from conftest import SHARED_DATA
from vda_jax.eval import metrics

DAVIS = SHARED_DATA / 'davis2016-sample'


def test_confusion_and_miou_by_hand():
  label = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
  pred = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])
  c = metrics.confusion_matrix(pred, label, 3)
  np.testing.assert_array_equal(c, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
  # IoU: class 0 = 1/(2+2-1)=1/3, class 1 = 2/(2+3-2)=2/3, class 2 = 1/(2+1-1)=1/2.
  np.testing.assert_allclose(metrics.iou_per_class(c), [1 / 3, 2 / 3, 1 / 2])
  assert metrics.mean_iou(c) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
  # Foreground mIoU leaves out class 0 (background).
  assert metrics.mean_iou(c, foreground=True) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_all_background_prediction_has_a_floor_in_miou_but_not_in_foreground_miou():
  label = np.zeros((10, 10), int)
  label[:2, :2], label[5:7, 5:7] = 1, 2       # 92% background
  c = metrics.confusion_matrix(np.zeros_like(label), label, 3)
  assert metrics.mean_iou(c) == pytest.approx(0.92 / 3)
  assert metrics.mean_iou(c, foreground=True) == 0.0


def test_bootstrap_ci_by_hand():
  # Identical items: every resample gives the same statistic.
  assert metrics.bootstrap_ci(np.full(20, 0.3), np.mean) == pytest.approx((0.3, 0.3))
  # Two items: a resample of 2 is (a, a), (a, b), (b, a) or (b, b), so the mean is
  # a, (a+b)/2 or b with probability 1/4, 1/2, 1/4; the 2.5th and 97.5th
  # percentiles of 4000 draws are a and b.
  assert metrics.bootstrap_ci([0.0, 1.0], np.mean, samples=4000) == pytest.approx((0.0, 1.0))
  # Many items: the percentile interval of a mean approaches the normal one,
  # mean +- 1.96 * std / sqrt(n).
  x = np.random.default_rng(0).normal(0.5, 0.1, 400)
  lo, hi = metrics.bootstrap_ci(x, np.mean, samples=4000)
  half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
  assert lo == pytest.approx(x.mean() - half, abs=0.15 * half)
  assert hi == pytest.approx(x.mean() + half, abs=0.15 * half)
  # Confusion matrices per clip: the statistic sums a resample's matrices.
  clips = np.stack([metrics.confusion_matrix(np.array([1, 1]), np.array([1, 0]), 2),
                    metrics.confusion_matrix(np.array([1, 1]), np.array([1, 1]), 2)])
  lo, hi = metrics.bootstrap_ci(clips, lambda c: metrics.mean_iou(c.sum(0), foreground=True),
                                samples=4000)
  # Resamples: both clip 0 -> IoU 2/4; one each -> 3/4; both clip 1 -> 4/4.
  assert (lo, hi) == pytest.approx((0.5, 1.0))


def test_absent_class_is_excluded_and_bad_labels_are_errors():
  c = metrics.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2)), 3)
  assert np.isnan(metrics.iou_per_class(c)[1:]).all()
  assert metrics.mean_iou(c) == 1.0
  with pytest.raises(ValueError, match='label value 7 is outside the 3 classes'):
    metrics.confusion_matrix(np.zeros(2), np.array([7, 0]), 3)


def test_j_and_f_edge_cases():
  empty, square = np.zeros((20, 20)), np.zeros((20, 20))
  square[5:15, 5:15] = 1
  assert metrics.region_j(empty, empty) == 1.0
  assert metrics.boundary_f(empty, empty) == 1.0
  assert metrics.boundary_f(empty, square) == 0.0   # P=1, R=0
  assert metrics.boundary_f(square, empty) == 0.0   # P=0, R=1
  assert metrics.region_j(square, square) == 1.0 and metrics.boundary_f(square, square) == 1.0
  shifted = np.roll(square, 1, axis=1)
  assert metrics.region_j(square, shifted) == pytest.approx(90 / 110)
  assert metrics.boundary_f(square, shifted, bound_th=1) == 1.0  # within 1 px tolerance
  assert metrics.boundary_f(square, np.roll(square, 5, axis=1), bound_th=1) < 1.0


@pytest.mark.skipif(not DAVIS.exists(), reason='needs ../shared/data/davis2016-sample')
def test_j_and_f_match_the_official_davis_toolkit_on_every_frame():
  reference = json.loads((DAVIS / 'reference_jf_osvos.json').read_text())['sequences']
  assert set(reference) == {'blackswan', 'car-shadow'}
  for seq, ref in reference.items():
    preds, truths = [], []
    for i, frame in enumerate(ref['frames']):
      pred = np.array(Image.open(DAVIS / 'predictions-osvos' / seq / frame))
      truth = np.array(Image.open(DAVIS / 'Annotations' / '480p' / seq / frame))
      assert abs(metrics.region_j(pred, truth) - ref['J'][i]) < 1e-3, (seq, frame)
      assert abs(metrics.boundary_f(pred, truth) - ref['F'][i]) < 1e-3, (seq, frame)
      preds.append(pred)
      truths.append(truth)
    pairs = list(zip(preds, truths))
    seq_scores = metrics.davis_scores({'J': [[metrics.region_j(p, t) for p, t in pairs]],
                                       'F': [[metrics.boundary_f(p, t) for p, t in pairs]]})
    assert seq_scores['J'] == pytest.approx(ref['J_mean'], abs=1e-3)
    assert seq_scores['F'] == pytest.approx(ref['F_mean'], abs=1e-3)


def test_recall_and_decay_bin_frames_like_the_davis_toolkit():
  values = [0.9, 0.8, 0.4, 0.6, 0.3, 0.2, 0.7, 0.1]
  # 8 frames: bin edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7]; bins overlap
  # at their edges: [0:3], [2:5], [4:6], [5:8]. Decay = mean(bin 0) - mean(bin 3).
  s = metrics.sequence_statistics(values)
  assert s['mean'] == pytest.approx(0.5)
  assert s['recall'] == pytest.approx(4 / 8)
  assert s['decay'] == pytest.approx((0.9 + 0.8 + 0.4) / 3 - (0.2 + 0.7 + 0.1) / 3)
  both = metrics.davis_scores({'J': [values, [1.0] * 4], 'F': [[0.5] * 8, [0.0] * 4]})
  assert both['J'] == pytest.approx((0.5 + 1.0) / 2)
  assert both['J-recall'] == pytest.approx((0.5 + 1.0) / 2)
  assert both['J-decay'] == pytest.approx(s['decay'] / 2)
  assert both['F-recall'] == 0.0 and both['J&F'] == pytest.approx((0.75 + 0.25) / 2)


def test_mean_ci_is_the_t_interval_by_hand():
  # 1, 2, 3: mean 2, sample sd 1, t(0.975, 2 dof) = 4.302653 (tables), half = 4.302653 / sqrt(3).
  mean, half, sd = metrics.mean_ci([1.0, 2.0, 3.0])
  assert (mean, sd) == (2.0, 1.0) and half == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
  mean, half, sd = metrics.mean_ci([0.5])
  assert mean == 0.5 and np.isnan(half) and np.isnan(sd)
