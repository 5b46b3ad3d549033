"""Fake CPU devices (set before jax is imported) and a tiny embedded benchmark."""
import os

# Compiling dominates this suite's time on CPU. LLVM at -O0 compiles the tiny configs'
# steps about twice as fast as XLA's default level, and XLA:CPU's older loop emitters
# (fusion emitters off) compile them faster again (docs/benchmarks.md, "Test time");
# results agree within float32 rounding. VDA_TEST_XLA_DEFAULT=1 keeps XLA's defaults.
# Subprocesses that want one device per process get COMPILE_FLAGS alone.
COMPILE_FLAGS = ('' if os.environ.get('VDA_TEST_XLA_DEFAULT') == '1'
                 else '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false')
os.environ['XLA_FLAGS'] = ' '.join(filter(None, [
    os.environ.get('XLA_FLAGS', ''), '--xla_force_host_platform_device_count=8', COMPILE_FLAGS]))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import pathlib  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

# Many tests compile the same step for the same tiny config; XLA's persistent
# cache (keyed by the computation) lets all but the first skip the compile. At -O0
# most compiles take under half a second, so every one is cached.
jax.config.update('jax_compilation_cache_dir',
                  os.environ.get('VDA_TEST_JAX_CACHE', '/tmp/vda_jax_test_xla_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'


# The embedded benchmark shrunk for CPU tests: 32 px, few images and clips, small batches.
TINY_DATA = {
    'data.image_size': 32, 'data.stored_clip_len': 4, 'data.num_train_images': 64,
    'data.num_test_images': 16, 'data.num_val_images': 8, 'data.num_train_clips': 16,
    'data.num_test_clips': 8, 'data.num_val_clips': 4, 'input.image_batch': 8,
    'input.video_batch': 4, 'input.clip_len': 2, 'input.prefetch': 0, 'eval.image_batch': 8,
    'eval.clip_batch': 4, 'mesh.data': 1,
}


def tiny_overrides(data_dir, **fields):
  """TINY_DATA and `fields` as 'a.b=value' overrides for a program's command line (a run
  of `steps` steps that evaluates and checkpoints at its end, caching compiles here)."""
  steps = fields.pop('steps', 2)
  run = {'data.data_dir': data_dir, 'model.width': 8, 'train.steps': steps,
         'train.eval_every': steps, 'train.checkpoint_every': steps, 'train.log_every': steps,
         'train.compile_cache_dir': ''}
  return [f'{k}={v}' for k, v in {**TINY_DATA, **run, **fields}.items()]


def program_env():
  """The environment of a program a test starts: this file's XLA flags and compile cache."""
  return {**os.environ, 'JAX_COMPILATION_CACHE_DIR': os.environ.get(
      'VDA_TEST_JAX_CACHE', '/tmp/vda_jax_test_xla_cache')}


def tiny_config(method='adversarial', data_dir='', model='cnn2d', **arg):
  """The embedded config shrunk for CPU tests: 32 px, small model, few steps."""
  from vda_jax.config_arg import apply_overrides, load_config_module
  extra = ''.join(f',{k}={v}' for k, v in arg.items())
  config = load_config_module(str(ROOT / 'configs' / 'embedded.py')).get_config(
      f'method={method},model={model}{extra}')
  apply_overrides(config, [f'{k}={v}' for k, v in TINY_DATA.items()])
  config.data.data_dir = data_dir
  if model.startswith('cnn'):
    config.model.update(width=8, stage_widths=(1, 2, 2, 4))
  else:  # the same sum; it compiles ~3x sooner than the slices CPU runs use (test_depthwise)
    config.model.depthwise_impl = 'grouped'
  config.adversarial.taps = 'stage2,stage4' if method == 'adversarial' else ''
  config.optimizer.update(warmup_steps=5, lr=1e-2)
  config.train.update(steps=20, log_every=5, eval_every=20, checkpoint_every=10,
                      compile_cache_dir='')  # keep this file's cache (above)
  return config


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tfds'))


@pytest.fixture(scope='session')
def sources(data_dir):
  from vda_jax.data import datasets
  return datasets.load_sources(tiny_config(data_dir=data_dir).data)


@pytest.fixture
def registries_kept():
  """The model and alignment-term registries as they were before the test: a test that
  loads a fork's file again leaves the names to the classes other tests hold."""
  from vda_jax.adversarial import terms
  from vda_jax.models import registry
  kept = [(live, dict(live)) for live in (terms.TERMS, registry.MODELS)]
  yield
  for live, entries in kept:
    live.clear()
    live.update(entries)
