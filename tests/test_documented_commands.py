"""Every command in the README's and the docs' ```bash blocks: run by a test, and parsed by
its program's own flags and config fields, so a renamed flag or field fails here."""
import ast
import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT, program_env, tiny_overrides
from vda_jax import plots
from vda_jax.config_arg import load_config_module

DOCS = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]

# Each program, and the test that runs it end to end (a few steps, small data). '.ci/run'
# is the suite itself. Commands of one program share its test.
RUN_BY = {
    'scripts/main.sh': ('test_grid.py',
        'test_experiment_script_trains_reports_and_then_skips_finished_runs'),
    'scripts/test.sh': '.ci/run',
    'scripts/setup.sh': '.ci/run',
    '.ci/run': '.ci/run',
    'scripts/real_mini.sh': ('test_real_mini.py',
        'test_real_mini_builds_and_a_short_grid_trains_scores_and_draws'),
    'scripts/real_davis.sh': ('test_real_davis.py',
        'test_real_photos_and_frames_build_and_a_few_steps_train_and_score'),
    'scripts/launch_tpu_pod.sh': ('test_launch.py',
        'test_tpu_pod_dry_run_creates_copies_trains_on_every_worker_and_deletes'),
    'scripts/launch_multi_gpu.sh': ('test_launch.py',
        'test_multi_gpu_dry_run_gives_each_host_its_process_id'),
    'scripts/benchmark.py': ('test_benchmark.py',
        'test_benchmark_script_prints_the_pipeline_and_scaling_tables'),
    'vda-train': ('test_documented_commands.py',
        'test_the_fork_example_trains_from_its_own_command'),
    'examples/coral.py': ('test_documented_commands.py',
        'test_the_fork_example_trains_from_its_own_command'),
    'examples/tiny_unet.py': ('test_examples.py',
        'test_the_fork_backbone_trains_from_its_own_command'),
    'vda-experiment': ('test_grid.py',
        'test_experiment_script_trains_reports_and_then_skips_finished_runs'),
    'vda-select': ('test_confirmatory.py',
        'test_vda_confirm_runs_a_plan_then_skips_every_run'),
    'vda-confirm': ('test_confirmatory.py',
        'test_vda_confirm_runs_a_plan_then_skips_every_run'),
    'vda-segment': ('test_segment.py',
        'test_segment_command_on_a_real_mp4'),
    'vda-depthwise': ('test_depthwise.py',  # python -m benchmarks.depthwise
        'test_the_benchmark_prints_one_row_per_layer_shape_and_a_total'),
    'vda-convert-mit': ('test_pretrained.py',
        'test_converted_mit_checkpoint_reproduces_the_pytorch_network'),
}
# Programs whose --flags (and config overrides) the parse test checks, by module.
FLAG_PARSED = {'vda-train': 'train', 'examples/coral.py': 'train',
               'examples/tiny_unet.py': 'train', 'vda-experiment': 'experiment',
               'vda-select': 'select', 'vda-confirm': 'confirm', 'vda-segment': 'segment',
               'vda-convert-mit': 'convert_mit'}
SCRIPT_PROGRAMS = {'scripts/experiment.py': 'vda-experiment',
                   'scripts/model_selection.py': 'vda-select',
                   'scripts/convert_mit_weights.py': 'vda-convert-mit'}
SHELL = {'git', 'cd', 'mkdir', 'ln', 'for', 'done', 'wait', 'tensorboard'}


def _blocks(path):
  """(first line number, lines, needs) of each ```bash block; needs: its '# needs:' text."""
  lines, blocks, start = path.read_text().splitlines(), [], None
  for i, line in enumerate(lines):
    if line.strip() == '```bash':
      start = i + 1
    elif line.strip() == '```' and start is not None:
      body = lines[start:i]
      needs = next((b.split('# needs:', 1)[1].strip() for b in body if '# needs:' in b), '')
      blocks.append((start + 1, body, needs))
      start = None
  return blocks


def _simple_commands(body):
  """The block's simple commands as token lists, continuations joined, comments and
  variables ($S) resolved."""
  text = re.sub(r'\$\([^)]*\)', 'X', '\n'.join(body).replace('\\\n', ' '))
  variables, out = {}, []
  for line in text.splitlines():
    lexer = shlex.shlex(line, posix=True, punctuation_chars=';&|')
    lexer.whitespace_split, lexer.commenters = True, '#'
    command = []
    for token in [*lexer, ';']:
      if token in (';', '&', '&&', '|', '||'):
        if len(command) == 1 and re.fullmatch(r'\w+=.*', command[0]):
          name, _, value = command[0].partition('=')
          variables[name] = value
        elif command:
          out.append(command)
        command = []
      else:
        for name, value in variables.items():
          token = token.replace('${' + name + '}', value).replace('$' + name, value)
        command.append(token)
  return out


def _program(command):
  """(program, argv after it), or (None, None) for shell plumbing."""
  while command and (re.fullmatch(r'\w+=.*', command[0]) or command[0] in ('time', 'do')):
    command = command[1:]
  head = command[0]
  name = pathlib.PurePath(head).name
  if head in SHELL:
    return None, None
  if head == 'bash':
    return command[1], command[2:]
  if head.endswith('.sh'):
    return head, command[1:]
  if name.startswith('vda-'):
    return name, command[1:]
  if name.startswith('python'):
    if command[1] == '-m':
      return 'vda-' + command[2].rpartition('.')[2].replace('_', '-'), command[3:]
    if command[1] in ('-', '-c'):
      return 'python snippet', []
    return SCRIPT_PROGRAMS.get(command[1], command[1]), command[2:]
  return head, command[1:]


