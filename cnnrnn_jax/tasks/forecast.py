"""Forecasting: predict the next `horizon` values of a series from a window of its past.

Shape key: T time steps, C channels, O target channels, N windows, L window length
(seq_len), H horizon.

  sines         sin(2 pi t / P) + 0.5 sin(2 pi t / (5.3 P)) + N(0, 0.1^2) noise, seeded
                phases; P = `period` (default 24)
  mackey_glass  the chaotic Mackey-Glass delay equation (beta 0.2, gamma 0.1, n 10, tau 17),
                Euler steps of 0.1, sampled every time unit after a burn-in; seeded start
  csv_series    chosen columns of your own CSV file (tasks/files.py), e.g. an ETT file

Splits (`data.split`): `fractions` (default: first 70% of the rows train, next 15%
validation, last 15% test), `ett` (the Informer protocol for the hourly ETT files: rows
[0, 8640) train, [8640, 11520) validation, [11520, 14400) test: 12/4/4 months) or
`rows:A,B,C` (train [0, A), validation [A, B), test [B, C)). Window t holds rows
t-L+1..t of every channel and its target is rows t+1..t+H of the first O channels
(`data.targets`: `first` channel, or `all`). A window belongs to the split that holds all of
its targets; its inputs may reach back into earlier splits (past observations), so the
first window of a later split starts L rows early, as in the protocol. The targets are
never inside the window: causal by construction.

Target handling, in this order:
  log          (`data.log`) the series is replaced by its natural log (values must be > 0)
  normalise    every channel is z-scored with the mean and std of the TRAIN rows only
  window_norm  (`data.window_norm`) per window, RevIN-style: `none`; `last` subtracts the
               window's last value from its inputs and targets (NLinear); `mean` its mean;
               `diff` feeds first differences as inputs and targets relative to the last value.
               The same offset comes off inputs and targets, so a forecast's error is
               the error of (forecast + offset) against the truth: scores stay in the units
               below, comparable with the naive forecasts and with published tables.
Metrics are MSE and MAE over all H x O target values, in train-normalised (log) units.

`naive_baselines` scores the naive forecasts on exactly the eval windows: last value (x_t
for every step ahead) and, when a period m is given, seasonal naive (x at t+k-m*ceil(k/m):
the same phase one season back). The trainer logs spec.baseline (the last-value MSE) next
to its loss; `save_assets` writes all of them to WORKDIR/baselines.json.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays
from cnnrnn_jax.tasks.base import TaskSpec, register, rng_for

SERIES_LEN = 4000
SERIES_STREAM = 3
FRACTIONS = (0.7, 0.85)
ETT_HOURLY_ROWS = (12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24)  # 8640, 11520, 14400
SPLIT_NAMES = ("train", "validation", "test")
WINDOW_NORMS = ("none", "last", "mean", "diff")
TARGETS = ("first", "all")
BASELINES_FILE = "baselines.json"


def split_rows(T: int, split: str | None, name: str = "forecast") -> dict[str, tuple[int, int]]:
  """{train, validation, test: (first row, end row)} of a T-row series under `split`."""
  split = split or "fractions"
  if split == "fractions":
    ends = (int(round(T * FRACTIONS[0])), int(round(T * FRACTIONS[1])), T)
  elif split == "ett":
    ends = ETT_HOURLY_ROWS
  elif split.startswith("rows:"):
    try:
      ends = tuple(int(v) for v in split[5:].split(","))
    except ValueError:
      ends = ()
    if len(ends) != 3:
      raise ConfigError(
        f"{name}: split={split!r} needs three row numbers, e.g. rows:8640,11520,14400"
      )
  else:
    raise ConfigError(
      f"{name}: split={split!r} is not fractions, ett or rows:A,B,C; set --config.data.split"
    )
  if not 0 < ends[0] < ends[1] < ends[2] <= T:
    raise ConfigError(
      f"{name}: split={split!r} needs 0 < train end < validation end < test end <= {T} "
      f"rows (got {ends}); use a longer file or set --config.data.split"
    )
  return dict(zip(SPLIT_NAMES, zip((0,) + ends[:2], ends)))


def window_ends(rows: tuple[int, int], seq_len: int, horizon: int, first: int = 0) -> np.ndarray:
  """The window ends t whose targets t+1..t+horizon all lie in rows [lo, hi) and whose
  inputs t-seq_len+1..t start at or after row `first`."""
  lo, hi = rows
  return np.arange(max(lo - 1, first + seq_len - 1), hi - horizon)


def make_windows(
  series_TxC: np.ndarray,
  ends_N: np.ndarray,
  seq_len: int,
  horizon: int,
  out_channels: int = 1,
  window_norm: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
  """(x_NxLxC, y_NxHxO): window t = series[t-L+1 .. t], targets series[t+1 .. t+H, :O],
  with the per-window offset of `window_norm` (module doc) taken off both."""
  steps_NxL = ends_N[:, None] + np.arange(1 - seq_len, 1)
  x_NxLxC = series_TxC[steps_NxL]
  y_NxHxO = series_TxC[ends_N[:, None] + np.arange(1, horizon + 1)][:, :, :out_channels]
  if window_norm == "none":
    return x_NxLxC, y_NxHxO
  offset_Nx1xC = x_NxLxC.mean(1, keepdims=True) if window_norm == "mean" else x_NxLxC[:, -1:]
  if window_norm == "diff":
    x_NxLxC = x_NxLxC - series_TxC[steps_NxL - 1]
  else:
    x_NxLxC = x_NxLxC - offset_Nx1xC
  return x_NxLxC, y_NxHxO - offset_Nx1xC[:, :, :out_channels]


def naive_baselines(
  target_TxO: np.ndarray, ends_N: np.ndarray, horizon: int, period: int | None
) -> dict[str, dict[str, float]]:
  """MSE and MAE of the naive forecasts of target[t+1 .. t+horizon] for every t in ends_N,
  over all steps ahead and channels."""
  if target_TxO.ndim == 1:
    target_TxO = target_TxO[:, None]
  ahead_H = np.arange(1, horizon + 1)
  truth_NxHxO = target_TxO[ends_N[:, None] + ahead_H]
  guesses = {"last_value": target_TxO[np.repeat(ends_N[:, None], horizon, axis=1)]}
  if period:
    back_H = ahead_H - period * np.ceil(ahead_H / period).astype(int)
    guesses["seasonal_naive"] = target_TxO[ends_N[:, None] + back_H]
  return {
    name: {
      "mse": float(np.mean((guess - truth_NxHxO) ** 2)),
      "mae": float(np.mean(np.abs(guess - truth_NxHxO))),
    }
    for name, guess in guesses.items()
  }


def _positive(name: str, knob: str, value, default):
  if value is None:
    return default
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ConfigError(
      f"{name}: {knob}={value!r} must be a positive integer; set --config.data.{knob}"
    )
  return int(value)


def _choice(name: str, knob: str, value, allowed: tuple[str, ...]) -> str:
  value = value or allowed[0]
  if value not in allowed:
    raise ConfigError(
      f"{name}: {knob}={value!r} is not one of {', '.join(allowed)}; set --config.data.{knob}"
    )
  return value


class ForecastTask(arrays.DenseTask):
  """Multi-step regression on windows of a normalised multichannel series (module doc)."""

  def __init__(
    self,
    name: str,
    series_TxC: np.ndarray,
    seed: int,
    data_config,
    default_period: int | None = None,
  ):
    seq_len = _positive(name, "seq_len", data_config.get("seq_len"), 24)
    horizon = _positive(name, "horizon", data_config.get("horizon"), 1)
    period = _positive(name, "period", data_config.get("period"), default_period)
    eval_split = data_config.get("eval_split") or "validation"
    if eval_split not in ("validation", "test"):
      raise ConfigError(
        f"{name}: eval_split={eval_split!r} must be validation or test; set "
        "--config.data.eval_split"
      )
    window_norm = _choice(name, "window_norm", data_config.get("window_norm"), WINDOW_NORMS)
    targets = _choice(name, "targets", data_config.get("targets"), TARGETS)
    if period is not None and period > seq_len:
      raise ConfigError(
        f"{name}: period={period} is longer than the window seq_len={seq_len};"
        " the seasonal-naive value must lie inside the window: raise "
        "--config.data.seq_len or lower --config.data.period"
      )
    series_TxC = np.asarray(series_TxC, np.float64)
    if data_config.get("log"):
      if np.any(series_TxC <= 0):
        raise ConfigError(
          f"{name}: log=True needs positive values, but the series holds "
          f"{series_TxC.min():g}; set --config.data.log=False"
        )
      series_TxC = np.log(series_TxC)
    T, out_channels = len(series_TxC), series_TxC.shape[1] if targets == "all" else 1
    rows = split_rows(T, data_config.get("split"), name)
    train_end = rows["train"][1]
    self.mean_C = series_TxC[:train_end].mean(axis=0)
    self.scale_C = series_TxC[:train_end].std(axis=0)
    self.scale_C = np.where(self.scale_C > 0, self.scale_C, 1.0)
    z_TxC = ((series_TxC - self.mean_C[None, :]) / self.scale_C[None, :]).astype(np.float32)
    first = 1 if window_norm == "diff" else 0  # a difference needs the row before the window
    train_ends = window_ends(rows["train"], seq_len, horizon, first)
    eval_ends = window_ends(rows[eval_split], seq_len, horizon, first)
    if len(train_ends) < 1 or len(eval_ends) < 1:
      raise ConfigError(
        f"{name}: a {T}-step series leaves {len(train_ends)} train and "
        f"{len(eval_ends)} {eval_split} windows of seq_len={seq_len}, "
        f"horizon={horizon}; lower them or use a longer series"
      )
    eval_ends = eval_ends[: arrays.cap_eval(len(eval_ends), data_config.get("eval_size"), name)]
    spec_baseline = naive_baselines(z_TxC[:, :out_channels], eval_ends, horizon, period)
    self.baselines = {
      "split": eval_split,
      "rows": list(rows[eval_split]),
      "windows": int(len(eval_ends)),
      "train_windows": int(len(train_ends)),
      "seq_len": seq_len,
      "horizon": horizon,
      "channels": int(series_TxC.shape[1]),
      "targets": out_channels,
      "period": period,
      "window_norm": window_norm,
      "units": ("log, " if data_config.get("log") else "") + "train-normalised (x - mean) / scale",
      "mean": [float(m) for m in self.mean_C[:out_channels]],
      "scale": [float(s) for s in self.scale_C[:out_channels]],
      **spec_baseline,
    }
    spec = TaskSpec(
      kind="regress",
      num_outputs=horizon * out_channels,
      seq_len=seq_len,
      input_dim=series_TxC.shape[1],
      metric="mse",
      baseline=spec_baseline["last_value"]["mse"],
      horizon=horizon,
    )

    def flat(ends_N):
      x_NxLxC, y_NxHxO = make_windows(z_TxC, ends_N, seq_len, horizon, out_channels, window_norm)
      y_NxD = y_NxHxO.reshape(len(ends_N), -1)
      return x_NxLxC, y_NxD[:, 0] if y_NxD.shape[1] == 1 else y_NxD

    super().__init__(spec, seed, *flat(train_ends), *flat(eval_ends))
    logging.info(
      "%s: %d train / %d %s windows (rows %s); naive baselines %s",
      name,
      len(train_ends),
      len(eval_ends),
      eval_split,
      rows[eval_split],
      spec_baseline,
    )

  def save_assets(self, workdir: str) -> None:
    path = os.path.join(workdir, BASELINES_FILE)
    workdir_module.write_atomic(path, json.dumps(self.baselines, indent=2))


def sines_series(rng: np.random.Generator, T: int, period: int) -> np.ndarray:
  """T steps of two sines (periods `period` and 5.3 x `period`, random phases) plus noise."""
  t_T = np.arange(T)
  phase_1, phase_2 = rng.uniform(0, 2 * np.pi, 2)
  return (
    np.sin(2 * np.pi * t_T / period + phase_1)
    + 0.5 * np.sin(2 * np.pi * t_T / (5.3 * period) + phase_2)
    + 0.1 * rng.standard_normal(T)
  )


def mackey_glass_series(
  rng: np.random.Generator,
  T: int,
  tau: int = 17,
  beta: float = 0.2,
  gamma: float = 0.1,
  power: int = 10,
  substeps: int = 10,
  burn_in: int = 500,
) -> np.ndarray:
  """dx/dt = beta x(t - tau) / (1 + x(t - tau)^power) - gamma x(t), Euler steps of
  1/substeps from a seeded constant history near 1.2; every substeps-th value is kept."""
  delay, dt = tau * substeps, 1.0 / substeps
  history = [1.2 + 0.05 * float(rng.standard_normal())] * (delay + 1)
  x = history
  for _ in range((T + burn_in) * substeps):
    lagged, now = x[-delay - 1], x[-1]
    x.append(now + dt * (beta * lagged / (1.0 + lagged**power) - gamma * now))
  return np.asarray(x[delay + 1 :][burn_in * substeps :: substeps][:T])


@register("sines")
def _sines(data_config, seed: int):
  period = _positive("sines", "period", data_config.get("period"), 24)
  series_T = sines_series(rng_for(seed, SERIES_STREAM), SERIES_LEN, period)
  return ForecastTask("sines", series_T[:, None], seed, data_config, default_period=period)


@register("mackey_glass")
def _mackey_glass(data_config, seed: int):
  series_T = mackey_glass_series(rng_for(seed, SERIES_STREAM), SERIES_LEN)
  return ForecastTask("mackey_glass", series_T[:, None], seed, data_config)
