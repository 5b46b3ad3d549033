"""A grid of runs (models x methods x seeds) from one config file: configs, jobs, and
which runs are finished (their logged scores are reused). The tables: vda_jax.report.
"""
import json
import os

import jax

from vda_jax import preemption, processes
from vda_jax.config_arg import apply_overrides, load_config_module
from vda_jax.data import datasets
from vda_jax.train import checkpoint, workdir_lock
from vda_jax.train.loop import train_and_evaluate
from vda_jax.train.metrics_writer import final_eval


def run_dir(workdir, model, method, seed):
  return os.path.join(workdir, model, f'{method}_seed{seed}')


def config_for(module, model, method, seed, arg='', fields=None, overrides=()):
  """module.get_config for one run: `arg` adds config args (e.g. 'preset=photometric'),
  `fields` are {field: value} chosen by model selection, `overrides` 'a.b=value' strings."""
  config = module.get_config(','.join(filter(None, [f'model={model},method={method},seed={seed}',
                                                    arg])))
  apply_overrides(config, [f'{k}={v}' for k, v in (fields or {}).items()])
  return apply_overrides(config, overrides)


def default_models(config_path, arg=''):
  """[the model the config file picks when no model= arg is given]."""
  return [load_config_module(config_path).get_config(arg or None).model.name]


def grid_configs(config_path, models, methods, seeds, overrides=(), arg='', selected=None):
  """{(model, method, seed): config} for the grid; `selected` maps (model, method) to
  the fields model selection chose (see `load_selection`)."""
  module = load_config_module(config_path)
  return {(model, method, seed): config_for(module, model, method, seed, arg,
                                            (selected or {}).get((model, method)), overrides)
          for model in models for method in methods for seed in seeds}


def load_selection(path, selector):
  """{(model, method): fields} that `selector` ('oracle' or 'dev') chose in a
  selection.json written by scripts/model_selection.py."""
  with open(path) as f:
    chosen = json.load(f)['selected']
  if selector not in ('oracle', 'dev'):
    raise ValueError(f"selector={selector!r}; expected 'oracle' or 'dev'")
  return {tuple(key.split('/')): picks[selector] for key, picks in chosen.items()}


def run_grid(config_path, workdir, models, methods, seeds, overrides=(), train_fn=None, arg='',
             selected=None, parallel=1):
  """Trains (or resumes) every run; returns {(model, method, seed): results} (see
  `train_all`, which `parallel` goes to)."""
  jobs = {key: (config, run_dir(workdir, *key)) for key, config in grid_configs(
      config_path, models, methods, seeds, overrides, arg, selected).items()}
  return train_all(jobs, train_fn, parallel)


def train_all(jobs, train_fn=None, parallel=1):
  """{key: final eval} for jobs {key: (config, path)}, in their order. A run that
  already logged its final eval is skipped and its logged scores are used; the
  others are trained by train_fn (default train_and_evaluate; it resumes from a
  run's last checkpoint). A run stopped by a SIGTERM stops the rest
  (preemption.Interrupted); the same call resumes.

  parallel > 1 trains that many runs at once, each in its own process (on a
  2-core CPU host two cnn2d runs side by side finish 1.3x sooner than one after
  the other, docs/benchmarks.md; tiny models also share one accelerator: 12
  segformer runs side by side on an H100, docs/results.md; set
  XLA_PYTHON_CLIENT_PREALLOCATE=false so that each takes only what it needs).
  The datasets are built here first, so no two runs build one.
  """
  results = {key: finished_results(path, config) for key, (config, path) in jobs.items()}
  announce = lambda key, finished=False: print(
      f'== {" ".join(map(str, key))} -> {jobs[key][1]}' + (' (finished)' if finished else ''),
      flush=True)
  for key in jobs:
    if results[key]:
      announce(key, finished=True)
  todo = {key: (config, path, train_fn or train_and_evaluate)
          for key, (config, path) in jobs.items() if results[key] is None}
  if parallel > 1 and len(todo) > 1:
    if jax.process_count() > 1:
      raise ValueError(f'parallel={parallel}: runs side by side are for one process; this '
                       f'one is one of {jax.process_count()}')
    with preemption.watch():
      for data in {c.data.to_json_best_effort(sort_keys=True): c.data
                   for c, _, _ in todo.values()}.values():
        datasets.load_sources(data)
    results.update(processes.run_all(todo, train_to_end, parallel, on_start=announce))
  else:
    for key, args in todo.items():
      announce(key)
      results[key] = train_to_end(*args)
  return results


def train_to_end(config, path, train_fn):
  """train_fn(config, path)'s final eval; preemption.Interrupted if a SIGTERM stopped
  the run, so that a grid stops with it. A run folder that another live process holds
  (a second grid, a forgotten vda-train) is waited for, then its logged scores are read if
  that run finished, or it is resumed: no run is ever trained into twice at once."""
  while True:
    try:
      results = train_fn(config, path)
      break
    except workdir_lock.WorkdirHeld:
      print(f'== {path} is in use by a live run ({workdir_lock.holder(path) or "just ended"}); '
            'waiting for it', flush=True)
      workdir_lock.wait_until_free(path)
      finished = finished_results(path, config)
      if finished:
        return finished
  if 'preempted_at_step' in results:
    raise preemption.Interrupted(f'SIGTERM: the run in {path} stopped; the same command '
                                 'resumes it')
  return results


def finished_results(workdir, config):
  """The eval a run of `config` logged at its last step, or None if it has not finished;
  ValueError if workdir holds a run of another config."""
  if not os.path.exists(os.path.join(workdir, 'metrics.jsonl')):
    return None
  checkpoint.check_same_config(config, workdir)
  return final_eval(workdir, config.train.steps)