def documented_commands():
  """[(where, program, argv, needs)] of every command in the docs' bash blocks."""
  found = []
  for path in DOCS:
    for line, body, needs in _blocks(path):
      for command in _simple_commands(body):
        program, argv = _program(command)
        if program:
          found.append((f'{path.relative_to(ROOT)}:{line}', program, argv, needs))
  return found


def _test_exists(node):
  path, name = node
  tree = ast.parse((ROOT / 'tests' / path).read_text())
  return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def test_the_parser_reads_continuations_variables_comments_and_loops():
  body = ['S=../data', '.venv/bin/vda-train --config=a.py \\', '    --x=$S/b   # why',
          'for i in 1 2; do python scripts/benchmark.py --steps=4 & done; wait',
          'CI=true V=$(mktemp -d) time bash .ci/run -m "not slow"']
  commands = [_program(c) for c in _simple_commands(body)]
  assert [c for c in commands if c[0]] == [
      ('vda-train', ['--config=a.py', '--x=../data/b']),
      ('scripts/benchmark.py', ['--steps=4']), ('.ci/run', ['-m', 'not slow'])]


def test_every_documented_command_is_run_by_a_test():
  commands = documented_commands()
  assert len(commands) > 20 and {p for _, p, _, _ in commands} >= {
      'scripts/main.sh', 'scripts/test.sh', 'vda-train', 'examples/coral.py', 'vda-select',
      'vda-experiment', 'vda-confirm', 'vda-segment'}
  unrun = [f'{where}: {program}' for where, program, _, needs in commands
           if program not in RUN_BY and not needs]
  assert not unrun, 'documented commands no test runs (add one, or mark the block # needs:)'
  missing = {n for n in RUN_BY.values() if n != '.ci/run' and not _test_exists(n)}
  assert not missing


# A program's flags are defined when its module is imported, and ml_collections reads the
# --config.x.y overrides from sys.argv then: each command reloads the module under its argv.
_PARSE = '''
import importlib, json, sys
from absl import flags
from vda_jax import commands, grid
name, absl_flags, program, failures = sys.argv[1], set(flags.FLAGS), None, []
for where, argv in json.loads(sys.stdin.read()):
  sys.argv = ['prog'] + [f'--config={commands.config_path(a[9:])}' if a.startswith('--config=')
                         else a for a in argv]
  try:
    for flag in set(flags.FLAGS) - absl_flags:
      delattr(flags.FLAGS, flag)
    program = (importlib.reload(program) if program
               else importlib.import_module('vda_jax.commands.' + name))
    rest = flags.FLAGS(sys.argv)  # vda-train's config file and overrides load here
    if rest[1:]:
      raise ValueError(f'arguments no flag takes: {rest[1:]}')
    f = flags.FLAGS
    if name in ('experiment', 'select'):
      config = commands.config_path(f.config)
      models = f.models or grid.default_models(config, f.arg)
      seeds = [int(s) for s in f.seeds] if name == 'experiment' else [f.seed]
      grid.grid_configs(config, models, f.methods, seeds, f.set, f.arg, None)
    if name == 'confirm':
      from vda_jax import confirmatory
      confirmatory.load_plan(commands.config_path(f.plan))
  except Exception as e:  # pylint: disable=broad-except
    failures.append(f'{where}: {type(e).__name__}: {e}')
print(json.dumps(failures))
'''


@pytest.mark.parametrize('module', sorted(set(FLAG_PARSED.values())))
def test_documented_commands_parse_with_their_programs_flags_and_config_fields(module):
  argvs = [(where, ([f'--config={program}'] if program.startswith('examples/') else []) + argv)
           for where, program, argv, _ in documented_commands()
           if FLAG_PARSED.get(program) == module]
  if not argvs:
    pytest.skip(f'no documented command of vda_jax.commands.{module}')
  done = subprocess.run([sys.executable, '-c', _PARSE, module], input=json.dumps(argvs),
                        capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow  # a subprocess end to end; test_examples.py steps the term in process
def test_the_fork_example_trains_from_its_own_command(tmp_path, data_dir, registries_kept):
  """`python examples/coral.py --workdir=... --config.train.steps=2`, its docstring's first
  command, on the tiny benchmark."""
  workdir = tmp_path / 'coral'
  done = subprocess.run(
      [sys.executable, 'examples/coral.py', f'--workdir={workdir}',
       *[f'--config.{o}' for o in tiny_overrides(data_dir)]],
      cwd=ROOT, capture_output=True, text=True, timeout=600, env=program_env())
  assert done.returncode == 0, done.stderr[-3000:]
  logged = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert any(r.get('coral_loss/stem', 0) > 0 for r in logged)
  # The fork's loss is drawn beside the package's own alignment losses, by a process that
  # imported the fork's file (its term is registered there, not by the package).
  load_config_module(str(ROOT / 'examples' / 'coral.py'))
  titles = plots.curves_figure({'coral': str(workdir)}, tmp_path / 'curves.png',
                               keys=('sup_loss',))
  assert titles == ['sup_loss', 'alignment losses']
  results = json.loads(done.stdout[done.stdout.rindex('\n{'):])  # vda-train prints them last
  assert 0 <= results['video/mIoU'] <= 1 and 0 <= results['image/mIoU'] <= 1
