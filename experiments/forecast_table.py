r"""Print the forecasting tables from finished runs (each a `--seeds` workdir under --runs).

  python -m experiments.forecast_table --runs=runs/ett

One row per (setting, input length L, horizon H): the naive forecasts scored on the same
test windows, each model's test MSE / MAE (mean ± sample std over its seeds, the seed count
in brackets) and the published numbers; then parameters and seconds per epoch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import forecast_report

_RUNS = flags.DEFINE_string("runs", "runs/ett", "Folder whose subfolders are --seeds workdirs.")


def main(argv: Sequence[str]) -> None:
  """Prints the results table and the cost table."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  records = forecast_report.collect(_RUNS.value)
  if not records:
    sys.exit(f"no finished run (a folder with seeds.json) under {_RUNS.value}")
  print(forecast_report.results_table(records))
  print()
  print(forecast_report.cost_table(records))


if __name__ == "__main__":
  app.run(main)
