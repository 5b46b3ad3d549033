"""PNG figures of an experiment: the results table and the training curves."""
import matplotlib

matplotlib.use('Agg')  # files only; no display on clusters
from matplotlib import ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vda_jax.adversarial import terms  # noqa: E402
from vda_jax.data.media import overlay  # noqa: E402
from vda_jax.eval.metrics import mean_ci  # noqa: E402
from vda_jax.train.metrics_writer import read_metrics  # noqa: E402


def results_figure(rows, path, data='embedded benchmark'):
  """Grouped bars per (model, method): image mIoU, video mIoU, video J&F; error bars
  are 95% CIs over seeds, drawn only where a row has more than one seed."""
  labels = [f"{r['model']}\n{r['method']}" for r in rows]
  columns = [('image/mIoU', 'image mIoU'), ('video/mIoU', 'video mIoU'),
             ('video/J&F-foreground', 'video J&F (foreground)')]
  x = np.arange(len(rows))
  width = 0.8 / len(columns)
  fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4))
  for i, (key, name) in enumerate(columns):
    err = [r[key] - r[key + ' ci_lo'] if r['seeds'] > 1 else 0.0 for r in rows]
    ax.bar(x + (i - 1) * width, [r[key] for r in rows], width,
           yerr=err if any(err) else None, capsize=2, label=name)
  ax.set_xticks(x, labels, fontsize=7)
  ax.set_ylim(0, 1)
  ax.legend()
  seeds = sorted({r['seeds'] for r in rows})
  ax.set_title(f'{data}, ' + ('one seed' if seeds == [1] else
                                         'mean over seeds, 95% CI'))
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def differences_figure(families, path):
  """A strip plot per family ({title: {hypothesis: {seed: difference}}}, e.g. one
  confirmatory.json each through confirmatory.per_seed_differences): each seed's paired
  difference as a dot, the mean and its 95% t-interval as a bar, zero as a line. Returns
  the panel titles."""
  fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.8), squeeze=False)
  rng = np.random.default_rng(0)   # the jitter only spreads the dots
  for ax, (title, hypotheses) in zip(axes[0], families.items()):
    for i, (label, by_seed) in enumerate(hypotheses.items()):
      d = np.array(list(by_seed.values()))
      ax.plot(i + rng.uniform(-0.12, 0.12, d.size), d, 'o', ms=4, alpha=0.6, color=f'C{i}')
      mean, half, _ = mean_ci(d)
      ax.errorbar(i + 0.3, mean, yerr=None if np.isnan(half) else half, fmt='s', color='k',
                  capsize=4)
    ax.axhline(0.0, color='grey', lw=0.8)
    ax.set_xticks(range(len(hypotheses)), [h.replace(': ', '\n') for h in hypotheses],
                  fontsize=8)
    ax.set_xlim(-0.5, len(hypotheses) - 0.3)
    ax.set_ylabel('per-seed difference (method − baseline)')
    ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return list(families)


def curves_figure(run_dirs, path, keys=('sup_loss', 'total_loss', 'val/video/mIoU')):
  """Training curves, one line per run (label -> its workdir): a panel per metric key,
  then, where runs have domain terms, their losses and discriminator accuracies
  per tap (the minimax balance: accuracy near 0.5 means the discriminator is
  fooled, near 1 that it wins), and for each clustered term the share of each
  domain's samples per cluster (solid image, dashed video). Returns the panel titles."""
  runs = {label: read_metrics(workdir) for label, workdir in run_dirs.items()}
  names = {k for rows in runs.values() for r in rows for k in r}
  panels = [(key, [key]) for key in keys]
  losses, accuracies = terms.metric_prefixes()  # every registered term's, forks' included
  for title, prefixes in (('alignment losses', losses), ('discriminator accuracy', accuracies)):
    found = sorted(n for n in names if n.startswith(prefixes))
    if found:
      panels.append((title, found))
  occupancy = sorted({(label, '/'.join(k.split('/')[:2])) for label, rows in runs.items()
                      for r in rows for k in r if k.startswith('clusters/')})
  fig, axes = plt.subplots(1, len(panels) + len(occupancy),
                           figsize=(5 * (len(panels) + len(occupancy)), 3.5), squeeze=False)
  for ax, (title, series) in zip(axes[0], panels):
    for label, rows in runs.items():
      for key in series:
        pts = [r for r in rows if key in r]
        if pts:
          ax.plot([r['step'] for r in pts], [r[key] for r in pts],
                  label=label if series == [title] else f'{label} {key}',
                  marker='o' if len(pts) < 5 else None)
    if title == 'discriminator accuracy':
      ax.axhline(0.5, color='grey', lw=0.8, ls=':')
    ax.set_title(title)
    ax.set_xlabel('step')
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=6)
  for ax, (label, prefix) in zip(axes[0, len(panels):], occupancy):
    rows = runs[label]
    k = 1 + max(int(n.rsplit('/', 1)[1]) for n in names if n.startswith(prefix + '/'))
    for j in range(k):
      for domain, style in (('image', '-'), ('video', '--')):
        pts = [r for r in rows if f'{prefix}/{domain}/{j}' in r]
        ax.plot([r['step'] for r in pts], [r[f'{prefix}/{domain}/{j}'] for r in pts], style,
                color=f'C{j}', label=f'cluster {j}' if domain == 'image' else None)
    ax.set_title(f'{label}: {prefix} occupancy (solid image, dashed video)', fontsize=8)
    ax.set_xlabel('step')
    ax.legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return [title for title, _ in panels] + [f'{label}: {prefix}' for label, prefix in occupancy]


