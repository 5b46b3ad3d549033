"""TFDS builders; importing a module registers its dataset with TFDS."""
