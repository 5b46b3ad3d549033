"""Gap analysis re-renders the test scenes; the domain probe separates what differs."""
import jax
import numpy as np
import pytest

from conftest import tiny_config
from vda_jax import analysis
from vda_jax.data import synthetic
from vda_jax.train.experiment import Experiment


def test_artifact_clips_rerender_the_stored_test_scenes(sources):
  config = tiny_config()
  stored = sources['videos/test'][3]
  full = analysis.artifact_clips(config.data, 'all')[3]
  np.testing.assert_array_equal(np.asarray(stored['frames']), full['frames'])
  clean = analysis.artifact_clips(config.data, 'none')[3]
  framing = analysis.artifact_clips(config.data, 'framing')[3]
  assert not np.array_equal(clean['frames'], full['frames'])
  np.testing.assert_array_equal(clean['strengths'], 0.0)
  on = np.asarray(synthetic.ARTIFACTS) == 'framing'
  assert framing['strengths'][on] > 0 and np.all(framing['strengths'][~on] == 0)


def test_linear_probe_tells_shifted_features_apart_and_not_identical_ones():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 40, 8, 6))
  acc, pad = analysis.linear_probe(a, b + 3.0)
  assert acc == 1.0 and pad == 2.0
  acc, pad = analysis.linear_probe(a, b)
  assert 0.4 < acc < 0.6 and abs(pad) < 0.4


def test_gap_analysis_and_probe_run_on_a_model(sources):
  config = tiny_config()
  exp = Experiment.from_config(config, jax.devices()[:1])
  params = exp.init(jax.random.key(0)).params['model']
  gap = analysis.artifact_gap(exp, params, settings=('none', 'all'))
  # 'all' re-renders the stored test clips exactly: its score is the test split's own.
  assert gap['all'] == pytest.approx(exp.evaluate(params, sources, 'test')['video/mIoU'], abs=1e-9)
  probe = analysis.domain_probe(exp, params, sources, max_examples=8, per_example=4)
  assert set(probe) == {'stem', 'stage1', 'stage2', 'stage3', 'stage4', 'decoder', 'logits'}
  # The proxy A-distance is 2 (2 acc - 1) of the balanced held-out accuracy (by hand above).
  for acc, pad in probe.values():
    assert pad == pytest.approx(2 * (2 * acc - 1))
