"""What a finished grid says: the results table with the gap shares, paired tests with
Holm-adjusted p-values, example test frames, the gap analysis and the domain probe.

Per model, every gap is measured against the source-only run: the image->video
gap is source-only image-test mIoU minus video-test mIoU; a method's shares
are how much of that gap, and of the closable gap (up to the supervised upper
bound's video mIoU), its video-test mIoU closes (see `summarise`).
"""
import csv
import json
import os

import numpy as np
from scipy import stats

from vda_jax import analysis
from vda_jax.data import datasets
from vda_jax.eval import inference
from vda_jax.eval.metrics import mean_ci
from vda_jax.grid import run_dir
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment

COLUMNS = ('image/mIoU', 'image/mIoU-fg', 'video/mIoU', 'video/mIoU-fg', 'video/J&F-foreground')


def summarise(results):
  """Rows per (model, method): each column's mean over seeds with its 95% CI (a
  t-interval over seeds; with one seed the run's bootstrap CI over test clips,
  'X-ci_lo'/'X-ci_hi', when the results hold it) and the gaps.

  All gaps are measured against the source-only run's scores (seed means):
    gap               source-only image mIoU - this method's video mIoU
    recovered         (video - source-only video) / (source-only image - source-only video):
                      share of the whole image->video gap closed
    closable          (video - source-only video) / (upper-bound video - source-only video):
                      share of what training on video labels closes
    image_cost        source-only image mIoU - this method's image mIoU
    to_upper_bound    upper-bound video mIoU - this method's video mIoU
  """
  groups = {}
  for (model, method, _), r in results.items():
    groups.setdefault((model, method), []).append(r)
  mean = lambda model, method, c: (float(np.mean([r[c] for r in groups[(model, method)]]))
                                   if (model, method) in groups else float('nan'))
  ratio = lambda a, b: a / b if b and not np.isnan(b) else float('nan')
  rows = []
  for (model, method), runs in groups.items():
    row = {'model': model, 'method': method, 'seeds': len(runs)}
    for c in COLUMNS:
      if not all(c in r for r in runs):
        continue
      row[c], half, row[c + ' std'] = mean_ci([r[c] for r in runs])
      if len(runs) == 1 and c + '-ci_lo' in runs[0]:
        row[c + ' ci_lo'], row[c + ' ci_hi'] = runs[0][c + '-ci_lo'], runs[0][c + '-ci_hi']
      else:
        row[c + ' ci_lo'], row[c + ' ci_hi'] = row[c] - half, row[c] + half
    src_img = mean(model, 'source_only', 'image/mIoU')
    src_vid = mean(model, 'source_only', 'video/mIoU')
    upper = mean(model, 'upper_bound', 'video/mIoU')
    gain = row['video/mIoU'] - src_vid
    row['gap'] = src_img - row['video/mIoU']
    row['recovered'] = ratio(gain, src_img - src_vid)
    row['closable'] = ratio(gain, upper - src_vid)
    row['image_cost'] = src_img - row['image/mIoU']
    row['to_upper_bound'] = upper - row['video/mIoU']
    rows.append(row)
  return rows


def markdown_table(rows):
  """The results table; a score cell is 'mean (95% CI)' (see `summarise`)."""
  def cell(row, c):
    if c not in row:
      return '—'
    lo, hi = row[c + ' ci_lo'], row[c + ' ci_hi']
    return f'{row[c]:.3f}' + ('' if np.isnan(lo) else f' ({lo:.3f}–{hi:.3f})')
  opt = lambda v, f: '—' if np.isnan(v) else f.format(v)
  lines = ['| model | method | seeds | image mIoU | video mIoU | video mIoU-fg '
           '| video J&F (foreground) '
           '| image cost | gap to src image | share of gap | share of closable gap |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['model']} | {r['method']} | {r['seeds']} | {cell(r, 'image/mIoU')} | "
                 f"{cell(r, 'video/mIoU')} | {cell(r, 'video/mIoU-fg')} | "
                 f"{cell(r, 'video/J&F-foreground')} | "
                 f"{opt(r['image_cost'], '{:+.3f}')} | {opt(r['gap'], '{:.3f}')} | "
                 f"{opt(100 * r['recovered'], '{:.1f}%')} | "
                 f"{opt(100 * r['closable'], '{:.1f}%')} |")
  return '\n'.join(lines)


