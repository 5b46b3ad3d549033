"""Evaluation: metrics, streaming inference, scoring a run, the domain classifier."""
