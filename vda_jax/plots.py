"""PNG figures of an experiment: the results table and the training curves."""
import matplotlib

matplotlib.use('Agg')  # files only; no display on clusters
import matplotlib.pyplot as plt  # noqa: E402
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
