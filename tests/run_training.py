"""One training process from WORKDIR/config.json: the multi-process and kill/resume tests.

  python tests/run_training.py WORKDIR
With VDA_COORDINATOR, VDA_NUM_PROCESSES and VDA_PROCESS_ID set it joins a
process group (train/distributed.py), like `python -m vda_jax.main` on a pod.
Prints the returned results as JSON on the last line.
"""
import json
import sys

import jax

from vda_jax.train import distributed, loop
from vda_jax.train import checkpoint

if __name__ == '__main__':
  config = checkpoint.load_config(sys.argv[1])
  distributed.initialize(config.distributed)
  print(json.dumps(loop.train_and_evaluate(config, sys.argv[1])), flush=True)
  jax.distributed.shutdown()
