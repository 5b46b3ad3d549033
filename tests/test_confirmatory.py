"""The confirmatory plan: its power analysis, its checks, its tests and Holm, and the
one-host-type rule, against independent values."""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, program_env, tiny_overrides
from vda_jax import confirmatory, plots
from vda_jax.train import environment

PLAN = str(ROOT / 'configs' / 'confirmatory.py')


def test_power_matches_g_power_for_the_paired_t_test():
  # G*Power 3.1, "means: difference between two dependent means", two-tailed, alpha
  # 0.05, effect size dz 0.5: total sample size 34 for power 0.80 (actual 0.8078).
  assert confirmatory.paired_t_power(0.5, 1.0, 34) == pytest.approx(0.8078, abs=5e-4)
  assert confirmatory.seeds_for_power(0.5, 1.0) == 34
  assert confirmatory.seeds_for_power(0.05, 1.0, most=50) == 51   # none reach it
  # Far in the tails scipy's noncentral t is not finite; the power still is.
  assert confirmatory.paired_t_power(0.19, 0.038, 4) == pytest.approx(1.0, abs=1e-3)


def test_the_plan_keeps_selection_off_the_verdict_seeds_and_tunes_both_methods_alike():
  plan = confirmatory.load_plan(PLAN)
  assert plan.SELECTION_SEED not in plan.VERDICT_SEEDS
  assert plan.search_space('adversarial', 'segformer') == plan.search_space('clustered',
                                                                            'segformer')
  assert len(plan.search_space('clustered', 'segformer')) == 4
  assert plan.search_space('source_only', 'segformer') == [{}]
  assert confirmatory.arms(plan.HYPOTHESES) == {
      ('segformer', 'photometric'): ['source_only', 'adversarial', 'clustered']}
  # Every run scores test once, after its last step.
  config = plan.get_config('model=segformer,method=clustered,preset=photometric')
  assert (config.eval.split, config.eval.final_split) == ('val', 'test')


def test_the_real_plan_is_powered_as_registered_and_tunes_both_methods_alike():
  """configs/confirmatory_real.py against docs/preregistration_real.md: the pilot's five
  val differences (upper bound - source-only, seeds 0-4) give the sd whose 80% upper
  confidence limit sets the number of seeds for a +0.02 J&F effect."""
  plan = confirmatory.load_plan(str(ROOT / 'configs' / 'confirmatory_real.py'))
  pilot = np.subtract([0.6528, 0.6599, 0.6615, 0.6138, 0.6250],
                      [0.5958, 0.6405, 0.6174, 0.5965, 0.6042])
  upper = pilot.std(ddof=1) * np.sqrt(4 / stats.chi2.ppf(0.2, 4))
  assert upper == pytest.approx(0.0278, abs=5e-5)
  assert len(plan.VERDICT_SEEDS) == confirmatory.seeds_for_power(0.02, upper) == 18
  assert not set(plan.VERDICT_SEEDS) & {0, 1, 2, 3, 4, plan.SELECTION_SEED}
  assert confirmatory.arms(plan.HYPOTHESES) == {
      ('efficientnet_lite', ''): ['source_only', 'adversarial', 'clustered']}
  assert plan.search_space('adversarial', 'efficientnet_lite') == plan.search_space(
      'clustered', 'efficientnet_lite')
  assert plan.search_space('source_only', 'efficientnet_lite') == [{}]
  assert confirmatory.oracle_key(plan) == 'val/J&F-foreground'
  # Both domain terms at the stem, the pilot's better tap, on the ImageNet encoder.
  for method in ('adversarial', 'clustered'):
    config = plan.get_config(f'model=efficientnet_lite,method={method},seed=10,root=/r')
    taps = (config.adversarial.taps, config.adversarial.clustered.taps)
    assert taps == {'adversarial': ('stem', ''), 'clustered': ('', 'stem')}[method]
    assert config.model.pretrained == 'efficientnet_lite0'
    assert (config.eval.split, config.eval.final_split) == ('val', 'test')
  assert confirmatory.workdirs('w', 'efficientnet_lite', '') == (
      'w/select_efficientnet_lite', 'w/verdict_efficientnet_lite')


