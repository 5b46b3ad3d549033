"""The package's import graph: no cycles, and nothing imports a layer above its own."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'vda_jax'

# Lowest first; a module may import its own layer's modules and lower layers only.
LAYERS = (
    ('labels', 'config_arg', 'preemption', 'logs', 'registration'),
    ('data', 'models', 'adversarial'),
    ('eval',),
    ('train.state', 'train.step', 'train.sharding', 'train.distributed', 'train.profiling',
     'train.metrics_writer', 'train.checkpoint', 'train.environment', 'train.workdir_lock'),
    ('train.experiment',),
    ('train.loop',),
    ('processes', 'plots', 'analysis', 'segment', 'grid', 'configs'),
    ('report', 'selection'),
    ('confirmatory',),
    ('commands',),
)


def _module(path):
  """'train.step'; a package's __init__ is the package ('' for vda_jax, the public API)."""
  parts = path.relative_to(PACKAGE).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports():
  graph = {}
  for path in PACKAGE.rglob('*.py'):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('vda_jax'):
        names |= {f'{node.module}.{a.name}' for a in node.names}
      elif isinstance(node, ast.Import):
        names |= {a.name for a in node.names if a.name.startswith('vda_jax')}
    graph[_module(path)] = {_owner(n.removeprefix('vda_jax.')) for n in names}
  return graph


def _owner(name):
  """The module an imported name lives in: the longest module path it starts with."""
  modules = {_module(p) for p in PACKAGE.rglob('*.py')} - {''}
  return max((m for m in modules if name == m or name.startswith(m + '.')), key=len)


def _layer(module):
  for i, layer in enumerate(LAYERS):
    if any(module == p or module.startswith(p + '.') for p in layer):
      return i
  raise AssertionError(f'vda_jax.{module} is in no layer of tests/test_layout.py')


def test_no_module_imports_a_layer_above_its_own():
  graph = _imports()
  upward = sorted(f'{a} -> {b}' for a, deps in graph.items() if a for b in deps
                  if _layer(b) > _layer(a))
  assert not upward


def test_the_import_graph_has_no_cycles():
  graph, done, path = _imports(), set(), []

  def visit(node):
    assert node not in path, ' -> '.join(path[path.index(node):] + [node])
    if node in done:
      return
    path.append(node)
    for dep in sorted(graph.get(node, ())):
      if dep != node:
        visit(dep)
    path.pop()
    done.add(node)

  for node in sorted(graph):
    visit(node)
