"""Scores a model on the image and video test splits."""
import jax
import numpy as np

from vda_jax.data.pipeline import eval_batches
from vda_jax.eval import metrics


def _global_from_full(batch, sharding):
  """Every process holds the whole eval batch; each places only its own shards."""
  return jax.make_array_from_callback(batch.shape, sharding, lambda idx: batch[idx])


def evaluate_split(predict, params, source, kind, *, sharding, class_names, batch_size):
  """Scores one split: '{image,video}/mIoU', per-class IoU, and for videos foreground J&F."""
  confusion = np.zeros((len(class_names),) * 2, np.int64)
  preds, truths = [], []
  for batch, n in eval_batches(source, kind, batch_size):
    pred = np.asarray(jax.device_get(predict(params, _global_from_full(batch['image'], sharding))))[:n]
    label = batch['label'][:n]
    confusion += metrics.confusion_matrix(pred, label, len(class_names))
    if kind == 'videos':
      preds.extend(pred.reshape((-1,) + pred.shape[-2:]))
      truths.extend(label.reshape((-1,) + label.shape[-2:]))
  prefix = 'image' if kind == 'images' else 'video'
  iou = metrics.iou_per_class(confusion)
  results = {f'{prefix}/mIoU': float(np.nanmean(iou))}
  results.update({f'{prefix}/IoU/{c}': float(v) for c, v in zip(class_names, iou)})
  if kind == 'videos':  # class-agnostic foreground, as DAVIS scores objects
    results.update({f'video/{k}': v for k, v in metrics.j_and_f(preds, truths).items()})
  return results


def evaluate(predict, params, sources, *, sharding, class_names, image_batch, clip_batch):
  """mIoU + per-class IoU on images/test and videos/test; foreground J&F on video frames.

  `predict(params, x)` -> class map; see train.step.jit_predict.
  """
  results = {}
  for kind, batch_size in (('images', image_batch), ('videos', clip_batch)):
    results.update(evaluate_split(predict, params, sources[f'{kind}/test'], kind,
                                  sharding=sharding, class_names=class_names,
                                  batch_size=batch_size))
  return results
