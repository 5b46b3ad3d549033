"""Procedural image->video segmentation scenes (pure numpy, seeded).

Images are the *source* domain: centred, sharp, well lit, full resolution.
Video clips are the *target* domain: the same object classes moving along
trajectories, degraded by the artifacts that separate video from photos.
Every artifact has its own strength in [0, 1]; 0 switches it off, so the
image->video gap can be taken apart one artifact at a time.
"""
import dataclasses

import cv2
import numpy as np

CLASS_NAMES = ('background', 'disk', 'square', 'triangle', 'cross')
NUM_CLASSES = len(CLASS_NAMES)
ARTIFACTS = ('blur', 'low_light', 'low_res', 'compression', 'framing', 'colour_cast', 'contrast')


@dataclasses.dataclass(frozen=True)
class Artifacts:
  """Strength of each video artifact in [0, 1] (0 = off)."""
  blur: float = 1.0         # motion blur along the motion (exposure time)
  low_light: float = 1.0    # darker frames with sensor noise
  low_res: float = 1.0      # captured at up to 3x lower resolution
  compression: float = 1.0  # JPEG blocking, quality down to 20
  framing: float = 1.0      # objects at the frame edges (up to 60%), partly out
  colour_cast: float = 0.0  # white balance off: per-channel gains up to +-35%, fixed per clip
  contrast: float = 0.0     # contrast pulled towards the frame's mean, by up to 50%

  def __post_init__(self):
    for name in ARTIFACTS:
      value = getattr(self, name)
      if not 0.0 <= value <= 1.0:
        raise ValueError(f'artifact strength {name}={value} is outside [0, 1]')

  @classmethod
  def only(cls, name):
    """Only the artifact `name` at full strength, all others off."""
    if name not in ARTIFACTS:
      raise ValueError(f'unknown artifact {name!r}; expected one of {ARTIFACTS}')
    return cls(**{a: float(a == name) for a in ARTIFACTS})


# ---------------------------------------------------------------------------
# Objects: a class is a shape with its own surface texture; the colours are
# random, so colour alone never identifies a class.


def _inside(cls, u, v):
  if cls == 1:  # disk
    return u * u + v * v <= 1.0
  if cls == 2:  # square
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8
  if cls == 3:  # triangle with circumradius 1: three half-planes at inradius 0.5
    return ((-v <= 0.5) & (u * 0.866 + v * 0.5 <= 0.5) &
            (-u * 0.866 + v * 0.5 <= 0.5))
  if cls == 4:  # cross
    a, b = np.abs(u), np.abs(v)
    return ((a <= 0.3) & (b <= 0.9)) | ((b <= 0.3) & (a <= 0.9))
  raise ValueError(f'no shape for class {cls}')


def _texture(cls, u, v):
  """Per-class pattern in object coordinates, in [0, 1] (mixes two colours)."""
  if cls == 1:  # radial shading
    return np.clip(np.sqrt(u * u + v * v), 0, 1)
  if cls == 2:  # stripes
    return (np.floor(u * 3.0) % 2).astype(np.float32)
  if cls == 3:  # checkerboard
    return ((np.floor(u * 3.0) + np.floor(v * 3.0)) % 2).astype(np.float32)
  return ((np.sin(u * 9.0) * np.sin(v * 9.0)) > 0.3).astype(np.float32)  # dots


@dataclasses.dataclass
class _Object:
  cls: int
  centre: np.ndarray   # (2,) x, y in pixels at t = 0
  velocity: np.ndarray  # (2,) pixels per frame
  size: float
  angle: float
  spin: float
  colours: np.ndarray  # (2, 3)


def _render(size, background, objects, t):
  """Draws objects (later ones occlude earlier ones) at time t (in frames)."""
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
  image = background.copy()
  label = np.zeros((size, size), np.uint8)
  for obj in objects:
    cx, cy = obj.centre + obj.velocity * t
    angle = obj.angle + obj.spin * t
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = (xs - cx) / obj.size, (ys - cy) / obj.size
    u, v = c * dx + s * dy, -s * dx + c * dy
    inside = _inside(obj.cls, u, v)
    mix = _texture(obj.cls, u, v)[..., None]
    colour = obj.colours[0] * (1 - mix) + obj.colours[1] * mix
    image[inside] = colour[inside]
    label[inside] = obj.cls
  return image, label


def _background(rng, size):
  """Smooth colour field plus a faint grating: textured, but not object-like."""
  grid = rng.uniform(0.15, 0.85, (4, 4, 3)).astype(np.float32)
  field = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
  theta, freq = rng.uniform(0, np.pi), rng.uniform(0.2, 0.6)
  grating = 0.06 * np.sin(freq * (np.cos(theta) * xs + np.sin(theta) * ys))
  return np.clip(field + grating[..., None], 0, 1)


