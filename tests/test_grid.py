"""The gap table by hand (gaps, shares, CIs, image cost); reports and figures written."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, program_env, tiny_overrides
from vda_jax import grid, preemption, report
from vda_jax.train.metrics_writer import final_eval, read_metrics


def fake_train(config, workdir):
  video = {'source_only': [0.30, 0.34], 'adversarial': [0.36, 0.38], 'upper_bound': [0.5, 0.5]}
  return {'image/mIoU': 0.62 if config.method == 'source_only' else 0.6,
          'video/mIoU': video[config.method][config.seed],
          'video/J&F-foreground': 0.4 if config.model.name == 'cnn2d' else 0.1}


def test_grid_table_by_hand(tmp_path):
  results = grid.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path),
                                ['cnn2d', 'segformer'],
                                ['source_only', 'adversarial', 'upper_bound'],
                                [0, 1], overrides=['train.steps=3'], train_fn=fake_train)
  assert len(results) == 12
  rows = {(r['model'], r['method']): r for r in report.summarise(results)}
  src = rows[('cnn2d', 'source_only')]
  # Source-only: image 0.62, video 0.30 and 0.34 -> mean 0.32, gap 0.30; sample std
  # (ddof=1) sqrt(2 * 0.02^2 / 1); 95% t-interval 12.706 (t, 1 dof) * std / sqrt(2).
  assert src['gap'] == pytest.approx(0.30)
  assert src['video/mIoU std'] == pytest.approx(0.02 * np.sqrt(2))
  assert src['video/mIoU ci_hi'] == pytest.approx(0.32 + 12.7062 * 0.02, rel=1e-4)
  adv = rows[('cnn2d', 'adversarial')]
  # Adversarial video mean 0.37: 0.25 below source-only's image 0.62, closes 0.05 of
  # the 0.30 gap and 0.05 of the 0.18 the upper bound (0.5) closes, costs 0.02 image.
  assert adv['gap'] == pytest.approx(0.25)
  assert adv['recovered'] == pytest.approx(0.05 / 0.30)
  assert adv['closable'] == pytest.approx(0.05 / 0.18)
  assert adv['image_cost'] == pytest.approx(0.02)
  assert adv['to_upper_bound'] == pytest.approx(0.13)
  assert rows[('segformer', 'upper_bound')]['closable'] == pytest.approx(1.0)
  assert rows[('segformer', 'upper_bound')]['video/J&F-foreground'] == pytest.approx(0.1)
  report.write_reports(list(rows.values()), results, str(tmp_path))
  table = (tmp_path / 'results.md').read_text()
  assert ('| cnn2d | adversarial | 2 | 0.600 (0.600–0.600) | 0.370 (0.243–0.497) | — | '
          '0.400 (0.400–0.400) | +0.020 | 0.250 | 16.7% | 27.8% |') in table
  with open(tmp_path / 'results.csv') as f:
    methods = [r['method'] for r in csv.DictReader(f)][:3]
    assert methods == ['source_only', 'adversarial', 'upper_bound']


def test_one_seed_shows_the_runs_bootstrap_ci_and_no_reference_runs_give_dashes():
  results = {('cnn2d', 'adversarial', 0): {'image/mIoU': 0.6, 'video/mIoU': 0.3,
                                           'video/J&F-foreground': 0.4,
                                           'video/mIoU-ci_lo': 0.25, 'video/mIoU-ci_hi': 0.33}}
  row, = report.summarise(results)
  assert np.isnan(row['video/mIoU std'])
  table = report.markdown_table([row])
  assert '| 0.300 (0.250–0.330) |' in table and '| 0.600 |' in table
  assert '| — | — | — | — |' in table


def test_plots_are_written(tmp_path):
  from vda_jax import plots  # pylint: disable=g-import-not-at-top
  results = grid.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path), ['cnn2d'],
                                ['source_only', 'adversarial'], [0, 1], train_fn=fake_train)
  plots.results_figure(report.summarise(results), tmp_path / 'results.png')
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'metrics.jsonl').write_text('{"step": 5, "sup_loss": 1.0}\n'
                                     '{"step": 10, "sup_loss": 0.5}\n')
  adv = tmp_path / 'adv'
  adv.mkdir()
  (adv / 'metrics.jsonl').write_text(''.join(
      json.dumps({'step': s, 'sup_loss': 1.0 / s,
                  'domain_loss/stage4': 0.69, 'disc_acc/stage4': 0.6,
                  'clustered_loss/stem': 0.6, 'clustered_acc/stem': 0.7,
                  'clusters/stem/image/0': 0.7, 'clusters/stem/image/1': 0.3,
                  'clusters/stem/video/0': 0.2, 'clusters/stem/video/1': 0.8}) + '\n'
      for s in (5, 10)))
  panels = plots.curves_figure({'run': str(run), 'adv': str(adv)}, tmp_path / 'curves.png')
  # The minimax balance per tap and the clustered term's occupancy per domain are shown.
  assert panels == ['sup_loss', 'total_loss', 'val/video/mIoU', 'alignment losses',
                    'discriminator accuracy', 'adv: clusters/stem']
  for name in ('results.png', 'curves.png'):
    assert (tmp_path / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_paired_tests_by_hand():
  video = {'source_only': [0.30, 0.34, 0.32], 'adversarial': [0.33, 0.38, 0.35]}
  results = {('cnn2d', m, s): {'video/mIoU': v[s]} for m, v in video.items() for s in range(3)}
  row, = report.paired_tests(results)
  # Differences 0.03, 0.04, 0.03: mean 1/30, sample std 0.005774, t = mean / (std / sqrt 3)
  # = 10.0 with 2 dof -> two-sided p = 0.00985; 95% half-width 4.3027 * std / sqrt 3.
  assert (row['method'], row['baseline'], row['seeds']) == ('adversarial', 'source_only', 3)
  assert row['diff'] == pytest.approx(0.1 / 3)
  assert row['p'] == pytest.approx(0.00985, rel=1e-2)
  assert row['ci_hi'] - row['diff'] == pytest.approx(4.3027 * 0.0057735 / np.sqrt(3), rel=1e-3)
  assert '| cnn2d | adversarial − source_only | video/mIoU | 3 | +0.033' in (
      report.paired_table([row]))
  # The verdict adds every method against source-only and every image cost.
  results.update({('cnn2d', 'clustered', s): {'video/mIoU': 0.4} for s in range(3)})
  for (_, _, s), r in results.items():
    r['image/mIoU'] = 0.8 + 0.01 * s
  verdict = report.verdict_tests(results)
  tests = [(r['method'], r['baseline'], r['column']) for r in verdict]
  assert tests == [('adversarial', 'source_only', 'video/mIoU'),
                   ('clustered', 'adversarial', 'video/mIoU'),
                   ('clustered', 'source_only', 'video/mIoU'),
                   ('adversarial', 'source_only', 'image/mIoU'),
                   ('clustered', 'source_only', 'image/mIoU')]
  # Holm within each column's family: the video family has three tests, image two.
  video = [r for r in verdict if r['column'] == 'video/mIoU']
  order = np.argsort([r['p'] for r in video])
  for rank, i in enumerate(order):
    assert video[i]['p_holm'] >= min(1.0, (3 - rank) * video[i]['p']) - 1e-12
  assert video[order[0]]['p_holm'] == pytest.approx(min(1.0, 3 * video[order[0]]['p']))


def test_holm_by_hand():
  # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max.
  assert report.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
  assert report.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
  assert report.holm([0.02]) == pytest.approx([0.02])


@pytest.mark.slow
def test_experiment_script_trains_reports_and_then_skips_finished_runs(tmp_path, data_dir):
  """scripts/experiment.py end to end on the tiny benchmark: the main job's path."""
  tiny = tiny_overrides(data_dir, steps=10)
  # The main job's command (scripts/main.sh: runs side by side); --analysis is covered
  # by test_analysis.
  command = lambda workdir, methods, parallel: [
      sys.executable, 'scripts/experiment.py', f'--workdir={workdir}', f'--methods={methods}',
      f'--parallel={parallel}', *[f'--set={o}' for o in tiny]]
  run = lambda args: subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900,
                                    env=program_env())
  first = run(command(tmp_path / 'main', 'source_only,adversarial', 2))
  assert first.returncode == 0, first.stderr[-3000:]
  # It ends with what its user came for: the table, then where the files are; the
  # libraries' notices (TFDS's 'Using custom data configuration') stay out.
  *_, table_end, written = first.stdout.strip().splitlines()
  assert table_end.startswith('| cnn2d | adversarial | 1 |')
  assert written == (f'written to {tmp_path / "main"}/: results.md/.csv/.json, results.png, '
                     'curves.png, examples_<model>.png')
  assert 'custom data configuration' not in first.stderr
  rows = (tmp_path / 'main' / 'results.md').read_text().strip().splitlines()[2:]
  assert [r.split(' | ')[1] for r in rows] == ['source_only', 'adversarial']
  assert (tmp_path / 'main' / 'curves.png').exists()
  # The test frames beside each method's masks: 4 rows of frame, truth and 2 methods.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  assert Image.open(tmp_path / 'main' / 'examples_cnn2d.png').size[0] > 400
  again = run(command(tmp_path / 'main', 'source_only,adversarial', 2) + ['--noplots'])
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count('(finished)') == 2
  # A run trained beside another logs exactly what it logs alone.
  alone = run(command(tmp_path / 'alone', 'adversarial', 1) + ['--noplots'])
  assert alone.returncode == 0, alone.stderr[-3000:]
  clock = ('seconds_to_first_step', 'steps_per_sec', 'data_wait_share')
  logged = lambda workdir: [{k: v for k, v in r.items() if k not in clock}
                            for r in read_metrics(grid.run_dir(str(workdir), 'cnn2d',
                                                               'adversarial', 0))]
  assert logged(tmp_path / 'alone') == logged(tmp_path / 'main')


