"""Scores a model on the image and video test splits, at each record's own resolution."""
import numpy as np

from vda_jax import labels as labels_lib
from vda_jax.data.pipeline import stack_frames
from vda_jax.eval import inference, metrics
from vda_jax.preemption import checked


def evaluate_split(predict, params, source, kind, *, sharding, class_names, batch_size,
                   size, clip_len, skip_first_last=True):
  """Scores one split: '{image,video}/mIoU', foreground mIoU ('mIoU-fg', without
  background) and per-class IoU; for videos the class-agnostic foreground J, F
  (mean, recall, decay) and J&F, per sequence and then averaged (DAVIS), named
  'video/J&F-foreground' etc.: all objects of a frame are one mask.
  `skip_first_last` drops each sequence's first and last frame from J and F, as
  the DAVIS toolkit does. 'X-ci_lo' / 'X-ci_hi' bound a 95% bootstrap CI of X
  over the split's images or clips. Inside a preemption.watch() the poll comes before
  each record, and Interrupted is raised after a notice (a long DAVIS eval must not
  outlast a preemption notice)."""
  k = len(class_names)
  confusions = []  # one per image or clip: what the bootstrap resamples
  prefix = 'image' if kind == 'images' else 'video'
  if kind == 'images':
    records = ((r['mask'][..., 0], r['image'])
               for r in checked(map(source.__getitem__, range(len(source)))))
    for label, pred in inference.segment_images(predict, params, records, size=size,
                                                batch_size=batch_size, sharding=sharding):
      confusions.append(metrics.confusion_matrix(pred, label, k))
    per_sequence = None
  else:
    per_sequence = {'J': [], 'F': []}

    def videos():
      for r in checked(map(source.__getitem__, range(len(source)))):
        yield stack_frames(r['masks'])[..., 0], stack_frames(r['frames'])

    for labels, t, pred in inference.segment_videos(
        predict, params, videos(), size=size, clip_len=clip_len, batch_size=batch_size,
        sharding=sharding):
      if t == 0:
        confusions.append(np.zeros((k, k), np.int64))
        per_sequence['J'].append([])
        per_sequence['F'].append([])
      confusions[-1] += metrics.confusion_matrix(pred, labels[t], k)
      if (labels[t] == labels_lib.VOID).all():  # not annotated (FBMS's sparse masks)
        per_sequence['J'][-1].append(None)
        per_sequence['F'][-1].append(None)
        continue
      # Foreground = any object class; void pixels count as background, as DAVIS does.
      truth = labels_lib.to_foreground(labels[t]) == 1
      per_sequence['J'][-1].append(metrics.region_j(pred > 0, truth))
      per_sequence['F'][-1].append(metrics.boundary_f(pred > 0, truth))
  if per_sequence is not None:
    # DAVIS's first/last-frame rule counts frames of the sequence; then the annotated ones
    # are scored, and a sequence without any is left out.
    scored = {k: [[v for v in metrics.davis_scored(seq, skip_first_last) if v is not None]
                  for seq in seqs] for k, seqs in per_sequence.items()}
    per_sequence = {k: [seq for seq in seqs if seq] for k, seqs in scored.items()}
  confusions = np.stack(confusions)
  total = confusions.sum(0)
  results = {}
  for name, foreground in (('mIoU', False), ('mIoU-fg', True)):
    results[f'{prefix}/{name}'] = metrics.mean_iou(total, foreground)
    lo, hi = metrics.bootstrap_ci(confusions, lambda c, f=foreground: metrics.mean_iou(c.sum(0), f))
    results.update({f'{prefix}/{name}-ci_lo': lo, f'{prefix}/{name}-ci_hi': hi})
  results.update({f'{prefix}/IoU/{c}': float(v)
                  for c, v in zip(class_names, metrics.iou_per_class(total))})
  if per_sequence is not None:
    # '-foreground': every object is one mask. That is DAVIS-2016's protocol (one object
    # per sequence); on multi-object data (DAVIS-2017, FBMS) it is not the per-object
    # leaderboard score, and the name says so.
    results.update({f'video/{m}-foreground': v
                    for m, v in metrics.davis_scores(per_sequence).items()})
    jf = [0.5 * (np.mean(j) + np.mean(f)) for j, f in zip(per_sequence['J'], per_sequence['F'])]
    lo, hi = metrics.bootstrap_ci(jf, np.mean)
    results.update({'video/J&F-foreground-ci_lo': lo, 'video/J&F-foreground-ci_hi': hi})
  return results


def evaluate(predict, params, sources, *, sharding, class_names, image_batch, clip_batch,
             size, clip_len, skip_first_last=True, split='test'):
  """mIoU + per-class IoU on images/{split} and videos/{split}; foreground J&F on video
  frames. `split='val'` scores the held-out selection splits instead of test.

  `predict(params, x)` -> class map; see train.step.jit_predict.
  """
  missing = [k for k in (f'images/{split}', f'videos/{split}') if k not in sources]
  if missing:
    raise ValueError(f'config.eval.split={split!r}: the data has no {missing} '
                     f'(it has {sorted(sources)})')
  results = evaluate_split(predict, params, sources[f'images/{split}'], 'images',
                           sharding=sharding, class_names=class_names, batch_size=image_batch,
                           size=size, clip_len=clip_len)
  results.update(evaluate_split(predict, params, sources[f'videos/{split}'], 'videos',
                                sharding=sharding, class_names=class_names,
                                batch_size=clip_batch, size=size, clip_len=clip_len,
                                skip_first_last=skip_first_last))
  return results
