"""Alignment: gradient reversal, discriminators, losses, k-means, the registered terms."""