def test_a_run_of_another_config_is_never_reused(tmp_path):
  """Changing a selected field or an override must not pick up the old run's scores."""
  config_path = str(ROOT / 'configs' / 'embedded.py')
  grid.run_grid(config_path, str(tmp_path), ['cnn2d'], ['adversarial'], [0],
                overrides=['train.steps=3'], train_fn=fake_train)
  run = grid.run_dir(str(tmp_path), 'cnn2d', 'adversarial', 0)
  from vda_jax.train import checkpoint  # pylint: disable=g-import-not-at-top
  module = grid.load_config_module(config_path)
  checkpoint.save_config(grid.config_for(module, 'cnn2d', 'adversarial', 0,
                                         overrides=['train.steps=3']), run)
  with open(os.path.join(run, 'metrics.jsonl'), 'w') as f:
    f.write(json.dumps({'step': 3, 'image/mIoU': 0.6, 'video/mIoU': 0.3,
                        'video/J&F-foreground': 0.4}) + '\n')
  again = grid.run_grid(config_path, str(tmp_path), ['cnn2d'], ['adversarial'], [0],
                        overrides=['train.steps=3', 'train.compile_cache_dir=/elsewhere'],
                        train_fn=fake_train)
  assert again[('cnn2d', 'adversarial', 0)]['video/mIoU'] == 0.3  # logged, not retrained (0.36)
  with pytest.raises(ValueError, match=r'adversarial.weight: saved 0.1, now 0.3'):
    grid.run_grid(config_path, str(tmp_path), ['cnn2d'], ['adversarial'], [0],
                  overrides=['train.steps=3', 'adversarial.weight=0.3'], train_fn=fake_train)