def test_a_plan_registered_for_another_host_type_starts_no_run(tmp_path):
  text = (ROOT / 'configs' / 'confirmatory_real.py').read_text()
  text = text.replace("os.path.dirname(__file__), 'real_davis.py'",
                      f"'{ROOT / 'configs'}', 'real_davis.py'")
  (tmp_path / 'plan.py').write_text(text.replace(
      "HOST_TYPE = 'AMD EPYC (avx512f), cpu, jax 0.10.2'", "HOST_TYPE = 'elsewhere'"))
  result = subprocess.run(
      [sys.executable, '-m', 'vda_jax.commands.confirm', f'--plan={tmp_path / "plan.py"}',
       f'--workdir={tmp_path / "plan"}'], cwd=ROOT, capture_output=True, text=True,
      timeout=300, env=program_env())
  assert result.returncode == 2
  (line,) = result.stderr.strip().splitlines()
  here = environment.host_type(environment.describe())
  assert f"HOST_TYPE is 'elsewhere' but this host is {here!r}" in line
  assert not (tmp_path / 'plan').exists()


def test_a_plan_whose_selection_seed_is_a_verdict_seed_is_refused(tmp_path):
  text = (ROOT / 'configs' / 'confirmatory.py').read_text().replace(
      'SELECTION_SEED = 100', 'SELECTION_SEED = 3')
  (tmp_path / 'plan.py').write_text(text.replace("os.path.dirname(__file__), 'embedded.py'",
                                                 f"'{ROOT / 'configs'}', 'embedded.py'"))
  with pytest.raises(ValueError, match='SELECTION_SEED 3 is also a verdict seed'):
    confirmatory.load_plan(str(tmp_path / 'plan.py'))


class _Plan:
  HYPOTHESES = ({'id': 'H1', 'model': 'm', 'preset': 'p', 'method': 'a', 'baseline': 's'},
                {'id': 'H2', 'model': 'm', 'preset': 'p', 'method': 'c', 'baseline': 'a'})
  METRIC = 'video/mIoU'
  VERDICT_SEEDS = (0, 1, 2, 3)


def test_hypothesis_tests_by_hand_with_holm_over_the_family():
  s = [0.30, 0.32, 0.28, 0.31]
  a = [0.40, 0.45, 0.37, 0.42]
  c = [0.41, 0.44, 0.40, 0.42]
  results = {('m', 'p', m, i): {'video/mIoU': v[i]} for m, v in (('s', s), ('a', a), ('c', c))
             for i in range(4)}
  h1, h2 = confirmatory.hypothesis_tests(_Plan, results)
  d1 = np.subtract(a, s)
  assert h1['diff'] == pytest.approx(d1.mean())
  t = d1.mean() / (d1.std(ddof=1) / 2)
  assert h1['p'] == pytest.approx(2 * stats.t.sf(abs(t), 3))
  assert h1['ci_lo'] == pytest.approx(d1.mean() - stats.t.ppf(0.975, 3) * d1.std(ddof=1) / 2)
  # Holm over two: the smaller p doubled, the larger kept (never below the first).
  small, large = sorted([h1, h2], key=lambda r: r['p'])
  assert small['p_holm'] == pytest.approx(min(1, 2 * small['p']))
  assert large['p_holm'] == pytest.approx(max(large['p'], small['p_holm']))
  del results[('m', 'p', 'c', 2)]
  with pytest.raises(ValueError, match=r'H2: seeds \[2\] have not run'):
    confirmatory.hypothesis_tests(_Plan, results)


