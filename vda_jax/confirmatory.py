"""A pre-registered confirmatory plan (a config file such as configs/confirmatory.py) run
as written: one selection per (model, preset) on a seed no verdict uses, the verdict
runs at the selector's picks, and one paired test per hypothesis, Holm-adjusted
over the whole family.

The plan file holds `get_config(arg)` and `search_space(method, model)` (as any
config file), plus HYPOTHESES ({id, model, method, baseline} each, and `preset` where
the config takes one), METRIC (a test-split score), SELECTOR ('oracle' or 'dev'),
SELECTION_SEED and VERDICT_SEEDS. Optional: ORACLE_KEY, the selection row the oracle
maximises (default 'val/mIoU'), and HOST_TYPE, the one host type
(train.environment.host_type) the plan was registered for: no run starts elsewhere.
Every verdict run of the family must share one host type: pairs across host types or
JAX versions are refused.
"""
import json
import os

import numpy as np
from scipy import stats

from vda_jax import grid, report, selection
from vda_jax.config_arg import load_config_module
from vda_jax.eval.metrics import mean_ci
from vda_jax.train import environment


def paired_t_power(effect: float, sd: float, n: int, alpha: float = 0.05) -> float:
  """Power of the two-sided paired t-test at level `alpha` with n pairs, when the
  per-seed differences have mean `effect` and standard deviation `sd`."""
  df, nc = n - 1, effect / sd * np.sqrt(n)
  t = stats.t.ppf(1 - alpha / 2, df)
  # P(T < -t | nc) as P(T > t | -nc): scipy's cdf far in the lower tail returns NaN.
  return float(stats.nct.sf(t, df, nc) + stats.nct.sf(t, df, -nc))


def seeds_for_power(effect: float, sd: float, power: float = 0.8, alpha: float = 0.05,
                    most: int = 1000) -> int:
  """The fewest pairs (seeds) giving the paired t-test `power`; `most` + 1 if none do."""
  return next((n for n in range(2, most + 1) if paired_t_power(effect, sd, n, alpha) >= power),
              most + 1)


def load_plan(path):
  """The plan module, checked: no verdict seed is the selection seed, ids are unique."""
  plan = load_config_module(path)
  fields = ('HYPOTHESES', 'METRIC', 'SELECTOR', 'SELECTION_SEED', 'VERDICT_SEEDS',
            'search_space')
  for field in fields:
    if not hasattr(plan, field):
      raise ValueError(f'{path}: no {field}; a confirmatory plan defines '
                       f'{", ".join(fields[:-1])} and {fields[-1]}')
  if plan.SELECTION_SEED in plan.VERDICT_SEEDS:
    raise ValueError(f'{path}: SELECTION_SEED {plan.SELECTION_SEED} is also a verdict seed')
  ids = [h['id'] for h in plan.HYPOTHESES]
  if len(set(ids)) != len(ids):
    raise ValueError(f'{path}: hypothesis ids repeat: {ids}')
  return plan


def oracle_key(plan) -> str:
  """The selection row's score the plan's oracle maximises."""
  return getattr(plan, 'ORACLE_KEY', 'val/mIoU')


def check_host(plan, plan_path) -> None:
  """ValueError if the plan names a HOST_TYPE and this process runs on another."""
  here = environment.host_type(environment.describe())
  wanted = getattr(plan, 'HOST_TYPE', None)
  if wanted is not None and here != wanted:
    raise ValueError(f'{plan_path}: HOST_TYPE is {wanted!r} but this host is {here!r}; the '
                     "plan's runs start on its registered host type only")


def _setting(h) -> tuple[str, str]:
  """(model, preset) of a hypothesis or a saved run; preset '' where the config takes none."""
  return h['model'], h.get('preset', '')


def arms(hypotheses) -> dict:
  """{(model, preset): [methods]} the hypotheses compare, in their order."""
  out = {}
  for h in hypotheses:
    methods = out.setdefault(_setting(h), [])
    for m in (h['baseline'], h['method']):
      if m not in methods:
        methods.append(m)
  return out


def workdirs(workdir, model, preset) -> tuple[str, str]:
  """(selection workdir, verdict workdir) of one (model, preset)."""
  return tuple(os.path.join(workdir, '_'.join(filter(None, (stage, model, preset))))
               for stage in ('select', 'verdict'))


