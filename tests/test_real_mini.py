"""The real-mini recipe (configs/real_mini.py): its fixed splits, and a short run on the
real photos and videos of ../shared/data/real-mini, read in place."""
import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA
from vda_jax import grid, plots, report, selection
from vda_jax.config_arg import load_config_module
from vda_jax.data import datasets

REAL_MINI = SHARED_DATA / 'real-mini'
CONFIG = str(ROOT / 'configs' / 'real_mini.py')
needs_real_mini = pytest.mark.skipif(not REAL_MINI.exists(),
                                     reason=f'needs the real-mini folder at {REAL_MINI}')


def test_val_and_test_sequences_are_fixed_disjoint_and_test_is_scored_only_at_the_end():
  module = load_config_module(CONFIG)
  val, test = set(module.VAL_SEQUENCES), set(module.TEST_SEQUENCES)
  assert len(val) == 2 and len(test) == 10 and not val & test
  for method in module.METHODS:
    c = module.get_config(f'method={method},root={REAL_MINI}')
    assert dict(c.data.davis_splits) == {'val': module.VAL_SEQUENCES,
                                         'test': module.TEST_SEQUENCES}
    assert (c.data.val_videos, c.data.test_videos) == ('davis/val', 'davis/test')
    assert (c.eval.split, c.eval.final_split) == ('val', 'test')
    # Only the upper bound trains on labeled video, and only on the val sequences.
    assert c.data.train_videos == ('davis/val' if method == 'upper_bound'
                                   else 'video_files/train')
  # Model selection never reads test: its candidates score val and end without test.
  candidates = selection.candidate_configs(CONFIG, ['cnn2d'], ['source_only', 'clustered'],
                                           arg=f'root={REAL_MINI}')
  assert len(candidates) == len(module.SOURCE_ONLY_STEPS) + 2
  for _, config in candidates.values():
    assert (config.eval.split, config.eval.final_split) == ('val', '')


@needs_real_mini
def test_the_split_rule_covers_every_sequence_of_the_real_folder():
  module = load_config_module(CONFIG)
  folders = {p.name for p in (REAL_MINI / 'DAVIS' / 'JPEGImages' / '480p').iterdir()}
  image_sets = REAL_MINI / 'DAVIS' / 'ImageSets' / '2016'
  listed = {split: set((image_sets / f'{split}.txt').read_text().split())
            for split in ('train', 'val')}
  # DAVIS-2016's val sequences are this recipe's val and test; its train sequences (the
  # salient-photos setting's unlabeled video) are read by no split of this recipe.
  assert set(module.VAL_SEQUENCES) | set(module.TEST_SEQUENCES) == listed['val']
  assert not set(module.VAL_SEQUENCES) & set(module.TEST_SEQUENCES)
  assert folders == listed['train'] | listed['val'] and not listed['train'] & listed['val']


@pytest.mark.slow
@needs_real_mini
def test_real_mini_builds_and_a_short_grid_trains_scores_and_draws(tmp_path):
  data_dir = str(tmp_path / 'tfds')
  overrides = [f'data.data_dir={data_dir}', 'train.steps=2', 'train.eval_every=2',
               'train.checkpoint_every=2', 'train.compile_cache_dir=', 'mesh.data=1']
  arg = f'root={REAL_MINI}'
  config = load_config_module(CONFIG).get_config(arg)
  config.unlock()
  config.data.data_dir = data_dir
  sources = datasets.load_sources(config.data)
  # 100 training photos, 28 held out; 2 labeled val sequences, 10 test ones.
  assert {k: len(v) for k, v in sources.items() if k.startswith('images')} == {
      'images/train': 100, 'images/val': 28, 'images/test': 28}
  test_names = [sources['videos/test'][i]['name'] for i in range(len(sources['videos/test']))]
  assert sorted(test_names) == sorted(
      load_config_module(CONFIG).TEST_SEQUENCES)
  # One run (two methods side by side are drawn by test_grid's experiment script).
  results = grid.run_grid(CONFIG, str(tmp_path / 'runs'), ['cnn2d'], ['clustered'], [0],
                          overrides, arg=arg)
  for r in results.values():
    assert 0 <= r['video/J&F-foreground'] <= 1 and 0 <= r['val/video/J&F-foreground'] <= 1
  configs = grid.grid_configs(CONFIG, ['cnn2d'], ['clustered'], [0], overrides, arg)
  examples = report.example_frames(configs, str(tmp_path / 'runs'))['cnn2d']
  assert list(examples['predictions']) == ['clustered']
  assert len(examples['frames']) == 4
  for frame, truth in zip(examples['frames'], examples['truth']):
    assert frame.shape == (480, 854, 3) and truth.shape == (480, 854)
  for masks in examples['predictions'].values():
    assert all(m.shape == (480, 854) and set(np.unique(m)) <= {0, 1} for m in masks)
  plots.examples_figure(examples, tmp_path / 'examples.png')
  assert (tmp_path / 'examples.png').read_bytes()[:4] == b'\x89PNG'