def test_a_preempted_run_stops_the_grid(tmp_path):
  trained = []

  def preempted_first(config, workdir):
    trained.append(config.seed)
    return {'preempted_at_step': 2} if config.seed == 0 else fake_train(config, workdir)

  with pytest.raises(preemption.Interrupted, match='SIGTERM: the run in .*seed0 stopped'):
    grid.run_grid(str(ROOT / 'configs' / 'embedded.py'), str(tmp_path), ['cnn2d'],
                  ['source_only'], [0, 1], overrides=['train.steps=3'], train_fn=preempted_first)
  assert trained == [0]  # seed 1 never started


def test_final_eval_is_the_last_eval_logged_at_the_step(tmp_path):
  rows = [{'step': 500, 'video/mIoU': 0.1}, {'step': 1000, 'sup': 0.3},
          {'step': 1000, 'video/mIoU': 0.2, 'image/mIoU': 0.5},
          {'step': 1000, 'video/mIoU': 0.25, 'image/mIoU': 0.6}]  # logged again after a resume
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  assert final_eval(str(tmp_path), 1000) == {'video/mIoU': 0.25, 'image/mIoU': 0.6}
  assert final_eval(str(tmp_path), 500) == {'video/mIoU': 0.1}
  assert final_eval(str(tmp_path), 2000) is None
