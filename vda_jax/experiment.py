"""A grid of runs (models x methods x seeds) from one config file, and the gap table.

Per model: the image->video gap is source-only image-test mIoU minus its
video-test mIoU; a method's "recovered" share is how much of that gap its
video-test mIoU closes; "to upper bound" is the supervised upper bound's
video-test mIoU minus the method's.
"""
import csv
import importlib.util
import json
import os

import numpy as np

from vda_jax.config_arg import apply_overrides


def load_config_module(path):
  spec = importlib.util.spec_from_file_location('vda_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def run_dir(workdir, model, method, seed):
  return os.path.join(workdir, model, f'{method}_seed{seed}')


def grid_configs(config_path, models, methods, seeds, overrides=()):
  """{(model, method, seed): config} for the grid."""
  module = load_config_module(config_path)
  return {(model, method, seed): apply_overrides(
      module.get_config(f'model={model},method={method},seed={seed}'), overrides)
          for model in models for method in methods for seed in seeds}


def run_grid(config_path, workdir, models, methods, seeds, overrides=(), train_fn=None):
  """Trains (or resumes, or just re-scores) every run; returns {(model, method, seed): results}."""
  if train_fn is None:
    from vda_jax.train.loop import train_and_evaluate as train_fn  # pylint: disable=g-import-not-at-top
  results = {}
  for key, config in grid_configs(config_path, models, methods, seeds, overrides).items():
    path = run_dir(workdir, *key)
    print(f'== {" ".join(map(str, key))} -> {path}', flush=True)
    results[key] = train_fn(config, path)
  return results


COLUMNS = ('image/mIoU', 'video/mIoU', 'video/J&F')


def summarise(results):
  """Rows of mean/std over seeds per (model, method), with the gaps and recovered share."""
  groups = {}
  for (model, method, _), r in results.items():
    groups.setdefault((model, method), []).append(r)
  mean = lambda model, method, c: (np.mean([r[c] for r in groups[(model, method)]])
                                   if (model, method) in groups else None)
  rows = []
  for (model, method), runs in groups.items():
    row = {'model': model, 'method': method, 'seeds': len(runs)}
    for c in COLUMNS:
      row[c] = float(np.mean([r[c] for r in runs]))
      row[c + ' std'] = float(np.std([r[c] for r in runs]))
    row['gap'] = row['image/mIoU'] - row['video/mIoU']
    src_img, src_vid = mean(model, 'source_only', 'image/mIoU'), mean(model, 'source_only', 'video/mIoU')
    row['recovered'] = (float((row['video/mIoU'] - src_vid) / (src_img - src_vid))
                        if src_img is not None and src_img != src_vid else float('nan'))
    upper = mean(model, 'upper_bound', 'video/mIoU')
    row['to_upper_bound'] = float(upper - row['video/mIoU']) if upper is not None else float('nan')
    rows.append(row)
  return rows


def markdown_table(rows):
  def cell(row, c):
    return (f"{row[c]:.3f} ± {row[c + ' std']:.3f}" if row['seeds'] > 1 else f'{row[c]:.3f}')
  opt = lambda v, f: '—' if np.isnan(v) else f.format(v)
  lines = ['| model | method | seeds | image mIoU | video mIoU | gap (img-vid) | video J&F '
           '| below upper bound | gap recovered |',
           '|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['model']} | {r['method']} | {r['seeds']} | {cell(r, 'image/mIoU')} | "
                 f"{cell(r, 'video/mIoU')} | {r['gap']:.3f} | {cell(r, 'video/J&F')} | "
                 f"{opt(r['to_upper_bound'], '{:.3f}')} | {opt(100 * r['recovered'], '{:.1f}%')} |")
  return '\n'.join(lines)


def write_reports(rows, results, workdir):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(markdown_table(rows) + '\n')
  with open(os.path.join(workdir, 'results.csv'), 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
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


def analyse(grid, workdir):
  """Gap analysis (source-only, artifacts one at a time) and the domain probe at
  every tap (each method, first seed) of trained runs. Returns Markdown."""
  from vda_jax import analysis  # pylint: disable=g-import-not-at-top
  from vda_jax.data import datasets  # pylint: disable=g-import-not-at-top
  from vda_jax.train import loop  # pylint: disable=g-import-not-at-top
  gap_lines = ['| model | ' + ' | '.join(analysis.SETTINGS) + ' |',
               '|---|' + '---|' * len(analysis.SETTINGS)]
  probes = {}
  for model, method, config, path in _first_seed_runs(grid, workdir):
    exp = loop.build_experiment(config)
    params = loop.restore_state(config, path).params['model']
    if method == 'source_only':
      gap = analysis.artifact_gap(exp, params, config)
      gap_lines.append(f'| {model} | ' + ' | '.join(f'{gap[s]:.3f}' for s in analysis.SETTINGS) + ' |')
    probes[(model, method)] = analysis.domain_probe(exp, params, datasets.load_sources(config.data),
                                                    config)
  methods = list(dict.fromkeys(m for _, m in probes))
  probe_lines = ['| model | tap | ' + ' | '.join(methods) + ' |', '|---|---|' + '---|' * len(methods)]
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
