"""vda_jax: video segmentation from labeled images and unlabeled videos.

The functional API a fork imports; see README.md ("Public API").
"""
from vda_jax.adversarial import clustering
from vda_jax.adversarial.discriminators import ConvDiscriminator, PixelDiscriminator
from vda_jax.adversarial.grl import grad_reverse, grl_scale
from vda_jax.adversarial.losses import (
                                        clustered_domain_loss,
                                        conditional_features,
                                        domain_loss,
                                        entropy_loss,
                                        segmentation_loss,
)
from vda_jax.adversarial.objective import Objective, parse_taps
from vda_jax.adversarial.terms import TERMS, TermInputs
from vda_jax.adversarial.terms import register as register_term
from vda_jax.data.datasets import class_names, load_sources
from vda_jax.data.pipeline import Mixture, train_dataset, train_iterator
from vda_jax.eval.inference import segment_videos
from vda_jax.eval.metrics import (
                                        bootstrap_ci,
                                        boundary_f,
                                        davis_scores,
                                        mean_iou,
                                        region_j,
                                        sequence_statistics,
)
from vda_jax.models.registry import MODELS, build_model, register_model
from vda_jax.models.taps import apply_with_taps, tap, tap_shapes
from vda_jax.selection import density_ratios, dev_risk
from vda_jax.train.distributed import initialize as initialize_distributed
from vda_jax.train.experiment import Experiment
from vda_jax.train.loop import train_and_evaluate
from vda_jax.train.sharding import leaf_spec, make_mesh, state_shardings
from vda_jax.train.state import TrainState, init_train_state, make_optimizer, param_groups
from vda_jax.train.step import forward, loss_fn, train_step

__all__ = [
    'PixelDiscriminator', 'ConvDiscriminator', 'grad_reverse', 'grl_scale', 'domain_loss',
    'segmentation_loss',
    'clustered_domain_loss', 'conditional_features', 'entropy_loss', 'Objective',
    'register_term', 'TermInputs', 'TERMS', 'clustering',
    'load_sources', 'class_names', 'Mixture', 'train_dataset', 'train_iterator',
    'segment_videos', 'boundary_f', 'bootstrap_ci', 'davis_scores', 'mean_iou', 'region_j',
    'sequence_statistics', 'density_ratios', 'dev_risk',
    'MODELS', 'build_model', 'register_model',
    'apply_with_taps', 'tap', 'tap_shapes', 'Experiment',
    'train_and_evaluate', 'TrainState', 'init_train_state', 'make_optimizer', 'param_groups',
    'forward',
    'loss_fn', 'parse_taps', 'train_step', 'initialize_distributed', 'leaf_spec', 'make_mesh',
    'state_shardings',
]
