"""A folder of video files as unlabeled target-domain clips (`vda_video_files`).

    <manual_dir>/*.mp4|avi|webm|mkv|mov   (decoded with OpenCV's FFmpeg backend)

Each video is decoded frame by frame, resized so its longer side is at most
`max_size`, and cut into records of `chunk_len` consecutive frames (a video
shorter than that is one shorter record), so memory stays bounded by one
chunk however long the video. A file that cannot be opened or decodes to no
frame stops the build with its name (nothing of that build is kept); one that
decodes to another frame count than its header declares is used, with a warning.
"""
import os

import numpy as np

from vda_jax.data import media
from vda_jax.data.builders import manual

LAYOUT = 'a flat folder of video files (' + ', '.join(media.VIDEO_SUFFIXES) + ')'


class VdaVideoFiles(manual.UnlabeledClips):
  """Unlabeled clips cut from the video files of a folder."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place {LAYOUT}.'

  def _split_generators(self, dl_manager):
    files = media.list_files(str(dl_manager.manual_dir), media.VIDEO_SUFFIXES, 'video files')
    return {'train': self._generate_examples(files)}

  def _generate_examples(self, files):
    p = self.builder_config.params
    for path in files:
      name = os.path.basename(path)
      frames = (media.fit_longer_side(f, p['max_size']) for f in media.video_frames(path))
      for start, chunk in media.chunks(frames, p['chunk_len']):
        yield f'{name}:{start}', {'frames': np.stack(chunk), 'name': name, 'start': start}


def builder(manual_dir, data_dir, chunk_len=16, max_size=480):
  config = manual.ManualConfig('clips', manual_dir, chunk_len=chunk_len, max_size=max_size)
  return manual.prepare(VdaVideoFiles, config, manual_dir, data_dir, LAYOUT)
