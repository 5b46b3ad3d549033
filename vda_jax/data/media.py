"""Reading frames, masks and video files from disk, with errors that name the file.

Frames are RGB uint8 (H, W, 3); masks are uint8 (H, W) of raw PNG values
(palette indices for palette PNGs). Video files are decoded with OpenCV
(FFmpeg backend) one frame at a time, so a long video never sits in memory; a
video is whatever decodes, whatever frame count its header declares.
"""
import io
import logging
import os

import cv2
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.webm', '.mkv', '.mov', '.m4v')


def _voc_palette():
  palette = np.zeros((256, 3), np.uint8)
  for i in range(256):
    c, r, g, b = i, 0, 0, 0
    for j in range(8):
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    palette[i] = (r, g, b)
  return palette


# DAVIS annotations carry the VOC colour map (index 0 black, 1 dark red, ...);
# masks written with it look like, and load like, the official ones.
PALETTE = _voc_palette()


def overlay(frame, mask):
  """The RGB frame with every non-background pixel of the class map `mask` blended
  half-and-half with its class's PALETTE colour."""
  blend = (0.5 * frame + 0.5 * PALETTE[mask]).astype(np.uint8)
  return np.where(mask[..., None] > 0, blend, frame)


class DataError(ValueError):
  """Input that cannot be used; the message names the file and the problem."""


def _read_bytes(path):
  try:
    with open(path, 'rb') as f:
      return f.read()
  except FileNotFoundError:
    raise DataError(f'{path}: no such file') from None
  except OSError as e:
    raise DataError(f'{path}: cannot be read ({e})') from None


def _open(path, data=None):
  """PIL's image of `path` (decoded from `data`, its bytes, if given); errors name `path`."""
  try:
    return Image.open(io.BytesIO(_read_bytes(path) if data is None else data))
  except OSError as e:
    raise DataError(f'{path}: not a readable image ({e})') from None


def _rgb(im, path):
  try:
    return np.asarray(im.convert('RGB'))
  except OSError as e:  # truncated files fail on decode, not on open
    raise DataError(f'{path}: corrupt or truncated image ({e})') from None


def read_image(path):
  """RGB uint8 (H, W, 3)."""
  with _open(path) as im:
    return _rgb(im, path)


def image_size(path):
  """(H, W) from the file's header, without decoding it."""
  with _open(path) as im:
    return im.size[1], im.size[0]


def stored_frame(path, max_size=0):
  """What a dataset stores for the frame image at `path`: its original bytes if it is a
  JPEG that needs no resizing (no second-generation JPEG; checked to decode), else the
  decoded RGB array scaled to a longer side of at most `max_size` (0 = as is)."""
  data = _read_bytes(path)
  with _open(path, data) as im:
    rgb = _rgb(im, path)  # a corrupt or truncated file is named now, not when training reads it
    if im.format == 'JPEG' and (not max_size or max(im.size) <= max_size):
      return data
  return fit_longer_side(rgb, max_size)


def read_mask(path):
  """uint8 (H, W): palette indices for 'P' PNGs, grey values for 'L'."""
  with _open(path) as im:
    if im.mode not in ('P', 'L', '1'):
      raise DataError(f'{path}: a mask must be a palette or greyscale PNG, got mode {im.mode}')
    try:
      return np.asarray(im, np.uint8) if im.mode != '1' else np.asarray(im, np.uint8) * 255
    except OSError as e:
      raise DataError(f'{path}: corrupt or truncated mask ({e})') from None


def write_mask(path, mask):
  """A palette PNG in the DAVIS format (index = object/class id)."""
  im = Image.fromarray(np.asarray(mask, np.uint8), mode='P')
  im.putpalette(PALETTE.ravel().tolist())
  im.save(path)


def check_mask(path, mask, frame_shape, allowed, what):
  """Errors for a mask of the wrong size or with values outside `allowed` (a set)."""
  if mask.shape != tuple(frame_shape[:2]):
    raise DataError(f'{path}: mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but its frame is '
                    f'{frame_shape[1]}x{frame_shape[0]}')
  bad = sorted(set(np.unique(mask).tolist()) - set(allowed))
  if bad:
    raise DataError(f'{path}: label values {bad[:10]} are outside {what}')


def list_files(folder, suffixes, what):
  """Sorted files in `folder` with one of `suffixes`; an error if there are none."""
  if not os.path.isdir(folder):
    raise DataError(f'{folder}: no such folder (expected {what})')
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith(suffixes))
  if not names:
    raise DataError(f'{folder}: empty, expected {what} ({"/".join(suffixes)})')
  return [os.path.join(folder, n) for n in names]


def video_frames(path):
  """Yields the RGB frames of a video file; errors if it cannot be opened or decodes to
  nothing. The frame count a container declares is an estimate (variable frame rate,
  trimmed streams, containers without an index), so a different count only warns."""
  capture = cv2.VideoCapture(path)
  try:
    if not capture.isOpened():
      raise DataError(f'{path}: cannot open as a video (missing, corrupt or unsupported codec)')
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    count = 0
    while True:
      ok, frame = capture.read()
      if not ok:
        break
      count += 1
      yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if count == 0:
      raise DataError(f'{path}: no decodable frames (corrupt or empty video)')
    if declared > 0 and count != declared:
      logging.warning('%s: decoded %d frames, its header declares %d (variable frame rate, a '
                      'trimmed stream, or a file cut short); using the %d decoded', path, count,
                      declared, count)
  finally:
    capture.release()


def frames(path):
  """Frames of a video file or of a folder of images (sorted by name), streamed."""
  if os.path.isdir(path):
    return (read_image(f) for f in list_files(path, IMAGE_SUFFIXES, 'frame images'))
  if not os.path.exists(path):
    raise DataError(f'{path}: no such file or folder')
  return video_frames(path)


def frame_names(path):
  """Output names per frame: the image names of a folder, else 00000, 00001, ..."""
  if os.path.isdir(path):
    return [os.path.splitext(os.path.basename(f))[0]
            for f in list_files(path, IMAGE_SUFFIXES, 'frame images')]
  return None


def resize(array, size, nearest=False):
  """(H, W[, C]) -> size=(h, w); nearest for label maps, area/linear for images."""
  h, w = size
  if array.shape[:2] == (h, w):
    return array
  if nearest:
    interp = cv2.INTER_NEAREST
  else:
    interp = cv2.INTER_AREA if h * w < array.shape[0] * array.shape[1] else cv2.INTER_LINEAR
  return cv2.resize(array, (w, h), interpolation=interp)


def fit_longer_side(array, max_size, nearest=False):
  """Scales (H, W[, C]) down so its longer side is at most max_size (0 = as is)."""
  scale = max_size / max(array.shape[:2]) if max_size else 1.0
  if scale >= 1:
    return array
  return resize(array, (round(array.shape[0] * scale), round(array.shape[1] * scale)), nearest)


def chunks(items, chunk_len):
  """Yields (start, list of chunk_len consecutive items); a sequence shorter than
  chunk_len is one shorter chunk, the short tail of a longer one is dropped."""
  buf, start = [], 0
  for item in items:
    buf.append(item)
    if len(buf) == chunk_len:
      yield start, buf
      buf, start = [], start + chunk_len
  if buf and start == 0:
    yield start, buf
