"""Runs side by side in spawned processes: same results, failures named, SIGTERM passed on."""
import os
import signal
import threading
import time

import pytest

from vda_jax import preemption, processes


def square(x, marker_dir):
  open(os.path.join(marker_dir, f'started{x}'), 'w').close()
  if x == 3:
    raise ValueError('three is not allowed')
  return {'x': x, 'square': x * x, 'pid': os.getpid()}


def wait_for_notice(x, marker_dir):
  with preemption.watch() as preempted:
    open(os.path.join(marker_dir, f'started{x}'), 'w').close()
    deadline = time.time() + 60  # a notice that never comes fails the test, not hangs it
    while not preempted():
      if time.time() > deadline:
        return {'x': x}
      time.sleep(0.05)
  raise preemption.Interrupted(f'run {x} stopped at its notice')


def test_results_come_back_in_the_jobs_order_each_from_its_own_process(tmp_path):
  jobs = {('m', s): (s, str(tmp_path)) for s in (2, 0, 1)}
  out = processes.run_all(jobs, square, parallel=2)
  assert list(out) == list(jobs)
  assert [r['square'] for r in out.values()] == [4, 0, 1]
  assert os.getpid() not in {r['pid'] for r in out.values()}


def test_a_failure_is_named_and_no_new_run_starts_after_it(tmp_path):
  jobs = {s: (s, str(tmp_path)) for s in (3, 4, 5, 6)}
  with pytest.raises(RuntimeError,
                     match=r'the run 3 failed:\n(.|\n)*ValueError: three is not allowed'):
    processes.run_all(jobs, square, parallel=1)
  assert sorted(os.listdir(tmp_path)) == ['started3']


def test_a_sigterm_reaches_the_running_runs_and_stops_the_rest(tmp_path):
  jobs = {s: (s, str(tmp_path)) for s in (0, 1, 2)}

  def notice_once_two_run():
    while len(os.listdir(tmp_path)) < 2:
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)  # to this (the parent) process only

  threading.Thread(target=notice_once_two_run, daemon=True).start()
  with pytest.raises(preemption.Interrupted,
                     match='run 0 stopped.*run 1 stopped|run 1 stopped.*run 0'):
    processes.run_all(jobs, wait_for_notice, parallel=2)
  assert sorted(os.listdir(tmp_path)) == ['started0', 'started1']  # run 2 never started
