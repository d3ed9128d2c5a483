"""Mixed precision: parameters in float32, compute in `dtype` (docs/accelerators.md).

A model computes in its `dtype` field (DTYPES) by having `MixedPrecision.apply` cast its
floating parameters to that dtype before every `apply`: each matmul and convolution then runs
in it, while the parameters, their gradients (the cast is differentiated like any op) and the
optimizer state stay float32. `init` is untouched, so parameters are created in float32. The
models return their outputs in float32 for the loss, and keep their softmaxes' sums in float32.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

DTYPES = ("float32", "bfloat16")  # compute dtypes (config.dtype); parameters stay float32

# Parameters kept in float32 under mixed precision: the LRU's (its eigenvalues sit within
# 1e-3 of the unit circle, where bfloat16's 2^-8 steps would move them; its state is
# complex64 anyway, there being no bfloat16 complex type).
FLOAT32_PARAMS = ("lru",)


def cast_floating(tree: Any, dtype: str) -> Any:
  """`tree` with its floating-point arrays cast to `dtype`; integers, complex and the
  subtrees named in FLOAT32_PARAMS untouched."""

  def cast(path, x):
    keep = any(getattr(k, "key", None) in FLOAT32_PARAMS for k in path)
    if not keep and jnp.issubdtype(jnp.result_type(x), jnp.floating):
      return jnp.asarray(x).astype(dtype)
    return x

  return jax.tree_util.tree_map_with_path(cast, tree)


class MixedPrecision:
  """Mixin for a Linen Module with a `dtype: str` field (DTYPES): `apply` (every method
  called through it: `__call__`, or `method=...`) computes with the parameters in `dtype`."""

  dtype: str

  def compute_params(self, params: Any) -> Any:
    """`params` as `apply` computes with them: floating arrays in the compute dtype (a cast
    of already cast parameters is free, so a loop can cast once outside and apply inside)."""
    return params if self.dtype == "float32" else cast_floating(params, self.dtype)

  def apply(self, variables: Any, *args: Any, **kwargs: Any) -> Any:
    """Module.apply with the floating parameters cast to the compute dtype first."""
    if self.dtype != "float32":
      variables = {**variables, "params": self.compute_params(variables["params"])}
    return super().apply(variables, *args, **kwargs)
