"""Model selection without test labels: an oracle on a small labeled video split, and
Deep Embedded Validation (You et al., ICML 2019), which needs no video labels.

DEV estimates a candidate's target risk from labeled *source* validation data,
importance-weighted by the density ratio w(x) = p_target(x) / p_source(x) of
its features, which a domain classifier estimates; a control variate (the
weights' known mean, 1) cuts the variance of the weighted mean:

  L_j = w_j * loss_j,  eta = -Cov(L, w) / Var(w),  risk = mean(L) + eta * mean(w) - eta.

Here the features are a candidate network's decoder features, average-pooled
per image or video frame; the classifier is a logistic regression on
images/train vs videos/train (unlabeled) features with balanced domain
weights, so w = d / (1 - d); the losses are per-image cross-entropies on
images/val.
"""
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from vda_jax import grid
from vda_jax.adversarial.losses import segmentation_loss
from vda_jax.config_arg import load_config_module
from vda_jax.data import datasets, media
from vda_jax.eval.domain_classifier import fit_domain_classifier
from vda_jax.models.inputs import model_input, model_output
from vda_jax.models.taps import apply_with_taps
from vda_jax.train.experiment import Experiment

FEATURE_TAP = 'decoder'


def dev_risk(losses, weights) -> float:
  """DEV's control-variate estimate of the target risk from per-sample source-validation
  losses and density ratios (You et al., 2019, Algorithm 1)."""
  losses, weights = np.asarray(losses, np.float64), np.asarray(weights, np.float64)
  weighted = weights * losses
  var = np.var(weights, ddof=1)
  eta = -np.cov(weighted, weights, ddof=1)[0, 1] / var if var > 0 else 0.0
  return float(np.mean(weighted) + eta * np.mean(weights) - eta)


def density_ratios(source_features: np.ndarray, target_features: np.ndarray,
                   query_features: np.ndarray, *, steps: int = 500, lr: float = 0.05,
                   l2: float = 1e-3, clip: float = 1e-3) -> np.ndarray:
  """p_target / p_source at each query feature, from a logistic regression of source (0)
  vs target (1) with the two domains weighted equally, so the odds are the ratio."""
  logit = fit_domain_classifier(source_features, target_features, steps=steps, lr=lr, l2=l2)
  p = np.clip(1 / (1 + np.exp(-logit(query_features))), clip, 1 - clip)
  return p / (1 - p)


def _features_and_losses(model, params, x, labels, *, clip_len, image_as_clip, batch):
  """(pooled FEATURE_TAP features (N, C), per-example cross-entropy or None) of inputs x."""
  @jax.jit
  def run(p, x, y):
    logits, taps = apply_with_taps(model, p, model_input(model, x, clip_len, image_as_clip))
    f = taps[FEATURE_TAP]
    f = f.reshape((f.shape[0], -1, f.shape[-1])).mean(1)
    if y is None:
      return f, None
    logits = model_output(model, logits, x)
    return f, jax.vmap(lambda z, t: segmentation_loss(z[None], t[None]))(logits, y)

  feats, losses = [], []
  for i in range(0, len(x), batch):
    f, loss = jax.device_get(run(params, jnp.asarray(x[i:i + batch]),
                              None if labels is None else jnp.asarray(labels[i:i + batch])))
    feats.append(np.asarray(f, np.float32))
    losses.append(None if loss is None else np.asarray(loss))
  return np.concatenate(feats), None if labels is None else np.concatenate(losses)