# The comparisons the method's claims rest on: (method, baseline).
CLAIMS = (('adversarial', 'source_only'), ('clustered', 'adversarial'), ('paper', 'adversarial'))


def paired_tests(results, pairs=CLAIMS, column='video/mIoU'):
  """Per model and (method, baseline) pair run on the same seeds: the mean per-seed
  difference of `column`, its 95% t-interval and the two-sided paired t-test's p."""
  rows = []
  for model in dict.fromkeys(m for m, _, _ in results):
    for method, baseline in pairs:
      seeds = sorted(s for m, x, s in results if m == model and x == method
                     and column in results[(m, x, s)]
                     and column in results.get((model, baseline, s), {}))
      if len(seeds) < 2:
        continue
      a = np.array([results[(model, method, s)][column] for s in seeds])
      b = np.array([results[(model, baseline, s)][column] for s in seeds])
      diff, half, _ = mean_ci(a - b)
      p = float(stats.ttest_rel(a, b).pvalue) if np.any(a != b) else 1.0
      rows.append({'model': model, 'method': method, 'baseline': baseline, 'column': column,
                   'seeds': len(seeds), 'diff': diff, 'ci_lo': diff - half, 'ci_hi': diff + half,
                   'p': p})
  return rows


def holm(pvalues):
  """Holm's step-down adjustment of a family of p-values (same order): the i-th
  smallest p times (m - i + 1), made monotone and capped at 1. It controls the
  family-wise error rate under any dependence between the tests."""
  p = np.asarray(pvalues, np.float64)
  order = np.argsort(p)
  adjusted = np.maximum.accumulate(np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order]))
  out = np.empty_like(p)
  out[order] = adjusted
  return out.tolist()


def verdict_tests(results):
  """The claims' paired tests, then every other method against source-only on video
  mIoU, then every method against source-only on video J&F (foreground), then every
  method's image cost (image mIoU against source-only). Each row's 'p_holm' is its
  p adjusted by Holm over the rows of its column: one family per score."""
  versus_source = [(m, 'source_only') for m in dict.fromkeys(x for _, x, _ in results)
                   if m != 'source_only']
  rows = (paired_tests(results) + paired_tests(results, [p for p in versus_source
                                                         if p not in CLAIMS])
          + paired_tests(results, versus_source, column='video/J&F-foreground')
          + paired_tests(results, versus_source, column='image/mIoU'))
  for column in dict.fromkeys(r['column'] for r in rows):
    family = [r for r in rows if r['column'] == column]
    for r, p in zip(family, holm([r['p'] for r in family])):
      r['p_holm'] = p
  return rows


def paired_table(rows):
  lines = ['| model | method − baseline | column | seeds | mean difference (95% CI) | '
           'p (paired t) | p (Holm, per column) |', '|---|---|---|---|---|---|---|']
  holm_cell = lambda r: f"{r['p_holm']:.3g}" if 'p_holm' in r else '—'
  lines += [f"| {r['model']} | {r['method']} − {r['baseline']} | {r['column']} | {r['seeds']} | "
            f"{r['diff']:+.3f} ({r['ci_lo']:+.3f}, {r['ci_hi']:+.3f}) | {r['p']:.3g} | "
            f"{holm_cell(r)} |" for r in rows]
  return '\n'.join(lines)


