r"""Train one model on one task: the absl entry point around `train.train_and_evaluate`.

  python -m experiments.train --config=cnnrnn_jax/configs/default.py \
      --config.model=lstm --config.task=order --workdir=runs/lstm_order

  # The same config once per seed (workdir/seed_S), then mean ± std of the final metrics:
  python -m experiments.train --config=cnnrnn_jax/configs/default.py:cnn,mnist1d \
      --seeds=0,1,2 --workdir=runs/cnn_mnist1d

  # k-fold cross-validation (text_files): every fold into workdir/fold_K, then mean ± std
  # of the folds' final metrics, also in WORKDIR/folds.json (docs/kim2014.md):
  python -m experiments.train --config=cnnrnn_jax/configs/kim2014.py:table2 \
      --config.data.train_path=$D/kim2014/custrev.all --config.data.cv_folds=10 \
      --workdir=runs/kim_cr

Flags live here only; the library takes a ConfigDict and a workdir.
"""

from __future__ import annotations

import logging as std_logging
import sys
from collections.abc import Sequence

from absl import app, flags, logging

from cnnrnn_jax import console, errors, workdir
from experiments import cli

if __name__ == "__main__":  # before the config file loads: a busy workdir is refused at once
  cli.claim_workdir(sys.argv)

_CONFIG = cli.define_config(
  "cnnrnn_jax/configs/default.py",
  "Training config file (ml_collections); --config.plugins=my_pkg.mod imports extensions first.",
)
_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Where config.json, metrics.jsonl, TensorBoard events and checkpoints go.",
  required=True,
)
_SEEDS = flags.DEFINE_list(
  "seeds",
  [],
  "Run the config once per seed (replacing "
  "config.seed) in WORKDIR/seed_S, then print the mean ± sample std "
  "of the final eval metrics and write them to WORKDIR/seeds.json.",
)


def main(argv: Sequence[str]) -> None:
  """Trains the config (once, or once per --seeds) and prints the final eval metrics."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  std_logging.getLogger("absl").addFilter(console.quiet_orbax)
  console.skip_closed_loop_noise()
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError:
    sys.exit(
      f"config error: --seeds={','.join(_SEEDS.value)} is not a list of integers; "
      "use e.g. --seeds=0,1,2"
    )
  try:
    # The lock comes before importing JAX (seconds): a busy workdir is refused at once.
    with workdir.locked(_WORKDIR.value):
      from cnnrnn_jax import train

      folds = _CONFIG.value.data.get("cv_folds")
      if folds and _CONFIG.value.data.get("cv_fold") is None:
        if seeds:
          raise errors.ConfigError(
            f"--seeds and config.data.cv_folds={folds} are both set; cross-validation runs one "
            "seed per fold: pass --config.seed=S instead of --seeds"
          )
        from cnnrnn_jax import crossval

        results = crossval.train_over_folds(_CONFIG.value, _WORKDIR.value)
        for fold, metrics in results.items():
          print(f"final eval, fold {fold}: {console.metrics_line(metrics)}")
        _print_summary(crossval.fold_summary(results), f"over {folds} folds")
        return
      if not seeds:
        print(
          "final eval: "
          + console.metrics_line(train.train_and_evaluate(_CONFIG.value, _WORKDIR.value))
        )
        return
      results = train.train_over_seeds(_CONFIG.value, _WORKDIR.value, seeds)
  except errors.ConfigError as e:
    sys.exit(f"config error: {e}")
  except FloatingPointError as e:
    sys.exit(f"training stopped: {e}")
  except errors.WriteError as e:
    console.quiet_orbax.after_error = True  # Orbax's save threads may still be logging the failure
    console.say(f"write error: {e}")
    sys.exit(errors.EXIT_IO)
  except errors.Interrupted as e:
    console.say(f"interrupted: {e}")
    sys.exit(errors.EXIT_INTERRUPTED)
  for seed, metrics in results.items():
    print(f"final eval, seed {seed}: {console.metrics_line(metrics)}")
  _print_summary(train.seed_summary(results), f"over seeds {seeds}")


def _print_summary(summary: dict, over: str) -> None:
  for name, s in summary.items():
    mean, std = console.number(s["mean"]), console.number(s["std"])
    values = ", ".join(console.number(v) for v in s["values"])
    print(f"{name}: {mean} ± {std} {over} ({values})")


if __name__ == "__main__":
  cli.run(main)