def _random_colours(rng):
  colours = rng.uniform(0.0, 1.0, (2, 3)).astype(np.float32)
  colours[1] = 1.0 - colours[0] * rng.uniform(0.3, 0.8)  # keep the pattern visible
  return colours


OBJECT_SCALE = (0.2, 0.3)  # an object's size (disk radius) as a share of the frame


def _objects(rng, size, num_frames, framing, scale_range=OBJECT_SCALE):
  """1-3 objects; `framing` pushes them to the edges, larger and partly outside."""
  objects = []
  for _ in range(rng.integers(1, 4)):
    at_edge = rng.uniform() < 0.6 * framing
    scale = rng.uniform(*scale_range) * (1.0 + 0.5 * at_edge)
    if at_edge:  # centre near a random border, up to 30% of the object outside
      side = rng.integers(4)
      along, across = rng.uniform(0.1, 0.9), rng.uniform(-0.05, 0.12)
      pos = [(along, across), (along, 1 - across), (across, along),
             (1 - across, along)][side]
    else:
      pos = rng.uniform(0.3, 0.7, 2) if num_frames == 1 else rng.uniform(0.2, 0.8, 2)
    speed = 0.0 if num_frames == 1 else rng.uniform(0.8, 2.5)
    heading = rng.uniform(0, 2 * np.pi)
    objects.append(_Object(
        cls=int(rng.integers(1, NUM_CLASSES)),
        centre=np.asarray(pos, np.float32) * size,
        velocity=speed * np.array([np.cos(heading), np.sin(heading)], np.float32),
        size=scale * size,
        angle=rng.uniform(0, 2 * np.pi),
        spin=0.0 if num_frames == 1 else rng.uniform(-0.1, 0.1),
        colours=_random_colours(rng)))
  return objects


def _to_uint8(x):
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def image_example(seed, index, size, object_scale=OBJECT_SCALE):
  """One labeled source-domain image: (size, size, 3) uint8 and (size, size) mask."""
  rng = np.random.default_rng([seed, 0, index])
  image, label = _render(size, _background(rng, size),
                         _objects(rng, size, 1, framing=0.0, scale_range=object_scale), 0.0)
  return {'image': _to_uint8(image), 'mask': label}


def _degrade(rng, frame, strengths, size, cast):
  """Camera pipeline: sensor (low light + noise, white balance, contrast) -> resolution
  -> codec. `cast` is the clip's per-channel white-balance error in [-1, 1]."""
  if strengths['low_light'] > 0:
    gain = 1.0 - 0.6 * strengths['low_light']
    frame = frame ** (1.0 + 0.3 * strengths['low_light']) * gain
    frame = frame + rng.normal(0, 0.05 * strengths['low_light'], frame.shape)
  if strengths['colour_cast'] > 0:
    frame = frame * (1.0 + 0.35 * strengths['colour_cast'] * cast)
  if strengths['contrast'] > 0:
    mean = frame.mean()
    frame = mean + (frame - mean) * (1.0 - 0.5 * strengths['contrast'])
  frame = np.clip(frame, 0, 1).astype(np.float32)
  if strengths['low_res'] > 0:
    small = max(4, int(round(size / (1.0 + 2.0 * strengths['low_res']))))
    frame = cv2.resize(frame, (small, small), interpolation=cv2.INTER_AREA)
    frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR)
  frame = _to_uint8(frame)
  if strengths['compression'] > 0:
    quality = int(round(90 - 70 * strengths['compression']))
    ok, buf = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    frame = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
  return frame


def video_example(seed, index, size, num_frames, artifacts: Artifacts, blur_samples=7,
                  object_scale=OBJECT_SCALE):
  """One target-domain clip: frames (T, size, size, 3) uint8, masks (T, size, size).

  Each clip draws its own artifact strengths in [0.25, 1] x the configured
  maximum, so the video domain is a spread of conditions, not one filter.
  """
  rng = np.random.default_rng([seed, 1, index])
  strengths = {a: getattr(artifacts, a) * rng.uniform(0.25, 1.0) for a in ARTIFACTS}
  background = _background(rng, size)
  objects = _objects(rng, size, num_frames, framing=strengths['framing'],
                     scale_range=object_scale)
  cast = rng.uniform(-1.0, 1.0, 3)
  # Exposure as a fraction of the frame interval; samples spread over it.
  offsets = np.linspace(-0.5, 0.5, blur_samples) * 2.0 * strengths['blur']
  frames, masks = [], []
  for t in range(num_frames):
    _, label = _render(size, background, objects, float(t))
    if strengths['blur'] > 0:
      image = np.mean([_render(size, background, objects, t + o)[0] for o in offsets], 0)
    else:
      image = _render(size, background, objects, float(t))[0]
    frames.append(_degrade(rng, image, strengths, size, cast))
    masks.append(label)
  return {'frames': np.stack(frames), 'masks': np.stack(masks),
          'strengths': np.array([strengths[a] for a in ARTIFACTS], np.float32)}
