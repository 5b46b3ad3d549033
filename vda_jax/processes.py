"""Training several runs at once, each in its own process.

On a CPU host one run's step leaves cores idle (the tiny models' small
convolutions do not keep XLA's threads busy), so two runs side by side finish
sooner than one after the other (docs/benchmarks.md). Each run is a fresh
*spawned* process (JAX's runtime must not be forked) that trains exactly as it
would alone. A SIGTERM to this process is passed on to the runs, which
checkpoint and stop as they would on their own notice.
"""
import multiprocessing
import queue as queue_lib
import signal
import traceback

from vda_jax import logs, preemption


def _train_one(results, key, train, args, quiet):
  """A child: results.put((key, outcome, failure)); failure is (interrupted, message)."""
  if quiet:
    logs.quiet_third_party()
  try:
    results.put((key, train(*args), None))
  except preemption.Interrupted as e:
    results.put((key, None, (True, str(e))))
  except BaseException:  # pylint: disable=broad-except  # the parent reports it
    results.put((key, None, (False, f'the run {key} failed:\n{traceback.format_exc()}')))


def run_all(jobs, train, parallel, on_start=None):
  """{key: train(*args)} for jobs {key: args}, `parallel` processes at a time, in the
  jobs' order. Once a run fails no new one starts; the others finish, then
  preemption.Interrupted (if a SIGTERM stopped them) or RuntimeError with each
  failed run's traceback. `train` and `args` must pickle (a module-level function)."""
  context = multiprocessing.get_context('spawn')
  results = context.Queue()
  quiet = logs.is_quiet()
  pending, running, done, failures = list(jobs.items()), {}, {}, []
  with preemption.watch() as preempted:
    forwarded = False
    while running or (pending and not failures and not forwarded):
      while pending and not failures and not forwarded and len(running) < parallel:
        key, args = pending.pop(0)
        if on_start:
          on_start(key)
        running[key] = context.Process(target=_train_one, args=(results, key, train, args, quiet))
        running[key].start()
      try:
        key, outcome, failure = results.get(timeout=0.5)
        running.pop(key).join()  # after the get: a child exits once its result is sent
        if failure:
          failures.append(failure)
        else:
          done[key] = outcome
      except queue_lib.Empty:
        for key, process in list(running.items()):
          if process.exitcode not in (None, 0):  # killed before it could send anything
            running.pop(key)
            stopped = forwarded and process.exitcode == -signal.SIGTERM
            failures.append((stopped, f'the run {key} ended with exit code {process.exitcode}'))
      if preempted() and not forwarded:
        for process in running.values():
          process.terminate()  # SIGTERM: each run checkpoints and stops
        forwarded = True
  if failures or len(done) < len(jobs):
    if all(interrupted for interrupted, _ in failures):
      raise preemption.Interrupted('; '.join(m for _, m in failures) or 'preemption notice')
    raise RuntimeError('\n'.join(m for _, m in failures))
  return {key: done[key] for key in jobs}
