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

from cnnrnn_jax import errors, workdir
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


def _num(v: float) -> str:
  """4 decimals, or 4 significant digits for values below 0.01 (copy-memory losses)."""
  return f"{v:.4f}" if v == 0 or abs(v) >= 0.01 else f"{v:.4g}"


def _format(metrics) -> str:
  return "  ".join(f"{k}={_num(v)}" for k, v in metrics.items())


def _quiet_orbax(record: std_logging.LogRecord) -> bool:
  """Drops Orbax's INFO narration of every save; its warnings and errors stay, one line each
  (a failing save logs tracebacks from several threads; the run's own last line says what
  failed and what was kept)."""
  if "/orbax/" not in record.pathname:
    return True
  if record.levelno < std_logging.WARNING or _quiet_orbax.after_error:
    return False
  record.msg, record.args = record.getMessage().splitlines()[0][:300], ()
  record.exc_info = record.exc_text = None
  return True


_quiet_orbax.after_error = False  # set once the run's error is printed: it is the last line


def _closed_loop(kind: type, value: BaseException) -> bool:
  """The error of a TensorStore callback arriving after a failed Orbax save closed its event
  loop: harmless, and printed as a bare traceback from a background thread."""
  return kind is RuntimeError and str(value) == "Event loop is closed"


def _skip_closed_loop_noise() -> None:
  """Installs sys.excepthook and sys.unraisablehook that drop `_closed_loop` errors."""
  excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

  def on_exception(kind, value, tb):
    if not _closed_loop(kind, value):
      excepthook(kind, value, tb)

  def on_unraisable(unraisable):
    if not _closed_loop(unraisable.exc_type, unraisable.exc_value):
      unraisablehook(unraisable)

  sys.excepthook, sys.unraisablehook = on_exception, on_unraisable


def main(argv: Sequence[str]) -> None:
  """Trains the config (once, or once per --seeds) and prints the final eval metrics."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  std_logging.getLogger("absl").addFilter(_quiet_orbax)
  _skip_closed_loop_noise()
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
          print(f"final eval, fold {fold}: {_format(metrics)}")
        _print_summary(crossval.fold_summary(results), f"over {folds} folds")
        return
      if not seeds:
        print("final eval: " + _format(train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)))
        return
      results = train.train_over_seeds(_CONFIG.value, _WORKDIR.value, seeds)
  except errors.ConfigError as e:
    sys.exit(f"config error: {e}")
  except FloatingPointError as e:
    sys.exit(f"training stopped: {e}")
  except errors.WriteError as e:
    _quiet_orbax.after_error = True  # Orbax's save threads may still be logging the failure
    print(f"write error: {e}", file=sys.stderr)
    sys.exit(errors.EXIT_IO)
  except errors.Interrupted as e:
    print(f"interrupted: {e}", file=sys.stderr)
    sys.exit(errors.EXIT_INTERRUPTED)
  for seed, metrics in results.items():
    print(f"final eval, seed {seed}: {_format(metrics)}")
  _print_summary(train.seed_summary(results), f"over seeds {seeds}")


def _print_summary(summary: dict, over: str) -> None:
  for name, s in summary.items():
    values = ", ".join(_num(v) for v in s["values"])
    print(f"{name}: {_num(s['mean'])} ± {_num(s['std'])} {over} ({values})")


if __name__ == "__main__":
  cli.run(main)