def test_runs_on_two_host_types_are_refused(tmp_path, monkeypatch):
  runs = {k: tmp_path / k for k in ('a', 'b')}
  for path in runs.values():
    path.mkdir()
    environment.record(path)
  (host,) = environment.run_host_types(runs['a'])
  assert confirmatory.host_type(runs) == host
  starts = json.loads((runs['a'] / 'environment.json').read_text())['starts']
  assert host.endswith(f"jax {starts[0]['packages']['jax']}")
  # A resumed run lists every start; one on another host type makes the family mixed.
  monkeypatch.setattr(environment, '_cpu_isa', lambda: 'avx512f-elsewhere')
  environment.record(runs['b'])
  assert len(json.loads((runs['b'] / 'environment.json').read_text())['starts']) == 2
  with pytest.raises(ValueError, match='span 2 host types'):
    confirmatory.host_type(runs)
  (tmp_path / 'c').mkdir()
  with pytest.raises(ValueError, match='unrecorded: 1 run'):
    confirmatory.host_type({'a': runs['a'], 'c': tmp_path / 'c'})


def test_write_reports_each_arms_test_scores_beside_the_tests(tmp_path):
  video = {'s': [0.30, 0.34], 'a': [0.40, 0.46]}
  results = {('m', 'p', m, i): {'image/mIoU': 0.8, 'image/mIoU-fg': 0.7, 'video/mIoU': v[i],
                                'video/mIoU-fg': v[i] - 0.1, 'video/J&F-foreground': 0.5}
             for m, v in video.items() for i in range(2)}
  plan = type('Plan', (_Plan,), {'HYPOTHESES': _Plan.HYPOTHESES[:1], 'VERDICT_SEEDS': (0, 1)})
  rows = confirmatory.hypothesis_tests(plan, results)
  text = confirmatory.write(rows, {('m', 'p'): {'a': {'adversarial.weight': 0.1}}}, 'oracle',
                            'host X', str(tmp_path), results)
  assert (tmp_path / 'confirmatory.md').read_text() == text + '\n'
  # diffs 0.10, 0.12: half-width t(0.975, 1) * 0.0141 / sqrt(2) = 0.127.
  assert '| H1 | m | p | a − s | video/mIoU | +0.110 (-0.017, +0.237) |' in text
  # Each arm's mean over its two seeds, with the t-interval 0.32 +- t(0.975, 1) * sd / sqrt(2).
  half = stats.t.ppf(0.975, 1) * np.std([0.30, 0.34], ddof=1) / np.sqrt(2)
  interval = f'{0.32 - half:.3f}–{0.32 + half:.3f}'
  assert f'| m | s | 2 | 0.800 (0.800–0.800) | 0.320 ({interval}) |' in text
  assert '| m | a | 2 | 0.800 (0.800–0.800) | 0.430 (' in text
  assert ('Per seed, video/mIoU on test (m, p):\n\n| seed | s | a | a − s |\n|---|---|---|---|\n'
          '| 0 | 0.300 | 0.400 | +0.100 |\n| 1 | 0.340 | 0.460 | +0.120 |') in text
  saved = json.loads((tmp_path / 'confirmatory.json').read_text())
  assert saved['picks'] == {'m/p': {'a': {'adversarial.weight': 0.1}}}
  assert [(r['method'], r['seed'], r['video/mIoU']) for r in saved['runs']] == [
      ('a', 0, 0.40), ('a', 1, 0.46), ('s', 0, 0.30), ('s', 1, 0.34)]


