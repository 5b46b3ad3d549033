"""One live run per workdir: the run's process 0 holds an exclusive lock on WORKDIR/.lock.

  with workdir_lock.hold(workdir):   # WorkdirHeld at once if another live run holds it
    ...                              # train, log, checkpoint

The lock is `fcntl.flock`, so the OS drops it when the holder dies, even by SIGKILL: a
crashed run never blocks its own resume. The file keeps the holder's host, pid and start
time for the message a second launch prints. A run of several processes locks once, on
process 0, and every process of the launch learns the outcome (see train.loop).

Where it cannot guard: `flock` is local to one machine on NFS mounts without lock support
(`nolock`) and on GCS FUSE; `gs://` and other remote paths have no locks at all, so there
the lock is skipped with a warning and the launcher must start one job per workdir.
"""
import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import time

LOCK_FILE = '.lock'
POLL_SECONDS = 5.0  # how often a waiting grid looks again


class WorkdirHeld(OSError):
  """Another live process holds the workdir."""


def _remote(workdir: str) -> bool:
  return '://' in workdir


def _describe(workdir: str, holder: str) -> str:
  try:
    who = json.loads(holder)
    since = f", since {who['since']}" if who.get('since') else ''
    return f"host {who['host']}, pid {who['pid']}{since}"
  except (ValueError, KeyError, TypeError):
    return 'a process that left no record'


def _try_lock(path: str):
  """(fd, None) holding the lock on `path`, or (None, holder's record) if another holds it."""
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno not in (errno.EAGAIN, errno.EACCES):
      os.close(fd)
      raise
    with open(path) as f:
      holder = f.read()
    os.close(fd)
    return None, holder
  return fd, None


@contextlib.contextmanager
def hold(workdir: str):
  """Holds `workdir` for the body; WorkdirHeld (one line: the holder and the fix) if another
  live process holds it. Writes nothing into a held workdir."""
  if _remote(workdir):
    logging.warning('%s: a remote workdir has no lock; start one run per workdir', workdir)
    yield
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  fd, holder = _try_lock(path)
  if fd is None:
    raise WorkdirHeld(f'{workdir} is in use by a live run ({_describe(workdir, holder)}; '
                      f'{path}): wait for it to finish, or stop that process')
  try:
    since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({'host': socket.gethostname(), 'pid': os.getpid(),
                             'since': since}).encode())
    yield
  finally:
    os.close(fd)  # releases the lock; the record stays, read only while a lock is held


def holder(workdir: str) -> str | None:
  """The live holder of `workdir`, described, or None if no live process holds it."""
  path = os.path.join(workdir, LOCK_FILE)
  if _remote(workdir) or not os.path.exists(path):
    return None
  fd, record = _try_lock(path)
  if fd is not None:
    os.close(fd)
    return None
  return _describe(workdir, record)


def wait_until_free(workdir: str):
  """Returns once no live process holds `workdir`."""
  while holder(workdir) is not None:
    time.sleep(POLL_SECONDS)
