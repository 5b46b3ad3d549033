"""The gap table: gap and recovered share by hand, reports written."""
import csv

import pytest

from conftest import ROOT
from vda_jax import experiment


def fake_train(config, workdir):
  video = {'source_only': [0.30, 0.34], 'adversarial': [0.36, 0.38], 'upper_bound': [0.5, 0.5]}
  return {'image/mIoU': 0.62 if config.method == 'source_only' else 0.6,
          'video/mIoU': video[config.method][config.seed],
          'video/J&F': 0.4}


def test_grid_table_by_hand(tmp_path):
  results = experiment.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path),
                                ['source_only', 'adversarial', 'upper_bound'], [0, 1],
                                overrides=['train.steps=3'], train_fn=fake_train)
  rows = {r['method']: r for r in experiment.summarise(results)}
  # Source-only: image 0.62, video mean 0.32 -> gap 0.30.
  assert rows['source_only']['gap'] == pytest.approx(0.30)
  assert rows['source_only']['video/mIoU std'] == pytest.approx(0.02)
  # Adversarial video mean 0.37 closes (0.37 - 0.32) / 0.30 of it.
  assert rows['adversarial']['recovered'] == pytest.approx(0.05 / 0.30)
  assert rows['upper_bound']['recovered'] == pytest.approx(0.18 / 0.30)
  experiment.write_reports(list(rows.values()), results, str(tmp_path))
  table = (tmp_path / 'results.md').read_text()
  assert '| adversarial | 2 | 0.600 ± 0.000 | 0.370 ± 0.010 | 0.230 | 0.400 ± 0.000 | 16.7% |' in table
  with open(tmp_path / 'results.csv') as f:
    assert [r['method'] for r in csv.DictReader(f)] == ['source_only', 'adversarial', 'upper_bound']


def test_table_without_a_source_only_run_has_no_recovered_share():
  results = {('adversarial', 0): {'image/mIoU': 0.6, 'video/mIoU': 0.3, 'video/J&F': 0.4}}
  assert '| — |' in experiment.markdown_table(experiment.summarise(results))