def test_per_seed_differences_table_and_figure_of_the_synthetic_family_as_published(tmp_path):
  saved = confirmatory.load_saved(ROOT / 'docs' / 'confirmatory_synthetic.json')
  assert confirmatory.family_title(saved) == 'segformer, photometric: video/mIoU, 17 seeds'
  diffs = confirmatory.per_seed_differences(saved)
  assert list(diffs) == ['H1: adversarial − source_only', 'H2: clustered − adversarial']
  h1, h2 = diffs.values()
  assert sorted(h1) == sorted(h2) == list(range(17))
  # docs/results.md: seed 6 scored 0.299, 0.349, 0.603; the means are the table's effects.
  assert (h1[6], h2[6]) == pytest.approx((0.050, 0.254), abs=1e-9)
  assert np.mean(list(h1.values())) == pytest.approx(0.205, abs=1e-3)
  assert np.mean(list(h2.values())) == pytest.approx(0.082, abs=1e-3)
  rows = confirmatory.per_seed_table(saved).splitlines()
  assert rows[2] == ('| seed | source_only | adversarial | clustered | adversarial − source_only '
                     '| clustered − adversarial |')
  assert len(rows) == 4 + 17 and rows[4 + 6] == '| 6 | 0.299 | 0.349 | 0.603 | +0.050 | +0.254 |'
  titles = plots.differences_figure({'synthetic': diffs, 'one seed': {'H1: a − s': {0: 0.1}}},
                                    tmp_path / 'strips.png')
  assert titles == ['synthetic', 'one seed']
  assert (tmp_path / 'strips.png').read_bytes()[:4] == b'\x89PNG'


def test_the_real_family_as_published_recomputes_from_its_per_seed_scores():
  """docs/confirmatory_real.json, the real plan's confirmatory.json: its 54 verdict runs'
  scores give the paired tests and Holm it holds (docs/results.md's table)."""
  saved = confirmatory.load_saved(ROOT / 'docs' / 'confirmatory_real.json')
  plan = confirmatory.load_plan(str(ROOT / 'configs' / 'confirmatory_real.py'))
  results = {(r['model'], r['preset'], r['method'], r['seed']): r for r in saved['runs']}
  assert len(results) == 54 and sorted({seed for *_, seed in results}) == list(plan.VERDICT_SEEDS)
  score = {(r['method'], r['seed']): r[plan.METRIC] for r in saved['runs']}
  for row, published in zip(confirmatory.hypothesis_tests(plan, results), saved['hypotheses']):
    a, b = ([score[(m, s)] for s in plan.VERDICT_SEEDS] for m in (row['method'], row['baseline']))
    assert row['p'] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert row['diff'] == pytest.approx(np.mean(np.subtract(a, b)), rel=1e-12)
    for key in ('diff', 'ci_lo', 'ci_hi', 'p', 'p_holm', 'seeds'):
      assert row[key] == pytest.approx(published[key], rel=1e-12), key
  # Holm over two: the smaller p doubled, the larger kept, both capped at 1.
  assert [h['p_holm'] for h in saved['hypotheses']] == [1.0, 1.0]


def test_a_file_that_is_not_a_confirmatory_json_is_named(tmp_path):
  (tmp_path / 'bad.json').write_text('{"hypotheses": [')
  (tmp_path / 'other.json').write_text('{"hypotheses": []}')
  for name, message in (('absent.json', 'no such file'), ('bad.json', 'not JSON'),
                        ('other.json', 'no runs')):
    with pytest.raises(ValueError, match=f'{name}: {message}.*expected a confirmatory.json'):
      confirmatory.load_saved(tmp_path / name)


def test_a_family_without_a_preset_is_tested_written_and_drawn(tmp_path):
  """The real plan's hypotheses name no preset: results are keyed by preset ''."""
  plan = type('Plan', (_Plan,), {'HYPOTHESES': ({'id': 'H1', 'model': 'm', 'method': 'a',
                                                 'baseline': 's'},), 'VERDICT_SEEDS': (0, 1)})
  results = {('m', '', m, i): {'image/mIoU': 0.8, 'image/mIoU-fg': 0.7, 'video/mIoU': v[i],
                               'video/mIoU-fg': 0.5, 'video/J&F-foreground': 0.5}
             for m, v in (('s', [0.30, 0.34]), ('a', [0.40, 0.46])) for i in range(2)}
  rows = confirmatory.hypothesis_tests(plan, results)
  text = confirmatory.write(rows, {('m', ''): {'a': {}}}, 'oracle', 'host X', str(tmp_path),
                            results)
  assert '| H1 | m | — | a − s | video/mIoU | +0.110 (' in text
  assert 'Test splits, mean over seeds (95% CI):' in text
  saved = confirmatory.load_saved(tmp_path / 'confirmatory.json')
  assert saved['picks'] == {'m': {'a': {}}}
  assert confirmatory.family_title(saved) == 'm: video/mIoU, 2 seeds'
  assert confirmatory.per_seed_differences(saved) == {
      'H1: a − s': pytest.approx({0: 0.10, 1: 0.12})}


