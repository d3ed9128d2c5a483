r"""Train one model on one task: the absl entry point around `train.train_and_evaluate`.

  python -m experiments.train --config=cnnrnn_jax/configs/default.py \
      --config.model=lstm --config.task=order --workdir=/tmp/lstm_order

Flags live here only; the library takes a ConfigDict and a workdir.
"""

import logging as std_logging
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from cnnrnn_jax import train
from cnnrnn_jax.tasks.base import ConfigError

_CONFIG = config_flags.DEFINE_config_file(
    "config", "cnnrnn_jax/configs/default.py", "Training config file (ml_collections).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where config.json, metrics.jsonl, "
                               "TensorBoard events and checkpoints go.", required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  # Orbax narrates every save at INFO; keep its warnings (e.g. a corrupt checkpoint) only.
  std_logging.getLogger("absl").addFilter(
      lambda record: record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname)
  try:
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  except FloatingPointError as e:
    sys.exit(f"training stopped: {e}")
  print("final eval: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
  app.run(main)
