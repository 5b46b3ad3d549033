r"""The pre-registered confirmatory plan (docs/preregistration.md): claims 2 and 3 for
the Transformer on the embedded benchmark's photometric preset.

  H1  segformer, photometric: global alignment (adversarial) > source-only
  H2  segformer, photometric: clustered alignment > global alignment

Primary metric: video mIoU on videos/test, scored once, after each run's last
step. Global and clustered are selected by the same oracle (video mIoU on the
16 labeled videos/val clips) over the same four candidates (weight x the
discriminators' lr, at the same tap), on a seed no verdict run uses. Two-sided paired
t-tests over the verdict seeds, Holm-adjusted over the family. The runs' configs are the
embedded benchmark's (get_config below).

  vda-confirm --plan=configs/confirmatory.py --workdir=runs/confirmatory --parallel=2
"""
import os

from vda_jax.config_arg import combinations, load_config_module

_EMBEDDED = load_config_module(os.path.join(os.path.dirname(__file__), 'embedded.py'))

HYPOTHESES = (
    {'id': 'H1', 'model': 'segformer', 'preset': 'photometric', 'method': 'adversarial',
     'baseline': 'source_only'},
    {'id': 'H2', 'model': 'segformer', 'preset': 'photometric', 'method': 'clustered',
     'baseline': 'adversarial'},
)
METRIC = 'video/mIoU'          # the test split's, logged after the last step
SELECTOR = 'oracle'
SELECTION_SEED = 100
# 17 seeds: 80% power for H2 at alpha 0.05 if its paired effect is +0.068 with sd 0.093
# (docs/preregistration.md, "Seeds").
VERDICT_SEEDS = tuple(range(17))

# One grid for both methods: only the clustering differs between them.
_AXES = {'adversarial.weight': (0.1, 0.3), 'optimizer.disc.lr': (2e-4, 2e-3)}


def search_space(method, model):
  """The same four candidates for global and clustered alignment; [{}] for the rest."""
  del model
  if method not in ('adversarial', 'clustered'):
    return [{}]
  return combinations(_AXES)


def get_config(arg=None):
  return _EMBEDDED.get_config(arg)
