"""Datasets by name: `load_sources(config.data)` -> the four split sources.

Every entry returns random-access sources for 'images/train', 'images/test',
'videos/train' and 'videos/test' that the Grain pipeline reads, plus 'images/val'
and 'videos/val' (held out for model selection and the evaluations during
training) where the data has them, and
`class_names(config.data)` names the label values they use.

  embedded  the procedural benchmark (built on first use)
  real      datasets the user placed in manual dirs (COCO, VOC, salient-object photos
            such as DUTS, DAVIS, FBMS, video files, YouTube-VOS/VIS frame folders), e.g.
            COCO images + DAVIS and FBMS videos as in the original work.
            A train split may mix sources: 'coco/train:2,voc/train:1' draws
            images from both in a 2:1 ratio (Grain's MapDataset.mix).

Records come out in one schema: images {'image' (H,W,3), 'mask' (H,W,1)};
videos {'frames' (T,H,W,3)[, 'masks' (T,H,W,1)], 'name'}; masks hold the
task's labels (255 = void). Sizes vary per record; the pipeline resizes.
"""
import jax
import ml_collections

from vda_jax import labels, preemption
from vda_jax.data import synthetic
from vda_jax.data.builders import (
  coco,
  davis,
  embedded,
  fbms,
  salient,
  video_files,
  voc,
  youtube_vos,
)
from vda_jax.data.media import DataError
from vda_jax.data.pipeline import Mixture, stack_frames


def embedded_spec(data_config):
  d = data_config
  return embedded.BenchmarkSpec(
      seed=d.seed, image_size=d.image_size, clip_len=d.stored_clip_len,
      num_images=(('train', d.num_train_images), ('test', d.num_test_images),
                  ('val', d.num_val_images)),
      num_clips=(('train', d.num_train_clips), ('test', d.num_test_clips),
                 ('val', d.num_val_clips)),
      artifacts=synthetic.Artifacts(**d.artifacts), object_scale=tuple(d.object_scale))


def _one_writer(build):
  """Process 0 builds, the others wait for it and then read what it wrote. Every
  dataset build goes through here, so several hosts never write one dataset at once.
  A preemption notice during process 0's build stops every process
  (preemption.Interrupted)."""
  if jax.process_count() == 1:
    return build()
  built, interrupted = None, False
  if jax.process_index() == 0:
    try:
      built = build()
    except preemption.Interrupted:
      interrupted = True
  if preemption.share_count(interrupted):  # also the barrier
    raise preemption.Interrupted('preemption notice during a dataset build')
  return built or build()


def _embedded_sources(data_config):
  spec = embedded_spec(data_config)
  path = embedded.data_dir(data_config.data_dir or None)
  builders = _one_writer(lambda: {kind: embedded.builder(kind, spec, path)
                                  for kind in ('images', 'videos')})
  return {f'{kind}/{split}': b.as_data_source(split)
          for kind, b in builders.items() for split in b.info.splits}


class Mapped:
  """A random-access source whose records pass through `fn` (picklable for Grain workers)."""

  def __init__(self, source, fn, name):
    self.source, self.fn, self.name = source, fn, name

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    return self.fn(self.source[index])

  def __repr__(self):
    return f'Mapped({self.name}, {len(self)} records)'


def _image_record(r):
  return {'image': r['image'], 'mask': r['mask']}


def _video_record(r, to_labels=None):
  out = {'frames': stack_frames(r['frames']), 'name': _text(r['name'])}
  if to_labels is not None:
    out['masks'] = to_labels(stack_frames(r['masks']))
  return out


def _text(value):
  return value.decode() if isinstance(value, bytes) else str(value)


def _labeled_video(r):
  return _video_record(r, labels.to_foreground)


def _real_builder(name, d, train):
  """(TFDS builder, record fn, kind) of one named real dataset; `train` video
  datasets are stored as short, downscaled chunks (config.data.train_clips)."""
  dirs, data_dir = d.manual_dirs, embedded.data_dir(d.data_dir or None)
  if name == 'coco':
    return (coco.builder(dirs.coco, data_dir, d.task, d.coco_val_count,
                         d.train_images_max_size if train else 0),
            _image_record, 'images')
  if name == 'voc':
    return (voc.builder(dirs.voc, data_dir, d.task), _image_record,
            'images')
  if name == 'salient':
    if d.task != 'foreground':
      raise ValueError(f"config.data: salient has object masks, not classes; it needs "
                       f"task='foreground', got task={d.task!r}")
    return (salient.builder(dirs.salient, data_dir, d.salient_val_count,
                            d.train_images_max_size if train else 0),
            _image_record, 'images')
  if name in ('davis', 'fbms'):
    if d.task != 'foreground':
      raise ValueError(f'config.data: {name} has object masks, not classes; it needs '
                       f"task='foreground', got task={d.task!r}")
    chunking = d.train_clips if train else {}
    built = (davis.builder(dirs.davis, data_dir, d.davis_year, **chunking,
                           splits=d.davis_splits.to_dict())
             if name == 'davis'
             else fbms.builder(dirs.fbms, data_dir, **chunking))
    return built, _labeled_video, 'videos'
  if name in ('video_files', 'youtube_vos'):
    module = video_files if name == 'video_files' else youtube_vos
    return (module.builder(dirs[name], data_dir, **d.train_clips),
            _video_record, 'videos')
  raise ValueError(f'config.data: unknown real dataset {name!r}; known: '
                   'coco, voc, salient, davis, fbms, video_files, youtube_vos')


