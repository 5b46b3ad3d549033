"""Training: state, the jitted step, sharding, one run's wiring, checkpoints, the loop."""
