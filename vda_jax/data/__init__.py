"""Data: procedural scenes, TFDS builders, media decoding, the Grain pipeline."""
