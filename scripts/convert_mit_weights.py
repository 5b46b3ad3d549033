"""`vda-convert-mit` in a checkout; see vda_jax/commands/convert_mit.py."""
from vda_jax.commands import convert_mit

if __name__ == '__main__':
  convert_mit.run()
