"""PNG figures of an experiment: the results table and the training curves."""
import matplotlib

matplotlib.use('Agg')  # files only; no display on clusters
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
import numpy as np  # noqa: E402

from vda_jax.train.metrics_writer import read_metrics  # noqa: E402


def results_figure(rows, path):
  """Grouped bars per (model, method): image mIoU, video mIoU, video J&F with std over seeds."""
  labels = [f"{r['model']}\n{r['method']}" for r in rows]
  columns = [('image/mIoU', 'image mIoU'), ('video/mIoU', 'video mIoU'), ('video/J&F', 'video J&F')]
  x = np.arange(len(rows))
  width = 0.8 / len(columns)
  fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4))
  for i, (key, name) in enumerate(columns):
    ax.bar(x + (i - 1) * width, [r[key] for r in rows], width,
           yerr=[r[key + ' std'] for r in rows], capsize=2, label=name)
  ax.set_xticks(x, labels, fontsize=7)
  ax.set_ylim(0, 1)
  ax.legend()
  ax.set_title('embedded benchmark (mean ± std over seeds)')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def curves_figure(run_dirs, path, keys=('sup_loss', 'total_loss', 'video/mIoU')):
  """One panel per metric key, one line per run (label -> its workdir)."""
  fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5))
  for ax, key in zip(np.atleast_1d(axes), keys):
    for label, workdir in run_dirs.items():
      rows = [r for r in read_metrics(workdir) if key in r]
      if rows:
        ax.plot([r['step'] for r in rows], [r[key] for r in rows], label=label,
                marker='o' if len(rows) < 5 else None)
    ax.set_title(key)
    ax.set_xlabel('step')
  np.atleast_1d(axes)[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


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
