"""A grid of runs (methods x seeds) from one config file, and the gap table.

The gap is source-only image-test mIoU minus its video-test mIoU; a method's
"recovered" share is how much of that gap its video-test mIoU closes.
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


def run_grid(config_path, workdir, methods, seeds, overrides=(), train_fn=None):
  """Trains (or resumes, or just re-scores) every run; returns {(method, seed): results}."""
  if train_fn is None:
    from vda_jax.train.loop import train_and_evaluate as train_fn  # pylint: disable=g-import-not-at-top
  module = load_config_module(config_path)
  results = {}
  for method in methods:
    for seed in seeds:
      config = apply_overrides(module.get_config(f'method={method},seed={seed}'), overrides)
      run_dir = os.path.join(workdir, f'{method}_seed{seed}')
      print(f'== {method} seed {seed} -> {run_dir}', flush=True)
      results[(method, seed)] = train_fn(config, run_dir)
  return results


COLUMNS = ('image/mIoU', 'video/mIoU', 'video/J&F')


def summarise(results):
  """Rows of mean/std over seeds per method, with the gap and the recovered share."""
  methods = list(dict.fromkeys(m for m, _ in results))
  per_method = {m: {c: [r[c] for (mm, _), r in results.items() if mm == m] for c in COLUMNS}
                for m in methods}
  src = per_method.get('source_only')
  gap = (np.mean(src['image/mIoU']) - np.mean(src['video/mIoU'])) if src else None
  rows = []
  for m in methods:
    row = {'method': m, 'seeds': len(per_method[m]['video/mIoU'])}
    for c in COLUMNS:
      row[c] = float(np.mean(per_method[m][c]))
      row[c + ' std'] = float(np.std(per_method[m][c]))
    row['gap'] = row['image/mIoU'] - row['video/mIoU']
    row['recovered'] = ((row['video/mIoU'] - np.mean(src['video/mIoU'])) / gap
                        if gap else float('nan'))
    rows.append(row)
  return rows


def markdown_table(rows):
  def cell(row, c):
    return (f"{row[c]:.3f} ± {row[c + ' std']:.3f}" if row['seeds'] > 1 else f'{row[c]:.3f}')
  lines = ['| method | seeds | image mIoU | video mIoU | gap (img-vid) | video J&F | gap recovered |',
           '|---|---|---|---|---|---|---|']
  for r in rows:
    recovered = '—' if np.isnan(r['recovered']) else f"{100 * r['recovered']:.1f}%"
    lines.append(f"| {r['method']} | {r['seeds']} | {cell(r, 'image/mIoU')} | "
                 f"{cell(r, 'video/mIoU')} | {r['gap']:.3f} | {cell(r, 'video/J&F')} | "
                 f"{recovered} |")
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
    json.dump({f'{m}_seed{s}': r for (m, s), r in results.items()}, f, indent=1, sort_keys=True)
