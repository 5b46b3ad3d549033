"""YouTube-VOS / YouTube-VIS frame folders as unlabeled target-domain clips (`vda_youtube_vos`).

    <manual_dir>/JPEGImages/<video>/00000.jpg, 00005.jpg, ...

`manual_dir` is one split folder of either dataset (e.g. YouTube-VOS's train/ or
YouTube-VIS's train/); their masks and meta.json are not read. Each video is cut
into records of `chunk_len` consecutive frames (a shorter video is one shorter
record), read one chunk at a time. A frame whose longer side is at most `max_size`
keeps its original JPEG bytes; a larger one is scaled down and re-encoded.
"""
import os

from vda_jax.data import media
from vda_jax.data.builders import manual

LAYOUT = 'JPEGImages/<video>/*.jpg (a YouTube-VOS or YouTube-VIS split folder)'


class VdaYoutubeVos(manual.UnlabeledClips):
  """Unlabeled clips from the frame folders of YouTube-VOS or YouTube-VIS."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place {LAYOUT}.'

  def _split_generators(self, dl_manager):
    root = os.path.join(str(dl_manager.manual_dir), 'JPEGImages')
    if not os.path.isdir(root):
      raise media.DataError(f'{dl_manager.manual_dir}: no JPEGImages folder; expected {LAYOUT}')
    videos = sorted(v for v in os.listdir(root) if os.path.isdir(os.path.join(root, v)))
    if not videos:
      raise media.DataError(f'{root}: no video folders; expected {LAYOUT}')
    return {'train': self._generate_examples(root, videos)}

  def _generate_examples(self, root, videos):
    p = self.builder_config.params
    for video in videos:
      files = media.list_files(os.path.join(root, video), media.IMAGE_SUFFIXES, 'frame images')
      for start, chunk in media.chunks(files, p['chunk_len']):
        yield f'{video}:{start}', {
            'frames': [media.stored_frame(f, p['max_size']) for f in chunk],
            'name': video, 'start': start}


def builder(manual_dir, data_dir, chunk_len=16, max_size=480):
  config = manual.ManualConfig('clips', manual_dir, chunk_len=chunk_len, max_size=max_size)
  return manual.prepare(VdaYoutubeVos, config, manual_dir, data_dir, LAYOUT)
