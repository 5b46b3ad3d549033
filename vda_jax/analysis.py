"""Where the image->video gap comes from, and how domain-separable each tap is.

- `artifact_gap`: a trained model's video-test mIoU on the same test scenes
  re-rendered with no artifact, each artifact alone, and all of them.
- `domain_probe`: a linear image-vs-video classifier on a model's features at
  each tap (held-out accuracy and proxy A-distance, 2 (1 - 2 err)).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from vda_jax.data import datasets, synthetic
from vda_jax.data.builders import embedded
from vda_jax.eval.domain_classifier import fit_domain_classifier
from vda_jax.eval.evaluate import evaluate_split
from vda_jax.models.inputs import model_input
from vda_jax.models.taps import apply_with_taps, tap_shapes
from vda_jax.train import sharding as shd

SETTINGS = ('none',) + synthetic.ARTIFACTS + ('all',)


def artifact_clips(data_config, setting):
  """The videos/test scenes with only `setting` on ('none' = clean, 'all' = as configured)."""
  spec = datasets.embedded_spec(data_config)
  if setting == 'all':
    artifacts = spec.artifacts
  elif setting == 'none':
    artifacts = synthetic.Artifacts(**{a: 0.0 for a in synthetic.ARTIFACTS})
  else:
    artifacts = synthetic.Artifacts.only(setting)
  n = dict(spec.num_clips)['test']
  return [embedded.video_record(spec, 'test', i, artifacts) for i in range(n)]


def artifact_gap(exp, params, settings=SETTINGS):
  """{setting: video-test mIoU} of the model with `params` (one re-rendering per setting)
  in the `Experiment` `exp`."""
  config = exp.config
  score = functools.partial(evaluate_split, exp.predict, params, kind='videos',
                            sharding=shd.batch_sharding(exp.mesh),
                            class_names=exp.class_names, batch_size=config.eval.clip_batch,
                            size=config.data.image_size, clip_len=config.input.clip_len,
                            skip_first_last=config.eval.skip_first_last)
  return {s: score(artifact_clips(config.data, s))['video/mIoU'] for s in settings}


def tap_samples(model, params, x, taps, clip_len, image_as_clip, per_example, seed, batch=16):
  """{tap: (N, per_example, C)}: features at `per_example` fixed random positions of
  each of the N images or clips in x (a clip's positions span all its frames)."""
  run = jax.jit(lambda p, x: apply_with_taps(model, p, model_input(model, x, clip_len,
                                                                   image_as_clip))[1])
  rng = np.random.default_rng(seed)
  out = {t: [] for t in taps}
  for start in range(0, len(x), batch):
    chunk = x[start:start + batch]
    feats = jax.device_get(run(params, jnp.asarray(chunk)))
    for t in taps:
      f = np.asarray(feats[t], np.float32).reshape(len(chunk), -1, feats[t].shape[-1])
      idx = rng.integers(0, f.shape[1], (len(chunk), per_example))
      out[t].append(np.take_along_axis(f, idx[..., None], axis=1))
  return {t: np.concatenate(v) for t, v in out.items()}


def linear_probe(image_feats, video_feats, steps=300, lr=0.05, l2=1e-4):
  """Logistic regression image (0) vs video (1), trained on the first half of each
  domain's examples and tested on the second (positions of one example never
  straddle the split). Returns (balanced held-out accuracy, proxy A-distance)."""
  def halves(f):
    h = len(f) // 2
    return f[:h].reshape(-1, f.shape[-1]), f[h:].reshape(-1, f.shape[-1])
  (ti, ei), (tv, ev) = halves(image_feats), halves(video_feats)
  logit = fit_domain_classifier(ti, tv, steps=steps, lr=lr, l2=l2)
  acc = 0.5 * (float(np.mean(logit(ei) < 0)) + float(np.mean(logit(ev) > 0)))
  return acc, 2.0 * (1.0 - 2.0 * (1.0 - acc))


def domain_probe(exp, params, sources, taps=None, max_examples=128, per_example=16):
  """{tap: (accuracy, proxy A-distance)} on images/test vs videos/test features of the
  model with `params` in the `Experiment` `exp`."""
  model, config = exp.model, exp.config
  n_img = min(max_examples, len(sources['images/test']))
  n_vid = min(max_examples, len(sources['videos/test']))
  images = np.stack([sources['images/test'][i]['image'] for i in range(n_img)])
  clips = np.stack([np.asarray(sources['videos/test'][i]['frames'])[:config.input.clip_len]
                    for i in range(n_vid)])
  if taps is None:
    taps = sorted(tap_shapes(model, model_input(model, images[:1], config.input.clip_len,
                                                config.model.image_as_clip).shape))
  sample = functools.partial(tap_samples, model, params, taps=taps, clip_len=config.input.clip_len,
                             image_as_clip=config.model.image_as_clip, per_example=per_example)
  fi, fv = sample(images, seed=0), sample(clips, seed=1)
  return {t: linear_probe(fi[t], fv[t]) for t in taps}
