"""Model selection: DEV's estimator by hand, its density ratios against a known case,
the choice per method and the rank agreement."""
import numpy as np
import pytest

from vda_jax import selection
from vda_jax.train.experiment import Experiment


def test_dev_risk_by_hand():
  losses, weights = np.array([1., 2., 3., 4.]), np.array([0.5, 1., 2., 1.5])
  # L = w * loss = (0.5, 2, 6, 6), mean 3.625; mean(w) = 1.25; Cov(L, w) = 5.125 / 3,
  # Var(w) = 1.25 / 3 (ddof 1) -> eta = -4.1; risk = 3.625 - 4.1 * 1.25 + 4.1 = 2.6.
  assert selection.dev_risk(losses, weights) == pytest.approx(2.6)
  # Constant weights: no control variate, the weighted mean.
  assert selection.dev_risk(losses, np.full(4, 2.0)) == pytest.approx(5.0)


def test_density_ratios_recover_a_known_shift():
  rng = np.random.default_rng(0)
  source, target = rng.normal(0, 1, (4000, 1)), rng.normal(1, 1, (4000, 1))
  # N(1, 1) / N(0, 1) at x is exp(x - 1/2).
  x = np.array([[-0.5], [0.5], [1.5]])
  np.testing.assert_allclose(selection.density_ratios(source, target, x),
                             np.exp(x[:, 0] - 0.5), rtol=0.15)


def test_dev_weights_correct_a_covariate_shift_where_the_plain_mean_fails():
  # Source x ~ N(0, 1), target x ~ N(1, 1), loss = x^2: the source risk is 1, the
  # target risk 2. DEV on source samples with the estimated ratios gets near 2.
  rng = np.random.default_rng(1)
  source, target, val = (rng.normal(m, 1, (n, 1)) for m, n in ((0, 4000), (1, 4000), (0, 4000)))
  weights = selection.density_ratios(source, target, val)
  assert np.mean(val ** 2) == pytest.approx(1.0, abs=0.1)
  assert selection.dev_risk(val[:, 0] ** 2, weights) == pytest.approx(2.0, abs=0.25)


def test_choose_picks_per_method_and_ranks_with_spearman():
  rows = [{'model': 'cnn2d', 'method': 'adversarial', 'candidate': i, 'fields': {'w': w},
           'val/mIoU': v, 'dev/risk': r}
          for i, (w, v, r) in enumerate([(0.1, 0.30, 0.20), (0.3, 0.35, 0.10), (1.0, 0.25, 0.15)])]
  rows.append({'model': 'cnn2d', 'method': 'source_only', 'candidate': 0, 'fields': {},
               'val/mIoU': 0.2, 'dev/risk': 0.3})
  selected, rho = selection.choose(rows)
  assert selected['cnn2d/adversarial'] == {'oracle': {'w': 0.3}, 'dev': {'w': 0.3}}
  assert selected['cnn2d/source_only'] == {'oracle': {}, 'dev': {}}
  # Oracle order (best first) c1, c0, c2; DEV order c1, c2, c0: rho = 1 - 6 * 2 / (3 * 8).
  assert rho['cnn2d'] == pytest.approx(0.5)


def test_candidates_are_scored_on_the_val_splits_only():
  from conftest import ROOT
  configs = selection.candidate_configs(str(ROOT / 'configs' / 'embedded.py'), ['cnn2d'],
                                        ['source_only', 'adversarial'], arg='preset=photometric')
  assert len(configs) == 1 + 16
  for (model, method, i), (fields, config) in configs.items():
    assert config.eval.split == 'val' and config.eval.final_split == ''
    assert config.data.preset == 'photometric'
    for field, value in fields.items():
      node = config
      for part in field.split('.'):
        node = node[part]
      assert node == value


def test_dev_score_of_a_network(sources):
  import jax

  from conftest import tiny_config
  config = tiny_config('source_only')
  exp = Experiment.from_config(config, jax.devices()[:1])
  params = exp.init(jax.random.key(0)).params['model']
  scores = selection.dev_score(exp.model, params, sources, config, max_examples=8)
  assert np.isfinite(scores['dev/risk']) and scores['dev/weight_mean'] > 0
  # An untrained network's loss is near log(5 classes) per pixel.
  assert 0.5 * np.log(5) < scores['dev/source_val_loss'] < 2 * np.log(5)
  # Real records come in their own sizes: they are resized to the input as training sees
  # them, so with half of them at twice the size the scores agree up to resampling.
  from vda_jax.data import media  # pylint: disable=g-import-not-at-top
  big = lambda r: {**r, 'image': media.resize(r['image'], (64, 64)),
                   'mask': media.resize(r['mask'][..., 0], (64, 64), True)[..., None]}
  mixed = lambda split: [(big if i % 2 else dict)(sources[split][i]) for i in range(8)]
  grown = {'images/train': mixed('images/train'), 'images/val': mixed('images/val'),
           'videos/train': sources['videos/train']}
  again = selection.dev_score(exp.model, params, grown, config, max_examples=8)
  assert again['dev/source_val_loss'] == pytest.approx(scores['dev/source_val_loss'], rel=0.05)
