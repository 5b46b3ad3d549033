"""Measurements outside the installed package: step and pipeline timing, and the
same 2D CNN step in PyTorch. Run from the repository root (scripts/benchmark.py)."""
