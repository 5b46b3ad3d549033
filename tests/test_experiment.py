"""The gap table by hand (gap, recovered share, distance to the upper bound); reports written."""
import csv

import pytest

from conftest import ROOT
from vda_jax import experiment


def fake_train(config, workdir):
  video = {'source_only': [0.30, 0.34], 'adversarial': [0.36, 0.38], 'upper_bound': [0.5, 0.5]}
  return {'image/mIoU': 0.62 if config.method == 'source_only' else 0.6,
          'video/mIoU': video[config.method][config.seed],
          'video/J&F': 0.4 if config.model.name == 'cnn2d' else 0.1}


def test_grid_table_by_hand(tmp_path):
  results = experiment.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path),
                                ['cnn2d', 'segformer'], ['source_only', 'adversarial', 'upper_bound'],
                                [0, 1], overrides=['train.steps=3'], train_fn=fake_train)
  assert len(results) == 12
  rows = {(r['model'], r['method']): r for r in experiment.summarise(results)}
  # Source-only: image 0.62, video mean 0.32 -> gap 0.30.
  assert rows[('cnn2d', 'source_only')]['gap'] == pytest.approx(0.30)
  assert rows[('cnn2d', 'source_only')]['video/mIoU std'] == pytest.approx(0.02)
  # Adversarial video mean 0.37 closes (0.37 - 0.32) / 0.30 of it and is 0.13 below 0.5.
  assert rows[('cnn2d', 'adversarial')]['recovered'] == pytest.approx(0.05 / 0.30)
  assert rows[('cnn2d', 'adversarial')]['to_upper_bound'] == pytest.approx(0.13)
  assert rows[('segformer', 'upper_bound')]['recovered'] == pytest.approx(0.18 / 0.30)
  assert rows[('segformer', 'upper_bound')]['video/J&F'] == pytest.approx(0.1)
  experiment.write_reports(list(rows.values()), results, str(tmp_path))
  table = (tmp_path / 'results.md').read_text()
  assert ('| cnn2d | adversarial | 2 | 0.600 ± 0.000 | 0.370 ± 0.010 | 0.230 | 0.400 ± 0.000 '
          '| 0.130 | 16.7% |') in table
  with open(tmp_path / 'results.csv') as f:
    assert [r['method'] for r in csv.DictReader(f)][:3] == ['source_only', 'adversarial', 'upper_bound']


def test_table_without_reference_runs_has_dashes():
  results = {('cnn2d', 'adversarial', 0): {'image/mIoU': 0.6, 'video/mIoU': 0.3, 'video/J&F': 0.4}}
  assert '| — | — |' in experiment.markdown_table(experiment.summarise(results))


def test_plots_are_written(tmp_path):
  from vda_jax import plots  # pylint: disable=g-import-not-at-top
  results = experiment.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path), ['cnn2d'],
                                ['source_only', 'adversarial'], [0, 1], train_fn=fake_train)
  plots.results_figure(experiment.summarise(results), tmp_path / 'results.png')
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'metrics.jsonl').write_text('{"step": 5, "sup_loss": 1.0}\n{"step": 10, "sup_loss": 0.5}\n')
  plots.curves_figure({'run': str(run)}, tmp_path / 'curves.png')
  for name in ('results.png', 'curves.png'):
    assert (tmp_path / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
