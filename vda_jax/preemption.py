"""Preemption notices (SIGTERM): one poll shared by dataset builds, training steps and
evaluations, so a run acts on a notice within one record or step.

`watch()` makes its poll the active one for the duration of the block: the train
loop polls each step, `checked()` polls before each evaluation record and each
record a build writes, wherever they are called from, so no function in between
carries a parameter for it. Outside a `watch()` nothing is polled. Every process
must poll at the same points so that, on several processes, they all see the
notice at the same call.
"""
import contextlib
import signal
import threading

import jax
from jax.experimental import multihost_utils
import numpy as np


class Interrupted(Exception):
  """A preemption notice arrived during an evaluation or a dataset build."""


_ACTIVE = []   # the polls of the open watch() blocks, innermost last


def poll() -> bool:
  """True once a SIGTERM asked the run to stop; False outside a `watch()` block."""
  return bool(_ACTIVE) and bool(_ACTIVE[-1]())


def checked(items):
  """`items`, polling before each one; Interrupted once a notice has arrived."""
  for item in items:
    if poll():
      raise Interrupted('preemption notice')
    yield item


class _SyncPoints:
  """JAX's preemption sync point over a call counter. On a notice the processes agree
  on the call number max(their counts) + 1 and each stops when it makes that call,
  so all stop at the same training step or evaluation record, and the collective
  save that follows waits on no process that left."""

  def __init__(self):
    self.calls = 0

  def __call__(self):
    self.calls += 1
    return multihost_utils.reached_preemption_sync_point(self.calls)


def share_count(interrupted):
  """After a build that only process 0 ran (and polled): every process takes process
  0's call count and its verdict; True if the build was interrupted. A collective."""
  preempted = _ACTIVE[-1] if _ACTIVE and isinstance(_ACTIVE[-1], _SyncPoints) else None
  calls, interrupted = multihost_utils.broadcast_one_to_all(
      np.array([preempted.calls if preempted else 0, interrupted], np.int32))
  if preempted:
    preempted.calls = int(calls)
  return bool(interrupted)


@contextlib.contextmanager
def watch():
  """Makes `poll()` live in the block and yields it: True once a SIGTERM asked the run
  to stop.

  One process: our SIGTERM handler sets a flag. Several: JAX's preemption service
  has caught SIGTERM since jax.distributed.initialize and the processes agree on a
  call at which to stop (`_SyncPoints`); Orbax must then not call the sync point
  itself with other numbers (see train.checkpoint.manager).
  """
  with _signal_poll() as preempted:
    _ACTIVE.append(preempted)
    try:
      yield poll
    finally:
      _ACTIVE.pop()


@contextlib.contextmanager
def _signal_poll():
  if jax.process_count() > 1:
    yield _SyncPoints()
    return
  if threading.current_thread() is not threading.main_thread():  # only it may take signals
    yield lambda: False
    return
  received = []
  previous = signal.signal(signal.SIGTERM, lambda *_: received.append(True))
  try:
    yield lambda: bool(received)
  finally:
    signal.signal(signal.SIGTERM, previous)
