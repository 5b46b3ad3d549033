"""Config files: Python files with get_config(arg), loaded by path (vda_jax.config_arg)."""