def scaling_figure(rows, path):
  """Step time (solid) and XLA step memory (dashed) against each scaling axis, per model.

  rows: dicts with 'model', 'axis', 'value', 'step_ms', 'step_mib'.
  """
  axes_names = list(dict.fromkeys(r['axis'] for r in rows))
  fig, axes = plt.subplots(1, len(axes_names), figsize=(4.2 * len(axes_names), 3.4))
  for ax, name in zip(np.atleast_1d(axes), axes_names):
    twin = ax.twinx()
    for i, model in enumerate(dict.fromkeys(r['model'] for r in rows)):
      pts = [r for r in rows if r['axis'] == name and r['model'] == model]
      x = [r['value'] for r in pts]
      ax.plot(x, [r['step_ms'] for r in pts], 'o-', color=f'C{i}', label=model)
      twin.plot(x, [r['step_mib'] for r in pts], 's--', color=f'C{i}', alpha=0.6)
    ax.set(xlabel=name, ylabel='step ms (solid)', xscale='log', yscale='log')
    twin.set(ylabel='step MiB (dashed)', yscale='log')
    ax.set_xticks(x, [str(v) for v in x])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    for a in (ax, twin):  # plain numbers on the log axes
      a.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
      a.yaxis.set_major_formatter(ticker.FormatStrFormatter('%g'))
      a.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def examples_figure(examples, path, title=''):
  """Test frames side by side, a row each: the frame, its ground truth and each
  method's prediction, masks blended over the frame. `examples` is one model's entry
  of vda_jax.report.example_frames."""
  methods = list(examples['predictions'])
  columns = [('frame', None), ('ground truth', examples['truth'])] + [
      (m, examples['predictions'][m]) for m in methods]
  rows = len(examples['frames'])
  h, w = examples['frames'][0].shape[:2]
  fig, axes = plt.subplots(rows, len(columns), squeeze=False,
                           figsize=(2.2 * len(columns) * w / max(h, w) + 0.4,
                                    2.2 * rows * h / max(h, w) + 0.5))
  for i, frame in enumerate(examples['frames']):
    for ax, (name, masks) in zip(axes[i], columns):
      _picture(ax, frame if masks is None else overlay(frame, masks[i]))
      if i == 0:
        ax.set_title(name, fontsize=8)
  _save_pictures(fig, path, title, title_size=9)


def sheets_figure(sheets, path, title=''):
  """Overlay sheets of one video (`vda-segment --overlay=png`), one per run, stacked top to
  bottom under their labels: e.g. a source-only and an adapted model side by side.
  `sheets`: {label: PNG path}. Returns the panels' titles, top to bottom."""
  images = [(label, plt.imread(str(p))) for label, p in sheets.items()]
  h, w = images[0][1].shape[:2]
  fig, axes = plt.subplots(len(images), 1, squeeze=False,
                           figsize=(9, 9 * h / w * len(images) + 0.4 * len(images)))
  for ax, (label, image) in zip(axes[:, 0], images):
    _picture(ax, image)
    ax.set_title(label, fontsize=9)
  titles = [ax.get_title() for ax in axes[:, 0]]
  _save_pictures(fig, path, title, title_size=10)
  return titles


def _picture(ax, image):
  ax.imshow(image)
  ax.set_xticks([])
  ax.set_yticks([])


def _save_pictures(fig, path, title, title_size):
  if title:
    fig.suptitle(title, fontsize=title_size)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
