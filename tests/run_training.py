"""One training process from WORKDIR/config.json: the multi-process and kill/resume tests.

  python tests/run_training.py WORKDIR
With VDA_COORDINATOR, VDA_NUM_PROCESSES and VDA_PROCESS_ID set it joins a
process group (train/distributed.py), like `python -m vda_jax.commands.train` on a pod.
With VDA_TEST_SIGTERM_AT_POLL=N as well, the process sends itself a SIGTERM at
its N-th preemption poll (a build record, a step or an eval record) and gives
JAX's preemption service (which looks once a second) time to spread the notice.
Prints the returned results as JSON on the last line.
"""
import json
import os
import signal
import sys
import time

import jax
from jax.experimental import multihost_utils

from vda_jax.train import checkpoint, distributed, loop


def _sigterm_at(n, reached=multihost_utils.reached_preemption_sync_point):
  def poll(calls):
    if calls == n:
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(3)
    return reached(calls)
  multihost_utils.reached_preemption_sync_point = poll


if __name__ == '__main__':
  if 'VDA_TEST_SIGTERM_AT_POLL' in os.environ:
    _sigterm_at(int(os.environ['VDA_TEST_SIGTERM_AT_POLL']))
  config = checkpoint.load_config(sys.argv[1])
  distributed.initialize(config.distributed)
  print(json.dumps(loop.train_and_evaluate(config, sys.argv[1])), flush=True)
  jax.distributed.shutdown()
