"""Gap analysis re-renders the test scenes; the domain probe separates what differs."""
import jax
import numpy as np

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
  gap = analysis.artifact_gap(exp, params, settings=('none', 'blur'))
  assert set(gap) == {'none', 'blur'} and all(0 <= v <= 1 for v in gap.values())
  probe = analysis.domain_probe(exp, params, sources, max_examples=8, per_example=4)
  assert set(probe) == {'stem', 'stage1', 'stage2', 'stage3', 'stage4', 'decoder', 'logits'}
  # The proxy A-distance itself is checked by hand above (separable: 2, identical: ~0).
  for acc, pad in probe.values():
    assert 0 <= acc <= 1 and -2 <= pad <= 2
