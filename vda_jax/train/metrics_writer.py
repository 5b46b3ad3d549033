"""Scalars to metrics.jsonl and TensorBoard, from process 0 only."""
import json
import os

from etils import epath
import jax
import numpy as np


class MetricWriter:

  def __init__(self, workdir):
    self._active = jax.process_index() == 0
    if self._active:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      workdir = epath.Path(workdir)  # local or gs://
      workdir.mkdir(parents=True, exist_ok=True)
      self._jsonl = (workdir / 'metrics.jsonl').open('a')
      self._tb = tensorboardX.SummaryWriter(os.fspath(workdir / 'tensorboard'))

  def write(self, step, scalars):
    if not self._active:
      return
    scalars = {k: float(np.asarray(v)) for k, v in scalars.items()}
    self._jsonl.write(json.dumps({'step': int(step), **scalars}) + '\n')
    self._jsonl.flush()
    for k, v in scalars.items():
      self._tb.add_scalar(k, v, step)
    self._tb.flush()

  def close(self):
    if self._active:
      self._jsonl.close()
      self._tb.close()


def read_metrics(workdir):
  """All rows of a run's metrics.jsonl."""
  with (epath.Path(workdir) / 'metrics.jsonl').open() as f:
    return [json.loads(line) for line in f]


# An eval row holds the test scores ('video/mIoU', ...) or the val split's ('val/...'), or both.
EVAL_KEYS = ('video/mIoU', 'val/video/mIoU')


def final_eval(workdir, step):
  """The eval the run in workdir logged at `step` (the last one if it logged several
  there, e.g. after a resume), without its 'step'; None if there is none."""
  final = [r for r in read_metrics(workdir)
           if r['step'] == step and any(k in r for k in EVAL_KEYS)]
  return {k: v for k, v in final[-1].items() if k != 'step'} if final else None