def dev_score(model, params, sources, config, max_examples=256, batch=32):
  """{'dev/risk', 'dev/source_val_loss', 'dev/weight_mean'} of a trained model: DEV's
  target-risk estimate (lower is better), the unweighted images/val loss and the
  density ratios' mean on images/val (1 when the classifier is calibrated)."""
  take = lambda src, n: [src[i] for i in range(min(n, len(src)))]
  # Records of any size (real photos and videos) at the model's input size, as training
  # sees them; a 2D model sees video frames, a temporal one clips: both as it eats them.
  s = config.data.image_size
  fit = lambda a, nearest=False: media.resize(np.asarray(a), (s, s), nearest)
  frames = np.stack([np.stack([fit(f) for f in np.asarray(r['frames'])[:config.input.clip_len]])
                     for r in take(sources['videos/train'], max_examples // config.input.clip_len)])
  train = np.stack([fit(r['image']) for r in take(sources['images/train'], max_examples)])
  val = take(sources['images/val'], max_examples)
  val_x = np.stack([fit(r['image']) for r in val])
  val_y = np.stack([fit(r['mask'][..., 0], nearest=True) for r in val])
  run = functools.partial(_features_and_losses, model, params, clip_len=config.input.clip_len,
                          image_as_clip=config.model.image_as_clip, batch=batch)
  fs, _ = run(train, None)
  ft, _ = run(frames, None)
  fv, losses = run(val_x, val_y)
  weights = density_ratios(fs, ft, fv)
  return {'dev/risk': dev_risk(losses, weights), 'dev/source_val_loss': float(np.mean(losses)),
          'dev/weight_mean': float(np.mean(weights))}


def rank_agreement(oracle, dev_risks):
  """Spearman's rho between the oracle's scores (higher is better) and -DEV risk."""
  if len(oracle) < 3:
    return float('nan')
  return float(stats.spearmanr(oracle, -np.asarray(dev_risks)).statistic)


def candidate_configs(config_path, models, methods, arg='', overrides=(), seed=0):
  """{(model, method, index): (fields, config)}: every candidate of every method's
  `search_space` in the config file, trained with `seed` and scored on the val splits
  (test stays unread)."""
  module = load_config_module(config_path)
  out = {}
  for model in models:
    for method in methods:
      for i, fields in enumerate(module.search_space(method, model)):
        config = grid.config_for(module, model, method, seed, arg, fields, overrides)
        config.eval.split, config.eval.final_split = 'val', ''
        out[(model, method, i)] = (fields, config)
  return out


def run_selection(config_path, workdir, models, methods, arg='', overrides=(), train_fn=None,
                  parallel=1, seed=0):
  """Trains every candidate with `seed` (skipping finished ones; `parallel` as in
  grid.train_all), scores it with the oracle (its final eval on videos/val) and with
  DEV; returns one row per candidate."""
  candidates = candidate_configs(config_path, models, methods, arg, overrides, seed)
  jobs = {key: (config, os.path.join(workdir, key[0], key[1], f'c{key[2]}'))
          for key, (_, config) in candidates.items()}
  trained = grid.train_all(jobs, train_fn, parallel)
  rows = []
  for (model, method, i), (fields, config) in candidates.items():
    results = trained[(model, method, i)]
    exp = Experiment.from_config(config)
    params = exp.restore(jobs[(model, method, i)][1]).params['model']
    dev = dev_score(exp.model, params, datasets.load_sources(config.data), config)
    rows.append({'model': model, 'method': method, 'candidate': i, 'fields': fields,
                 'val/mIoU': results['val/video/mIoU'],
                 'val/mIoU-fg': results['val/video/mIoU-fg'],
                 'val/J&F-foreground': results['val/video/J&F-foreground'],
                 'val/image_mIoU': results['val/image/mIoU'], **dev})
  return rows


def choose(rows, oracle_key='val/mIoU'):
  """{'model/method': {'oracle': fields, 'dev': fields}} and Spearman's rho between
  the two criteria per model, over all its candidates with a domain term."""
  selected, rho = {}, {}
  for key in dict.fromkeys(f"{r['model']}/{r['method']}" for r in rows):
    group = [r for r in rows if f"{r['model']}/{r['method']}" == key]
    selected[key] = {'oracle': max(group, key=lambda r: r[oracle_key])['fields'],
                     'dev': min(group, key=lambda r: r['dev/risk'])['fields']}
  for model in dict.fromkeys(r['model'] for r in rows):
    ranked = [r for r in rows if r['model'] == model and r['fields']]
    rho[model] = rank_agreement([r[oracle_key] for r in ranked], [r['dev/risk'] for r in ranked])
  return selected, rho


def write_selection(rows, workdir, oracle_key='val/mIoU'):
  """selection.json (rows, choices, rho) and selection.md; returns the Markdown."""
  selected, rho = choose(rows, oracle_key)
  with open(os.path.join(workdir, 'selection.json'), 'w') as f:
    json.dump({'rows': rows, 'selected': selected, 'spearman': rho, 'oracle_key': oracle_key}, f,
              indent=1)
  lines = [f'| model | method | candidate | fields | {oracle_key} (oracle) | val mIoU-fg | '
           'DEV risk | source val loss | picked by |', '|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    picks = [s for s, f in selected[f"{r['model']}/{r['method']}"].items() if f == r['fields']]
    fields = ', '.join(f'{k.split(".")[-1]}={v}' for k, v in r['fields'].items()) or '—'
    lines.append(f"| {r['model']} | {r['method']} | c{r['candidate']} | {fields} | "
                 f"{r[oracle_key]:.3f} | {r['val/mIoU-fg']:.3f} | {r['dev/risk']:.4f} | "
                 f"{r['dev/source_val_loss']:.4f} | {' '.join(picks) or ''} |")
  lines.append('')
  lines += [f"Spearman's rho (DEV vs oracle, {model}, candidates with a domain term): "
            f'{v:.2f}' for model, v in rho.items()]
  text = '\n'.join(lines) + '\n'
  with open(os.path.join(workdir, 'selection.md'), 'w') as f:
    f.write(text)
  return text
