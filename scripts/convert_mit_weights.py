r"""Converts an official MiT (SegFormer) ImageNet checkpoint to a vda_jax .npz.

  python scripts/convert_mit_weights.py --input=mit_b0.pth --output=mit_b0.npz
  python -m vda_jax.main --config=configs/embedded.py:model=segformer,size=base \
      --config.model.pretrained=mit_b2.npz ...

Needs PyTorch to read the .pth (pip install -e '.[torch]'). The weights are the
`mit_b*.pth` files published with SegFormer (NVlabs); a `state_dict` or a dict
holding one under 'state_dict' both work.
"""
from absl import app, flags

from vda_jax.models.pretrained import mit_params_from_torch, save_npz

flags.DEFINE_string('input', None, 'PyTorch checkpoint (.pth).')
flags.DEFINE_string('output', None, 'Where to write the .npz.')
flags.mark_flags_as_required(['input', 'output'])


def main(argv):
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  checkpoint = torch.load(flags.FLAGS.input, map_location='cpu', weights_only=True)
  state_dict = checkpoint.get('state_dict', checkpoint)
  params = mit_params_from_torch({k: v.numpy() for k, v in state_dict.items()})
  save_npz(params, flags.FLAGS.output)
  print(f'wrote {len(state_dict)} tensors to {flags.FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
