"""Strict JAX settings for every test: silent broadcasting is an error here."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
