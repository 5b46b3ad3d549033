r"""Segments a video file or a folder of frames with a trained run.

  vda-segment --checkpoint=runs/adv --input=clip.mp4 --output=out/clip
  vda-segment --checkpoint=runs/adv --input=DAVIS/JPEGImages/480p/blackswan \
      --ground_truth=DAVIS/Annotations/480p/blackswan --output=out/blackswan

What it writes: vda_jax/segment.py.
"""
import json

from absl import flags
import jax

from vda_jax import commands
from vda_jax.segment import OVERLAYS, segment_with_run

flags.DEFINE_string('checkpoint', None, 'Workdir of a training run (config.json + checkpoints/).')
flags.DEFINE_string('input', None, 'A video file or a folder of frame images.')
flags.DEFINE_string('output', None, 'New folder for masks/, overlay and scores.json.')
flags.DEFINE_string('ground_truth', None, 'Folder of DAVIS PNG masks, one per frame (optional).')
flags.DEFINE_enum('overlay', 'mp4', OVERLAYS, 'Overlay video format.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
flags.mark_flags_as_required(['checkpoint', 'input', 'output'])


def main(argv):
  del argv
  f = flags.FLAGS
  scores = segment_with_run(f.checkpoint, f.input, f.output, step=f.step,
                            ground_truth=f.ground_truth, overlay=f.overlay,
                            progress=jax.process_index() == 0)
  print(f'wrote {f.output}')
  if scores:
    print(json.dumps({k: v for k, v in scores.items() if k != 'per_frame'}, indent=1))


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
