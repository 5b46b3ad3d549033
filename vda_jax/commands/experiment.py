r"""Trains a grid (models x methods x seeds) on one config; writes the results table,
the gap analysis, the domain probe and plots.

A small SegFormer grid (about 30 minutes on a 2-core CPU):
  vda-experiment --workdir=runs/grid --models=segformer \
      --methods=source_only,adversarial,clustered,upper_bound --seeds=0,1,2 \
      --set train.steps=300 --analysis
The full grid (hours on CPU):
  vda-experiment --workdir=runs/full --models=cnn2d,cnn3d,segformer,segformer_st \
      --methods=source_only,adversarial,clustered,adaptsegnet,minent,cdan,upper_bound \
      --seeds=0,1,2 --analysis

The verdict grid on the photometric preset, each method with the fields DEV chose
(vda-select), 5 seeds (hours on CPU):
  vda-experiment --workdir=runs/verdict_photometric --arg=preset=photometric \
      --models=cnn2d,segformer --seeds=0,1,2,3,4 \
      --methods=source_only,adversarial,clustered,paper,adaptsegnet,minent,cdan,upper_bound \
      --selection=runs/select_photometric/selection.json --selector=dev

`python scripts/experiment.py` is the same program in a checkout. Re-running with
the same workdir skips finished runs (their logged final scores
are used) and resumes unfinished ones from their last checkpoint.
"""
from absl import flags

from vda_jax import commands, grid, report

flags.DEFINE_string('config', 'embedded', 'Config file with get_config(arg), or a packaged '
                    "config's name.")
flags.DEFINE_string('workdir', 'runs/default', 'One sub-directory per run goes here.')
flags.DEFINE_list('models', [], "Values of the model= config arg (default: the config's own).")
flags.DEFINE_list('methods', ['source_only', 'adversarial'], 'Values of the method= config arg.')
flags.DEFINE_list('seeds', ['0'], 'Run seeds.')
flags.DEFINE_multi_string('set', [], 'Override applied to every run, e.g. train.steps=800.')
flags.DEFINE_string('arg', '', "Extra config args for every run, e.g. 'preset=photometric'.")
flags.DEFINE_string('selection', '', 'selection.json of vda-select: each method runs with the '
                    'fields chosen there.')
flags.DEFINE_enum('selector', 'dev', ['dev', 'oracle'], 'Which choice of --selection to use.')
commands.define_parallel_flag()
flags.DEFINE_bool('analysis', False, 'Also the artifact gap analysis and the domain probe.')
flags.DEFINE_bool('plots', True, 'Write results.png and curves.png.')


def main(argv):
  del argv
  f = flags.FLAGS
  seeds = [int(s) for s in f.seeds]
  selected = grid.load_selection(f.selection, f.selector) if f.selection else None
  config = commands.config_path(f.config)
  models = f.models or grid.default_models(config, f.arg)
  results = grid.run_grid(config, f.workdir, models, f.methods, seeds, f.set, arg=f.arg,
                          selected=selected, parallel=f.parallel)
  rows = report.summarise(results)
  report.write_reports(rows, results, f.workdir)
  print(report.markdown_table(rows))
  paired = report.verdict_tests(results)
  if paired:
    with open(f'{f.workdir}/paired.md', 'w') as out:
      out.write(report.paired_table(paired) + '\n')
    print(report.paired_table(paired))
  configs = grid.grid_configs(config, models, f.methods, seeds, f.set, f.arg, selected)
  if f.plots:
    from vda_jax import plots  # pylint: disable=g-import-not-at-top
    data = next(iter(configs.values())).data.name
    plots.results_figure(rows, f'{f.workdir}/results.png', f'{data} data')
    plots.curves_figure({'/'.join(map(str, k)): grid.run_dir(f.workdir, *k) for k in results},
                        f'{f.workdir}/curves.png')
    for model, examples in report.example_frames(configs, f.workdir).items():
      plots.examples_figure(examples, f'{f.workdir}/examples_{model}.png',
                            f'{data} data, {model}, test frames (seed {seeds[0]})')
  if f.analysis:
    analysis_md = report.analyse(configs, f.workdir)
    with open(f'{f.workdir}/analysis.md', 'w') as out:
      out.write(analysis_md)
    print(analysis_md)
  written = ['results.md/.csv/.json'] + (['paired.md'] if paired else [])
  written += ['results.png', 'curves.png', 'examples_<model>.png'] if f.plots else []
  written += ['analysis.md'] if f.analysis else []
  print(f'written to {f.workdir}/: {", ".join(written)}')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