def run(plan_path, workdir, parallel=1, train_fn=None):
  """Selection, then the verdict runs, for every (model, preset) of the plan; returns
  ({(model, preset, method, seed): final results}, {(model, preset, method, seed): run dir},
  {(model, preset): {method: picked fields}})."""
  plan = load_plan(plan_path)
  results, dirs, picks = {}, {}, {}
  for (model, preset), methods in arms(plan.HYPOTHESES).items():
    select_dir, verdict_dir = workdirs(workdir, model, preset)
    arg = f'preset={preset}' if preset else ''
    tuned = [m for m in methods if plan.search_space(m, model) != [{}]]
    if tuned:
      os.makedirs(select_dir, exist_ok=True)
      rows = selection.run_selection(plan_path, select_dir, [model], tuned, arg,
                                     train_fn=train_fn, parallel=parallel,
                                     seed=plan.SELECTION_SEED)
      selection.write_selection(rows, select_dir, oracle_key(plan))
      chosen, _ = selection.choose(rows, oracle_key(plan))
      picks[(model, preset)] = {m: chosen[f'{model}/{m}'][plan.SELECTOR] for m in tuned}
    selected = {(model, m): f for m, f in picks.get((model, preset), {}).items()}
    grid_results = grid.run_grid(plan_path, verdict_dir, [model], methods,
                                 list(plan.VERDICT_SEEDS), arg=arg, selected=selected,
                                 parallel=parallel, train_fn=train_fn)
    for (_, method, seed), r in grid_results.items():
      results[(model, preset, method, seed)] = r
      dirs[(model, preset, method, seed)] = grid.run_dir(verdict_dir, model, method, seed)
  return results, dirs, picks


def host_type(dirs: dict) -> str:
  """The one host type every run ran on; ValueError naming the runs that differ."""
  by_host = {}
  for key, path in dirs.items():
    types = environment.run_host_types(path) or {'unrecorded'}
    for t in types:
      by_host.setdefault(t, []).append(path)
  if len(by_host) != 1:
    detail = '; '.join(f'{t}: {len(p)} run(s), e.g. {p[0]}' for t, p in sorted(by_host.items()))
    raise ValueError(f'the verdict runs span {len(by_host)} host types ({detail}); a '
                     'confirmatory family pairs runs of one host type and JAX version only')
  return next(iter(by_host))


def hypothesis_tests(plan, results) -> list[dict]:
  """One row per hypothesis: the mean per-seed difference of plan.METRIC (method -
  baseline, paired by seed), its 95% t-interval, the two-sided paired t-test's p and
  Holm's adjustment over the family. Every verdict seed must have both runs."""
  rows = []
  for h in plan.HYPOTHESES:
    score = lambda method, s: results[(*_setting(h), method, s)][plan.METRIC]
    missing = [s for s in plan.VERDICT_SEEDS for m in (h['method'], h['baseline'])
               if (*_setting(h), m, s) not in results]
    if missing:
      raise ValueError(f"{h['id']}: seeds {sorted(set(missing))} have not run")
    a = np.array([score(h['method'], s) for s in plan.VERDICT_SEEDS])
    b = np.array([score(h['baseline'], s) for s in plan.VERDICT_SEEDS])
    diff, half, sd = mean_ci(a - b)
    rows.append({**h, 'preset': _setting(h)[1], 'metric': plan.METRIC, 'seeds': len(a),
                 'diff': diff, 'sd': sd, 'ci_lo': diff - half, 'ci_hi': diff + half,
                 'p': float(stats.ttest_rel(a, b).pvalue) if np.any(a != b) else 1.0})
  for r, p in zip(rows, report.holm([r['p'] for r in rows])):
    r['p_holm'] = p
  return rows


def load_saved(path) -> dict:
  """A confirmatory.json (written by `write`); ValueError naming the file if it is not one."""
  try:
    with open(path) as f:
      saved = json.load(f)
  except FileNotFoundError:
    raise ValueError(f'{path}: no such file; expected a confirmatory.json') from None
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}: not JSON ({e}); expected a confirmatory.json') from None
  missing = [k for k in ('hypotheses', 'runs') if k not in saved]
  if missing:
    raise ValueError(f'{path}: no {" or ".join(missing)}; expected a confirmatory.json')
  return saved


def _scores(saved: dict, setting, metric) -> dict:
  """{(method, seed): score} of a saved confirmatory.json's runs of one (model, preset)."""
  return {(r['method'], r['seed']): r[metric] for r in saved['runs'] if _setting(r) == setting}


