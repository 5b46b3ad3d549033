r"""Converts an MiT (SegFormer) ImageNet checkpoint to a vda_jax .npz.

  vda-convert-mit --input=mit_b2.pth --output=mit_b2.npz
  vda-convert-mit --input=model.safetensors --output=mit_b2.npz
  vda-train --config=embedded:model=segformer,size=base --config.model.pretrained=mit_b2.npz ...

Reads NVlabs' `mit_b*.pth` (needs PyTorch: pip install 'vda_jax[torch]') or a
.safetensors (no PyTorch), in NVlabs' names or Hugging Face's (e.g. the
`model.safetensors` of nvidia/mit-b2; its classifier is dropped).
"""
from absl import flags

from vda_jax import commands
from vda_jax.models.pretrained import mit_params_from_torch, read_state_dict, save_npz

flags.DEFINE_string('input', None, 'MiT checkpoint: .pth / .bin (PyTorch) or .safetensors.')
flags.DEFINE_string('output', None, 'Where to write the .npz.')
flags.mark_flags_as_required(['input', 'output'])


def main(argv):
  del argv
  state_dict = read_state_dict(flags.FLAGS.input)
  params = mit_params_from_torch(state_dict)
  save_npz(params, flags.FLAGS.output)
  print(f'wrote {len(state_dict)} tensors to {flags.FLAGS.output}')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
