"""The forecasting table, written from the runs' own files (never by hand).

Every run directory under a root that holds `seeds.json` (experiments.train --seeds) is one
cell: the test MSE / MAE of its seeds (mean ± sample std; with config.select_on, those of the
best validation step), next to the naive forecasts its task scored on exactly the same test
windows (seed_S/baselines.json). A second table gives each model's parameters and seconds per
training epoch (the median logged step rate after the first logging window, which holds the
compilation).
"""

from __future__ import annotations

import glob
import json
import os
import statistics
from typing import Any

import ml_collections

from cnnrnn_jax import models, tables, workdir
from cnnrnn_jax.tasks.base import TaskSpec

# Zeng et al. 2023 ("Are Transformers Effective for Time Series Forecasting?", AAAI), ETTh1 at
# input length 336, MSE and MAE at H = 96, 192, 336, 720 of its two best linear rows, as
# transcribed in the authors' repository (github.com/cure-lab/LTSF-Linear, LTSF-Benchmark.md;
# its headings say input 96, its values are those of the paper's input-336 tables). That file
# names row 1 DLinear and row 2 NLinear; configs/ett.py shows why the names look swapped.
PUBLISHED = {
  ("univariate", 336): {
    "published 1": ((0.053, 0.069, 0.081, 0.080), (0.177, 0.204, 0.226, 0.226)),
    "published 2": ((0.056, 0.071, 0.098, 0.189), (0.180, 0.204, 0.244, 0.359)),
  },
  ("multivariate", 336): {
    "published 1": ((0.374, 0.408, 0.429, 0.440), (0.394, 0.415, 0.427, 0.453)),
    "published 2": ((0.375, 0.405, 0.439, 0.472), (0.399, 0.416, 0.443, 0.490)),
  },
}
PUBLISHED_HORIZONS = (96, 192, 336, 720)


def model_label(config: dict[str, Any]) -> str:
  """The preset name of a run: the model, dlinear for a decomposing linear map, MODEL_iterated
  for a recurrence stepping on its own forecasts."""
  if config["model"] == "linear" and config["arch"].get("decomposition"):
    return "dlinear"
  if config["arch"].get("forecast_mode") == "iterated":
    return f"{config['model']}_iterated"
  return config["model"]


def seconds_per_epoch(metrics_path: str, train_windows: int, batch_size: int) -> float | None:
  """Training seconds per epoch from the median step rate logged after the first window."""
  rates = workdir.step_rates(workdir.read_records(metrics_path))
  return train_windows / batch_size / statistics.median(rates) if rates else None


def parameter_count(config: dict[str, Any], baselines: dict[str, Any]) -> int:
  """Parameters of the run's model, from shapes only."""
  spec = TaskSpec(
    kind="regress",
    num_outputs=baselines["horizon"] * baselines["targets"],
    seq_len=baselines["seq_len"],
    input_dim=baselines["channels"],
    metric="mse",
    horizon=baselines["horizon"],
  )
  arch = ml_collections.ConfigDict(config["arch"])
  return models.parameter_counts(models.build_model(config["model"], arch, spec))[0]


def collect(root: str) -> list[dict[str, Any]]:
  """One record per finished run directory under `root` (those holding seeds.json)."""
  records = []
  for summary_path in sorted(glob.glob(os.path.join(root, "*", "seeds.json"))):
    run = os.path.dirname(summary_path)
    with open(summary_path) as f:
      summary = json.load(f)
    seed_dirs = sorted(glob.glob(os.path.join(run, "seed_*")))
    with open(os.path.join(seed_dirs[0], "config.json")) as f:
      config = json.load(f)
    with open(os.path.join(seed_dirs[0], "baselines.json")) as f:
      baselines = json.load(f)
    epochs = [
      seconds_per_epoch(
        os.path.join(d, workdir.METRICS_FILE), baselines["train_windows"], config["batch_size"]
      )
      for d in seed_dirs
    ]
    epochs = [e for e in epochs if e is not None]
    records.append(
      {
        "run": os.path.basename(run),
        "setting": "multivariate" if baselines["targets"] > 1 else "univariate",
        "seq_len": baselines["seq_len"],
        "horizon": baselines["horizon"],
        "model": model_label(config),
        "mse": summary["mse"],
        "mae": summary["mae"],
        "baselines": baselines,
        "params": parameter_count(config, baselines),
        "sec_per_epoch": statistics.mean(epochs) if epochs else None,
      }
    )
  return records


def _cell(summary: dict[str, Any], spread: bool) -> str:
  n = len(summary["values"])
  std = f"±{summary['std']:.4f}" if spread and n > 1 else ""
  return f"{summary['mean']:.4f}{std} ({n})"


def results_table(records: list[dict[str, Any]]) -> str:
  """Markdown, per (setting, input length L): the test MSE (mean±std (seeds)) and then the
  test MAE of every forecaster (rows) at every horizon (columns), the naive forecasts
  scored on the same windows and the published numbers."""
  order = ["linear", "dlinear", "cnn", "lstm", "gru", "lstm_iterated", "tcn", "transformer"]
  out = []
  for setting, seq_len in sorted({(r["setting"], r["seq_len"]) for r in records}):
    mine = [r for r in records if (r["setting"], r["seq_len"]) == (setting, seq_len)]
    horizons = sorted({r["horizon"] for r in mine})
    names = sorted(
      {r["model"] for r in mine}, key=lambda m: (m not in order, m in order and order.index(m), m)
    )
    period = mine[0]["baselines"].get("period")
    for metric in ("mse", "mae"):
      rows = []
      for label, key in (("naive last", "last_value"), (f"seasonal ({period})", "seasonal_naive")):
        cells = {r["horizon"]: r["baselines"].get(key) for r in mine}
        rows.append(
          [label] + [f"{cells[h][metric]:.4f}" if cells.get(h) else None for h in horizons]
        )
      for name in names:
        cells = {r["horizon"]: r[metric] for r in mine if r["model"] == name}
        rows.append(
          [name] + [_cell(cells[h], metric == "mse") if h in cells else None for h in horizons]
        )
      for label, (mse, mae) in PUBLISHED.get((setting, seq_len), {}).items():
        values = dict(zip(PUBLISHED_HORIZONS, mse if metric == "mse" else mae))
        rows.append([label] + [f"{values[h]:.3f}" if h in values else None for h in horizons])
      title = f"{setting}, L = {seq_len}, test {metric.upper()}"
      out.append(tables.markdown_table([title] + [f"H = {h}" for h in horizons], rows))
  return "\n\n".join(out)


def cost_table(records: list[dict[str, Any]]) -> str:
  """Markdown: parameters and seconds per training epoch of each run."""
  rows = [
    [r["setting"], r["seq_len"], r["horizon"], r["model"], f"{r['params']:,}", r["sec_per_epoch"]]
    for r in sorted(records, key=lambda r: (r["setting"], r["seq_len"], r["horizon"], r["model"]))
  ]
  header = ["setting", "L", "H", "model", "parameters", "s / epoch"]
  return tables.markdown_table(header, rows, digits=2)