def write_reports(rows, results, workdir):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(markdown_table(rows) + '\n')
  with open(os.path.join(workdir, 'results.csv'), 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    w.writeheader()
    w.writerows(rows)
  with open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump({'/'.join(map(str, k)): r for k, r in results.items()}, f, indent=1, sort_keys=True)


def _first_seed_runs(grid, workdir):
  """(model, method, config, run dir) of the first seed of every (model, method)."""
  seen = set()
  for (model, method, seed), config in grid.items():
    if (model, method) not in seen:
      seen.add((model, method))
      yield model, method, config, run_dir(workdir, model, method, seed)


def example_frames(grid, workdir, count=4):
  """Per model, `count` test frames (the middle frame of test videos spread evenly over
  the split), their ground truth and each method's prediction (its first seed):
  {model: {'frames': [...], 'truth': [...], 'predictions': {method: [...]}}}, at each
  frame's own size. Read after every run has finished: test is scored once, and this
  is part of that score's report."""
  out = {}
  for model, method, config, path in _first_seed_runs(grid, workdir):
    exp = Experiment.from_config(config)
    if model not in out:
      test = datasets.load_sources(config.data)['videos/test']
      picks = np.unique(np.linspace(0, len(test) - 1, count).round().astype(int))
      clips = []
      for i in picks:
        r = test[int(i)]
        frames, masks = np.asarray(r['frames']), np.asarray(r['masks'])[..., 0]
        start = max(0, min(len(frames) // 2, len(frames) - config.input.clip_len))
        clips.append((frames[start:start + config.input.clip_len], masks[start]))
      out[model] = {'frames': [f[0] for f, _ in clips], 'truth': [m for _, m in clips],
                    'predictions': {}, 'clips': [f for f, _ in clips]}
    params = exp.restore(path).params['model']
    first = {}
    for key, t, pred in inference.segment_videos(
        exp.predict, params, enumerate(out[model]['clips']), size=config.data.image_size,
        clip_len=config.input.clip_len, batch_size=config.eval.clip_batch,
        sharding=shd.batch_sharding(exp.mesh)):
      first.setdefault(key, pred)  # each clip starts at the shown frame
    out[model]['predictions'][method] = [first[i] for i in range(len(out[model]['clips']))]
  for entry in out.values():
    del entry['clips']
  return out


def analyse(grid, workdir):
  """Gap analysis (source-only, artifacts one at a time) and the domain probe at
  every tap (each method, first seed) of trained runs. Returns Markdown."""
  gap_lines = ['| model | ' + ' | '.join(analysis.SETTINGS) + ' |',
               '|---|' + '---|' * len(analysis.SETTINGS)]
  probes = {}
  for model, method, config, path in _first_seed_runs(grid, workdir):
    exp = Experiment.from_config(config)
    params = exp.restore(path).params['model']
    if method == 'source_only':
      gap = analysis.artifact_gap(exp, params)
      cells = ' | '.join(f'{gap[s]:.3f}' for s in analysis.SETTINGS)
      gap_lines.append(f'| {model} | {cells} |')
    probes[(model, method)] = analysis.domain_probe(exp, params,
                                                    datasets.load_sources(config.data))
  methods = list(dict.fromkeys(m for _, m in probes))
  probe_lines = ['| model | tap | ' + ' | '.join(methods) + ' |',
                 '|---|---|' + '---|' * len(methods)]
  for model in dict.fromkeys(m for m, _ in probes):
    taps = next(p for (m, _), p in probes.items() if m == model)
    for tap in taps:
      cells = [f'{probes[(model, m)][tap][0]:.3f} ({probes[(model, m)][tap][1]:.2f})'
               if (model, m) in probes else '—' for m in methods]
      probe_lines.append(f'| {model} | {tap} | ' + ' | '.join(cells) + ' |')
  return ('Video-test mIoU of the source-only model, test scenes re-rendered with '
          'each artifact alone:\n\n' + '\n'.join(gap_lines) +
          '\n\nLinear image-vs-video probe on features at each tap: held-out accuracy '
          '(proxy A-distance); 0.5 (0.00) = indistinguishable:\n\n' + '\n'.join(probe_lines) + '\n')
