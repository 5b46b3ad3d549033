"""The command-line programs, installed as console scripts (pyproject.toml):

  vda-train        vda_jax.commands.train         one training run
  vda-segment      vda_jax.commands.segment       segment a video with a trained run
  vda-experiment   vda_jax.commands.experiment    a grid of runs and its report
  vda-select       vda_jax.commands.select        model selection (oracle and DEV)
  vda-confirm      vda_jax.commands.confirm       a pre-registered confirmatory plan
  vda-convert-mit  vda_jax.commands.convert_mit   MiT weights (.pth/.safetensors) -> .npz

`--config=` takes a config file's path, or the name of a packaged one
(`embedded`, `configs/real.py`, ...) so an installed vda_jax needs no checkout.
Bad input (a missing file, a bad flag, config field or data layout) is one
line on stderr naming the problem and exit status 2; VDA_TRACEBACK=1 shows
the traceback instead. A run stopped by SIGTERM (a preemption notice) saves,
says so on stderr and exits with status 143, as a process the signal ended
would; the same command resumes.
"""
import os
import pathlib
import sys

from absl import app, flags

from vda_jax import logs, preemption

# Input errors: DataError (bad data) is a ValueError; KeyError is a config field
# that does not exist.
BAD_INPUT = (ValueError, KeyError, OSError)
# vda_jax/configs: the repository's configs/ (a link in a checkout, a copy when installed).
CONFIGS = pathlib.Path(__file__).resolve().parent.parent / 'configs'


def config_path(spec: str) -> str:
  """'PATH[:args]' with PATH a file that exists: as given, else the packaged config of
  that name ('embedded', 'configs/real.py', 'vda_jax/configs/pod.py', ...)."""
  path, colon, arg = spec.partition(':')
  if os.path.isfile(path):
    return spec
  name = pathlib.Path(path).name
  packaged = CONFIGS / (name if name.endswith('.py') else f'{name}.py')
  if packaged.is_file():
    return str(packaged) + colon + arg
  known = sorted(p.stem for p in CONFIGS.glob('*.py') if not p.stem.startswith('_'))
  raise FileNotFoundError(f'--config={spec}: {path} is not a file, nor a packaged config '
                          f'(known: {", ".join(known)})')


def define_parallel_flag():
  """--parallel of the commands that train many runs (grid.train_all)."""
  flags.DEFINE_integer('parallel', 1, 'Runs trained at once, each in its own process (2 on a '
                       '2-core CPU host: 1.3x sooner; tiny models share an accelerator too: 12 '
                       'segformer '
                       'runs side by side on one H100, docs/results.md).')


def _fail(prog, error):
  # A KeyError's str() is its repr; ml_collections wraps one in an AttributeError for
  # a --config.x.y override of a field that is not there.
  prefix = 'no such config field: ' if isinstance(error, AttributeError) else ''
  while isinstance(error, (KeyError, AttributeError)) and error.args:
    error = error.args[0]
  message = prefix + str(error)
  lines = message.strip().splitlines() or ['']
  if any(line.startswith('Traceback') for line in lines):
    # ml_collections quotes the config file's traceback: its first and last lines say it all.
    lines = [lines[0].split('Traceback')[0], lines[-1]]
  print(f'{prog}: error: {" ".join(" ".join(lines).split())}', file=sys.stderr)
  sys.exit(2)


def usage(main) -> str:
  """The program's docstring, then its own flags with their help text (absl's --help lists
  only the flags of sys.argv[0]'s module, which a console script's wrapper is not)."""
  module = sys.modules[main.__module__]
  # module_help starts with the module's name on a line of its own.
  own = [flags.FLAGS.module_help(m).strip().partition('\n')[2]
         for m in (module, sys.modules[__name__])]
  return '\n\n'.join([(module.__doc__ or '').strip(), 'flags:\n' + '\n'.join(filter(None, own))])


def run(main):
  """absl's app.run(main) with packaged configs, one-line errors and exit status 2, and
  only warnings logged unless --verbosity is given."""
  prog = os.path.basename(sys.argv[0])
  if any(a in ('--help', '-h', '--helpshort', '-?') for a in sys.argv[1:]):
    print(usage(main))
    sys.exit(0)
  debug = bool(os.environ.get('VDA_TRACEBACK'))
  try:
    argv = [f'--config={config_path(a[len("--config="):])}' if a.startswith('--config=') else a
            for a in sys.argv]
  except FileNotFoundError as e:
    _fail(prog, e)

  def parse(args):
    try:
      return flags.FLAGS(args)
    except (flags.Error, AttributeError) as e:
      if debug:
        raise
      _fail(prog, e)

  def quiet_main(args):
    if not flags.FLAGS['verbosity'].present:
      logs.quiet_third_party()
    return main(args)

  try:
    app.run(quiet_main, argv=argv, flags_parser=parse)
  except preemption.Interrupted as e:
    print(f'{prog}: {e}', file=sys.stderr)
    sys.exit(128 + 15)  # the shell's status for a process ended by SIGTERM
  except BAD_INPUT as e:
    if debug:
      raise
    _fail(prog, e)
