"""Scores a model on the image and video test splits, at each record's own resolution."""
import numpy as np

from vda_jax.eval import inference, metrics


def _stack(x):
  return np.stack(x) if isinstance(x, (list, tuple)) else np.asarray(x)


def evaluate_split(predict, params, source, kind, *, sharding, class_names, batch_size,
                   size, clip_len, skip_first_last=False):
  """Scores one split: '{image,video}/mIoU' and per-class IoU; for videos the
  class-agnostic foreground J, F (mean, recall, decay) and J&F, per sequence
  and then averaged (DAVIS). `skip_first_last` drops each sequence's first and
  last frame from J and F, as the DAVIS toolkit does."""
  confusion = np.zeros((len(class_names),) * 2, np.int64)
  prefix = 'image' if kind == 'images' else 'video'
  if kind == 'images':
    records = ((r['mask'][..., 0], r['image']) for r in map(source.__getitem__, range(len(source))))
    for label, pred in inference.segment_images(predict, params, records, size=size,
                                                batch_size=batch_size, sharding=sharding):
      confusion += metrics.confusion_matrix(pred, label, len(class_names))
    per_sequence = None
  else:
    per_sequence = {'J': [], 'F': []}

    def videos():
      for i in range(len(source)):
        r = source[i]
        yield _stack(r['masks'])[..., 0], _stack(r['frames'])

    for labels, t, pred in inference.segment_videos(
        predict, params, videos(), size=size, clip_len=clip_len, batch_size=batch_size,
        sharding=sharding):
      confusion += metrics.confusion_matrix(pred, labels[t], len(class_names))
      if t == 0:
        per_sequence['J'].append([])
        per_sequence['F'].append([])
      if not skip_first_last or 0 < t < len(labels) - 1:
        # Foreground = any object class; void pixels count as background, as DAVIS does.
        truth = (labels[t] > 0) & (labels[t] != metrics.IGNORE_LABEL)
        per_sequence['J'][-1].append(metrics.region_j(pred > 0, truth))
        per_sequence['F'][-1].append(metrics.boundary_f(pred > 0, truth))
  iou = metrics.iou_per_class(confusion)
  results = {f'{prefix}/mIoU': float(np.nanmean(iou))}
  results.update({f'{prefix}/IoU/{c}': float(v) for c, v in zip(class_names, iou)})
  if per_sequence is not None:
    results.update({f'video/{k}': v for k, v in metrics.davis_scores(per_sequence).items()})
  return results


def evaluate(predict, params, sources, *, sharding, class_names, image_batch, clip_batch,
             size, clip_len, skip_first_last=False):
  """mIoU + per-class IoU on images/test and videos/test; foreground J&F on video frames.

  `predict(params, x)` -> class map; see train.step.jit_predict.
  """
  results = evaluate_split(predict, params, sources['images/test'], 'images', sharding=sharding,
                           class_names=class_names, batch_size=image_batch, size=size,
                           clip_len=clip_len)
  results.update(evaluate_split(predict, params, sources['videos/test'], 'videos',
                                sharding=sharding, class_names=class_names,
                                batch_size=clip_batch, size=size, clip_len=clip_len,
                                skip_first_last=skip_first_last))
  return results
