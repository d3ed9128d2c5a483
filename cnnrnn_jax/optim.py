"""The optimizer every run uses: AdamW (or SGD with momentum) with warmup, a decay schedule
and gradient clipping.

`config.opt` (configs/default.py) holds its knobs: optimizer (adamw | sgd), learning_rate,
warmup_steps, schedule (cosine | constant), weight_decay (AdamW), momentum (SGD) and
clip_norm (0 = no clipping). The defaults are the safeguarded AdamW with clipping at norm 1;
the comparison's stability grid also trains without the safeguards.
"""

from __future__ import annotations

import ml_collections
import optax

from cnnrnn_jax.errors import ConfigError

OPTIMIZERS = ("adamw", "sgd")


def validate(opt: ml_collections.ConfigDict) -> None:
  """A ConfigError naming the knob for an optimizer config that cannot train."""
  if opt.learning_rate <= 0:
    raise ConfigError(f"config.opt.learning_rate={opt.learning_rate} must be positive")
  if opt.clip_norm < 0:
    raise ConfigError(f"config.opt.clip_norm={opt.clip_norm} must be >= 0 (0 = no clipping)")
  if opt.get("optimizer", "adamw") not in OPTIMIZERS:
    raise ConfigError(f"config.opt.optimizer={opt.optimizer!r} is not one of {OPTIMIZERS}")


def make_optimizer(
  opt: ml_collections.ConfigDict, train_steps: int
) -> optax.GradientTransformation:
  """`opt.optimizer` with linear warmup, cosine (or constant) decay and global-norm clipping
  (none when opt.clip_norm is 0)."""
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
  validate(opt)
  if opt.get("optimizer", "adamw") == "sgd":
    update = optax.sgd(lr, momentum=opt.get("momentum", 0.9))
  else:
    update = optax.adamw(lr, weight_decay=opt.weight_decay)
  if not opt.clip_norm:
    return update
  return optax.chain(optax.clip_by_global_norm(opt.clip_norm), update)
