"""Masks, not ragged shapes: which steps of a padded sequence are real.

Shape key: B batch, L length.

A padded batch carries `lengths`; step t of row b is real iff t < lengths_B[b]. Every core,
model, task and probe takes that test from here: past a length a recurrence freezes its
carry, pooling and attention skip the step, outputs are zero and weights are 0, so padding
never changes a result.
"""

from __future__ import annotations

from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def mask_L(length: ArrayLike, num_steps: int) -> jax.Array:
  """True at the first `length` of `num_steps` steps of ONE sequence: valid_L."""
  return jnp.arange(num_steps) < length


def mask_BxL(lengths_B: ArrayLike, num_steps: int, xp: ModuleType = jnp) -> jax.Array | np.ndarray:
  """True at the first lengths_B[b] of `num_steps` steps of each row b: valid_BxL.

  `xp` is the array module: jax.numpy on the device (the default), numpy for host-side
  batches (tasks build numpy arrays and must not dispatch to a device).
  """
  return xp.arange(num_steps)[None, :] < lengths_B[:, None]
