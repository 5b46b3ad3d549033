"""Names taken once, for the registries of models and alignment terms.

A fork's file registers its classes when it runs. One process may run the same file
more than once (as a script and then through --config, or loaded again by a program
that reads its config file twice): a name registered again by the same definition in
the same file takes the new object; by another definition, it is an error.
"""
import os
import sys

_ORIGINS: dict[tuple[int, str], tuple[str, str]] = {}


def register(registry: dict, what: str, name: str, obj):
  """registry[name] = obj; call it from the decorator that the defining file's body
  runs, so that the file is the caller's caller."""
  defined_in = os.path.realpath(sys._getframe(2).f_globals.get('__file__', '?'))
  target = getattr(obj, 'func', obj)   # functools.partial of a class
  origin = (getattr(target, '__qualname__', repr(target)), defined_in)
  key = (id(registry), name)
  if name in registry and _ORIGINS.get(key) != origin:
    raise ValueError(f'{what} {name!r} is already registered ({_ORIGINS[key][0]} in '
                     f'{_ORIGINS[key][1]})')
  registry[name] = obj
  _ORIGINS[key] = origin
  return obj