def _built(name, d, train):
  """(builder, record fn, kind) of a real dataset, built by one process if it is not yet."""
  return _one_writer(lambda: _real_builder(name, d, train))


def parse_sources(spec, field):
  """'coco/train:2,voc/train' -> [('coco', 'train', 2.0), ('voc', 'train', 1.0)]."""
  out = []
  for item in filter(None, spec.split(',')):
    name_split, _, weight = item.strip().partition(':')
    name, slash, split = name_split.partition('/')
    if not slash or not name or not split:
      raise ValueError(f'config.data.{field}={spec!r}: {item!r} is not dataset/split[:weight]')
    out.append((name, split, float(weight) if weight else 1.0))
  if not out:
    raise ValueError(f'config.data.{field} is empty; expected dataset/split[:weight],...')
  return out


def _real_sources(d):
  builders = {}

  def source(name, split, kind, field):
    key = (name, field.startswith('train'))
    if key not in builders:
      builders[key] = _built(name, d, key[1])
    builder, fn, got = builders[key]
    if got != kind:
      raise ValueError(f'config.data.{field}: {name} holds {got}, not {kind}')
    if split not in builder.info.splits:
      raise ValueError(f'config.data.{field}: {name} has no split {split!r}; it has '
                       f'{sorted(builder.info.splits)}')
    return Mapped(builder.as_data_source(split), fn, f'{name}/{split}')

  out = {}
  for key in ('images/train', 'images/val', 'images/test', 'videos/train', 'videos/val',
              'videos/test'):
    kind, split = key.split('/')
    field = f'{split}_{kind}'
    if split == 'val' and not d[field]:  # val splits are optional (model selection reads them)
      continue
    parts = parse_sources(d[field], field)
    if split != 'train' and len(parts) > 1:
      raise ValueError(f'config.data.{field}={d[field]!r}: a {split} split is one dataset')
    if kind == 'videos' and split != 'train' and parts[0][0] in ('video_files', 'youtube_vos'):
      raise ValueError(f'config.data.{field}={d[field]!r}: {parts[0][0]} has no masks to '
                       'score against; score on a labeled dataset (davis, fbms)')
    srcs = [source(name, s, kind, field) for name, s, _ in parts]
    out[key] = srcs[0] if len(srcs) == 1 else Mixture(tuple(srcs), tuple(w for *_, w in parts))
    if key == 'images/test' and d.task == 'semantic':
      names = {n: tuple(b.info.metadata['class_names']) for (n, _), (b, _, k) in builders.items()
               if k == 'images'}
      if len(set(names.values())) > 1:
        raise ValueError(f'config.data: semantic image datasets {sorted(names)} have different '
                         "classes; mix them with task='foreground'")
  return out


DATASETS = {
    'embedded': _embedded_sources,
    'real': _real_sources,
}


def class_names(data_config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Names of the label values 0..K-1 the task's masks use. COCO's come from its built
  dataset, which is built here if it is not yet (as load_sources builds)."""
  d = data_config
  if d.name == 'embedded':
    return synthetic.CLASS_NAMES
  if d.task == 'foreground':
    return ('background', 'object')
  first = parse_sources(d.train_images, 'train_images')[0][0]
  if first == 'voc':
    return voc.CLASS_NAMES
  # COCO's category names are in its annotations: the built dataset's metadata.
  return tuple(_built(first, d, True)[0].info.metadata['class_names'])


def load_sources(data_config: ml_collections.ConfigDict) -> dict:
  """{'images/train': source, ...}: random-access sources of every split of the data.
  Datasets not yet on disk are built first; inside a preemption.watch() a SIGTERM stops
  a build at its next record (preemption.Interrupted)."""
  if data_config.name not in DATASETS:
    raise ValueError(f'config.data.name={data_config.name!r} is not a dataset; '
                     f'known: {sorted(DATASETS)}')
  try:
    return DATASETS[data_config.name](data_config)
  except DataError as e:
    raise DataError(f'config.data ({data_config.name}): {e}') from None