@pytest.mark.slow
def test_vda_confirm_runs_a_plan_then_skips_every_run(tmp_path, data_dir):
  """`vda-confirm` end to end on a two-seed plan of two-step runs; run again on the finished
  workdir it trains nothing and prints the same table. `vda-select` then re-scores the
  plan's selection."""
  plan = tmp_path / 'plan.py'
  plan.write_text(
      'from vda_jax.config_arg import apply_overrides, load_config_module\n'
      f'EMBEDDED = load_config_module({str(ROOT / "configs" / "embedded.py")!r})\n'
      "HYPOTHESES = ({'id': 'H1', 'model': 'cnn2d', 'preset': 'photometric', "
      "'method': 'adversarial', 'baseline': 'source_only'},)\n"
      "METRIC = 'video/mIoU'\nSELECTOR = 'oracle'\nSELECTION_SEED = 9\nVERDICT_SEEDS = (0, 1)\n"
      'def search_space(method, model):\n'
      "  return [{'adversarial.weight': w} for w in (0.1, 0.3)] if method == 'adversarial' "
      'else [{}]\n'
      'def get_config(arg=None):\n'
      f'  return apply_overrides(EMBEDDED.get_config(arg), {tiny_overrides(data_dir)!r})\n')
  command = [sys.executable, '-m', 'vda_jax.commands.confirm', f'--plan={plan}',
             f'--workdir={tmp_path / "plan"}']
  first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env=program_env())
  assert first.returncode == 0, first.stderr[-3000:]
  table = first.stdout[first.stdout.index('| hypothesis'):]
  assert '| H1 | cnn2d | photometric | adversarial − source_only | video/mIoU |' in table
  last = table.strip().splitlines()[-1]
  assert last == (f'written to {tmp_path / "plan"}/: confirmatory.md, confirmatory.json, '
                  'confirmatory_differences.png')
  figure = tmp_path / 'plan' / 'confirmatory_differences.png'
  assert figure.read_bytes()[:4] == b'\x89PNG'
  figure.unlink()
  # Again, with the synthetic family beside this one in the figure.
  again = subprocess.run(command + [f'--beside={ROOT / "docs" / "confirmatory_synthetic.json"}'],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env=program_env())
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count('(finished)') == 2 + 4   # two candidates, two arms x two seeds
  assert again.stdout[again.stdout.index('| hypothesis'):] == table
  assert figure.read_bytes()[:4] == b'\x89PNG'
  # vda-select on the plan's selection folder: every candidate is found finished, and the
  # program's scores and picks are the plan's.
  select_dir = tmp_path / 'plan' / 'select_cnn2d_photometric'
  planned = json.loads((select_dir / 'selection.json').read_text())
  select = subprocess.run(
      [sys.executable, '-m', 'vda_jax.commands.select', f'--config={plan}',
       f'--workdir={select_dir}', '--models=cnn2d', '--methods=adversarial',
       '--arg=preset=photometric', '--seed=9'],
      cwd=ROOT, capture_output=True, text=True, timeout=900, env=program_env())
  assert select.returncode == 0, select.stderr[-3000:]
  assert select.stdout.count('(finished)') == 2
  assert json.loads((select_dir / 'selection.json').read_text()) == planned
  assert select.stdout.strip().splitlines()[-1] == (
      f'written to {select_dir}/: selection.json, selection.md')
