"""Seeing where a run's time goes: a jax.profiler trace of a window of steps, and the
persistent XLA compilation cache that spares a restarted run its compile."""
import contextlib
import logging
import os

import jax


def parse_window(spec: str) -> tuple[int, int] | None:
  """config.train.profile_steps: 'START:STOP' -> (START, STOP), the steps START..STOP-1;
  '' -> None (no trace)."""
  if not spec:
    return None
  start, sep, stop = spec.partition(':')
  try:
    window = int(start), int(stop)
  except ValueError:
    window = None
  if not sep or window is None or not 0 < window[0] < window[1]:
    raise ValueError(f"config.train.profile_steps={spec!r}; expected 'START:STOP' with "
                     '0 < START < STOP (steps count from 1)')
  return window


@contextlib.contextmanager
def trace_window(spec: str, logdir: str):
  """Yields `at(step, outputs=None)`: call it before each step (it starts the trace at
  START) and after it with the step's outputs (it waits for them and stops the trace
  after STOP-1). The trace goes to `logdir` (TensorBoard's profile plugin, XProf)."""
  window = parse_window(spec)
  tracing = []

  def at(step, outputs=None):
    if window is None:
      return
    if outputs is None and step == window[0] and not tracing:
      jax.profiler.start_trace(logdir)
      tracing.append(step)
    elif outputs is not None and tracing and step >= window[1] - 1:
      jax.block_until_ready(outputs)
      jax.profiler.stop_trace()
      tracing.clear()
      logging.warning('profile of steps %d-%d written to %s', window[0], step, logdir)

  try:
    yield at
  finally:
    if tracing:  # the run stopped inside the window (preemption, error)
      jax.profiler.stop_trace()


def enable_compile_cache(path: str) -> None:
  """Turns on JAX's persistent compilation cache in `path` (local or gs://; '' = leave
  JAX's setting alone), so a restarted run loads its compiled step instead of compiling."""
  if not path:
    return
  path = path if '://' in path else os.path.expanduser(path)
  jax.config.update('jax_compilation_cache_dir', path)
