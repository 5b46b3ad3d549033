"""What the programs log: vda_jax's own warnings, the libraries' errors, nothing else.

  logs.quiet_third_party()   # the programs' default; --verbosity=N skips it

Orbax logs every save at INFO, TFDS warns 'Using custom data configuration' for every
builder it makes: left on, they bury the table a program prints last.
"""
import logging as python_logging
import os

from absl import logging


def _vda_jax_or_error(record: python_logging.LogRecord) -> bool:
  return (record.levelno >= python_logging.ERROR
          or f'{os.sep}vda_jax{os.sep}' in record.pathname)


def quiet_third_party():
  """Logs at WARNING and above, and only vda_jax's own records below ERROR, whether a
  library logs through absl or Python's logging (both reach absl's handler)."""
  logging.set_verbosity(logging.WARNING)
  logging.use_absl_handler()  # a spawned run has not been through absl.app
  handler = logging.get_absl_handler()
  if _vda_jax_or_error not in handler.filters:
    handler.addFilter(_vda_jax_or_error)


def is_quiet() -> bool:
  """Whether quiet_third_party() is in force in this process (a spawned run inherits it)."""
  return _vda_jax_or_error in logging.get_absl_handler().filters
