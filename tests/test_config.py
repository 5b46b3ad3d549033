"""Configs: command-line overrides work, typos are errors."""
from absl import flags
from ml_collections import config_flags
import pytest

from conftest import ROOT
from vda_jax.adversarial.objective import Objective
from vda_jax.config_arg import apply_overrides, combinations, load_config_module, parse_arg

CONFIG = str(ROOT / 'configs' / 'embedded.py')


def parse(*args):
  argv = ['prog', *args]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'config', flag_values=fv, lock_config=True,
                                  sys_argv=argv)
  fv(argv)
  return fv.config


def test_command_line_overrides_reach_the_config():
  c = parse(f'--config={CONFIG}:method=source_only', '--config.train.steps=200',
            '--config.adversarial.taps=stem:0.5,stage4', '--config.data.artifacts.blur=0.3')
  assert c.method == 'source_only'
  assert c.train.steps == 200
  assert c.adversarial.taps == 'stem:0.5,stage4'
  assert c.data.artifacts.blur == 0.3


def test_unknown_key_on_the_command_line_is_an_error():
  with pytest.raises(Exception, match='stpes'):
    parse(f'--config={CONFIG}', '--config.train.stpes=200')


def test_locked_config_rejects_new_fields_in_code():
  c = load_config_module(CONFIG).get_config('')
  with pytest.raises(AttributeError, match='lr_decay'):
    c.optimizer.lr_decay = 0.5


def _terms(config):
  return {type(t).__name__: t for t in Objective.from_config(config.adversarial, 10).terms}


def test_each_method_switches_on_its_paper_s_terms():
  get = load_config_module(CONFIG).get_config
  for method in ('source_only', 'upper_bound'):
    assert _terms(get(f'method={method}')) == {}
  assert get('method=upper_bound').train.video_label_weight > 0
  assert get('method=source_only').train.video_label_weight == 0
  # DANN at the shallow tap; the deep variant at the last stage.
  assert _terms(get('method=adversarial'))['GlobalDomain'].taps == {'stem': 0.1}
  assert _terms(get('method=adversarial_deep'))['GlobalDomain'].taps == {'stage4': 0.1}
  # The clustered loss alone, at the patch embedding for Transformers.
  clustered = _terms(get('method=clustered,model=segformer'))
  assert list(clustered) == ['ClusteredDomain']
  assert clustered['ClusteredDomain'].taps == {'patch_embed': 0.1}
  # The original work: global alignment deep, clustered alignment shallow.
  paper = _terms(get('method=paper,model=segformer'))
  assert (paper['GlobalDomain'].taps, paper['ClusteredDomain'].taps) == ({'stage4': 0.1},
                                                                           {'patch_embed': 0.1})
  # Tsai et al. 2018: lambda_adv 0.001 (main) and 0.0002 (aux), fully convolutional
  # discriminators of 4 + 1 layers, discriminator lr 1e-4, constant lambda.
  asn = get('method=adaptsegnet')
  out = _terms(asn)['OutputSpace']
  assert out.taps == {'logits': 0.001, 'aux_logits': 0.0002}
  assert (out.conv, out.depth, out.aux_tap) == (True, 4, 'stage3')
  assert asn.optimizer.disc.lr == 1e-4 and asn.adversarial.lambda_schedule == 'constant'
  assert asn.optimizer.lr == get('').optimizer.lr
  assert list(_terms(get('method=minent'))) == ['Entropy']
  assert _terms(get('method=cdan'))['Conditional'].taps == {'decoder': 0.1}
  with pytest.raises(ValueError, match="method='dann'"):
    get('method=dann')


def test_parse_arg_types_and_errors():
  a = parse_arg('seed=3,method=x', seed=0, method='y', fast=False)
  assert a.seed == 3 and a.method == 'x' and a.fast is False
  with pytest.raises(ValueError, match="config arg 'sed' is unknown"):
    parse_arg('sed=3', seed=0)
  with pytest.raises(ValueError, match='is not key=value'):
    parse_arg('seed', seed=0)


def test_apply_overrides_types_and_errors():
  c = load_config_module(CONFIG).get_config('')
  apply_overrides(c, ['train.steps=7', 'model.stage_widths=(1,2)', 'optimizer.lr=0.5'])
  assert c.train.steps == 7 and c.model.stage_widths == (1, 2) and c.optimizer.lr == 0.5
  with pytest.raises(KeyError, match="no field 'stepz'"):
    apply_overrides(c, ['train.stepz=1'])
  with pytest.raises(ValueError, match="invalid literal"):
    apply_overrides(c, ['train.steps=many'])
  # An unset placeholder takes its declared type.
  assert c.adversarial.clustered.weight is None
  with pytest.raises(ValueError, match='could not convert'):
    apply_overrides(c, ['adversarial.clustered.weight=heavy'])
  apply_overrides(c, ['adversarial.clustered.weight=3e-1'])
  assert c.adversarial.clustered.weight == 0.3 and isinstance(c.adversarial.clustered.weight, float)


def test_presets_switch_the_video_domain():
  get = load_config_module(CONFIG).get_config
  full, photo = get('').data, get('preset=photometric').data
  assert (full.preset, photo.preset) == ('full', 'photometric')
  assert full.artifacts.blur == 1.0 and full.artifacts.colour_cast == 0.0
  # Photometric: only information-preserving shifts.
  shifts = {k for k, v in photo.artifacts.items() if v > 0}
  assert shifts == {'low_light', 'colour_cast', 'contrast'}
  with pytest.raises(ValueError, match="preset='fog'"):
    get('preset=fog')


def test_combinations_by_hand():
  assert combinations({'b': (1, 2), 'a': ('x',)}) == [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 2}]
  assert combinations({}) == [{}]
  assert combinations({'a': ()}) == []


def test_search_space_lists_every_combination():
  module = load_config_module(CONFIG)
  adv = module.search_space('adversarial', 'segformer')
  assert len(adv) == 16 and {c['adversarial.taps'] for c in adv} == {'patch_embed', 'stage4'}
  assert {c['optimizer.disc.lr'] for c in adv} == {2e-4, 2e-3}
  # paper's global term sits at stage4, where a slow discriminator collapses.
  assert {c['optimizer.disc.lr'] for c in module.search_space('paper', 'cnn2d')} == {2e-4, 2e-3}
  assert module.search_space('source_only', 'cnn2d') == [{}]
  for method in module.METHODS:  # every candidate is a valid config
    for fields in module.search_space(method, 'cnn2d'):
      apply_overrides(module.get_config(f'method={method}'),
                      [f'{k}={v}' for k, v in fields.items()])
