"""Networks with named taps, their registry, and pretrained weights."""
