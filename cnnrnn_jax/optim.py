"""The optimizer every run uses: AdamW with warmup, a decay schedule and gradient clipping.

`config.opt` (configs/default.py) holds its knobs: learning_rate, warmup_steps, schedule
(cosine | constant), weight_decay and clip_norm.
"""

from __future__ import annotations

import ml_collections
import optax

from cnnrnn_jax.errors import ConfigError


def make_optimizer(
  opt: ml_collections.ConfigDict, train_steps: int
) -> optax.GradientTransformation:
  """AdamW with linear warmup, cosine (or constant) decay and global-norm clipping."""
  warmup = min(opt.warmup_steps, max(train_steps - 1, 0))
  if opt.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(
      0.0, opt.learning_rate, warmup, train_steps, end_value=0.1 * opt.learning_rate
    )
  elif opt.schedule == "constant":
    lr = optax.join_schedules(
      [
        optax.linear_schedule(0.0, opt.learning_rate, warmup),
        optax.constant_schedule(opt.learning_rate),
      ],
      [warmup],
    )
  else:
    raise ConfigError(f"config.opt.schedule={opt.schedule!r} is not one of cosine, constant")
  return optax.chain(
    optax.clip_by_global_norm(opt.clip_norm), optax.adamw(lr, weight_decay=opt.weight_decay)
  )