def per_seed_differences(saved: dict) -> dict:
  """{'H1: method − baseline': {seed: difference}} from a saved confirmatory.json: each
  hypothesis's metric, method minus baseline, paired by seed."""
  out = {}
  for h in saved['hypotheses']:
    score = _scores(saved, _setting(h), h['metric'])
    seeds = sorted(s for m, s in score if m == h['method'] and (h['baseline'], s) in score)
    out[f"{h['id']}: {h['method']} − {h['baseline']}"] = {
        s: score[(h['method'], s)] - score[(h['baseline'], s)] for s in seeds}
  return out


def per_seed_table(saved: dict) -> str:
  """Each verdict seed's test score per arm, then each hypothesis's difference (Markdown),
  from a saved confirmatory.json; one table per (model, preset) the hypotheses compare."""
  parts = []
  for setting, methods in arms(saved['hypotheses']).items():
    hypotheses = [h for h in saved['hypotheses'] if _setting(h) == setting]
    metric = hypotheses[0]['metric']
    score = _scores(saved, setting, metric)
    diffs = per_seed_differences({**saved, 'hypotheses': hypotheses}).values()
    columns = [*methods, *(f"{h['method']} − {h['baseline']}" for h in hypotheses)]
    lines = [f"Per seed, {metric} on test ({', '.join(filter(None, setting))}):", '',
             '| seed | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
    for seed in sorted({s for _, s in score}):
      cells = [f'{score[(m, seed)]:.3f}' if (m, seed) in score else '—' for m in methods]
      cells += [f'{d[seed]:+.3f}' if seed in d else '—' for d in diffs]
      lines.append(f'| {seed} | ' + ' | '.join(cells) + ' |')
    parts.append('\n'.join(lines))
  return '\n\n'.join(parts)


def family_title(saved: dict) -> str:
  """'model, preset: metric, n seeds' of a saved confirmatory.json's family."""
  h = saved['hypotheses'][0]
  seeds = len({r['seed'] for r in saved['runs']})
  setting = ', '.join(filter(None, _setting(h)))
  return f"{setting}: {h['metric']}, {seeds} seeds"


def table(rows, selector, host) -> str:
  """The confirmatory table (Markdown): one line per hypothesis."""
  lines = ['| hypothesis | model | preset | comparison | metric | effect (95% CI) | raw p | '
           'Holm p | seeds | selector |', '|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['id']} | {r['model']} | {r['preset'] or '—'} | {r['method']} − "
                 f"{r['baseline']} | {r['metric']} | {r['diff']:+.3f} ({r['ci_lo']:+.3f}, "
                 f"{r['ci_hi']:+.3f}) | {r['p']:.3g} | {r['p_holm']:.3g} | {r['seeds']} | "
                 f'{selector} |')
  lines += ['', f'Hardware: {host}.']
  return '\n'.join(lines)


def arms_table(results) -> str:
  """The scores beside the tests, not tested themselves: per preset, each arm's test
  scores, mean over the verdict seeds with a 95% t-interval (report.summarise)."""
  by_preset = {}
  for (model, preset, method, seed), r in results.items():
    by_preset.setdefault(preset, {})[(model, method, seed)] = r
  parts = []
  for preset, preset_results in sorted(by_preset.items()):
    title = f'Preset `{preset}`, test splits' if preset else 'Test splits'
    parts += [f'{title}, mean over seeds (95% CI):', '',
              report.markdown_table(report.summarise(preset_results)), '']
  return '\n'.join(parts).rstrip()


def write(rows, picks, selector, host, workdir, results) -> str:
  """confirmatory.json (the tests, the picks and every verdict run's final scores) and
  confirmatory.md (the table, the per-seed scores, then the arms' scores) in workdir;
  returns the Markdown."""
  runs = [{'model': model, 'preset': preset, 'method': method, 'seed': seed,
           **{c: r[c] for c in report.COLUMNS if c in r}}
          for (model, preset, method, seed), r in sorted(results.items())]
  saved = {'hypotheses': rows, 'host': host, 'selector': selector,
           'picks': {'/'.join(filter(None, k)): v for k, v in picks.items()}, 'runs': runs}
  text = '\n\n'.join([table(rows, selector, host), per_seed_table(saved),
                       arms_table(results)])
  with open(os.path.join(workdir, 'confirmatory.json'), 'w') as f:
    json.dump(saved, f, indent=1)
  with open(os.path.join(workdir, 'confirmatory.md'), 'w') as f:
    f.write(text + '\n')
  return text
