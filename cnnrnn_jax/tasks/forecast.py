"""Forecasting: predict a series `horizon` steps ahead from a window of its past.

Shape key: T time steps, C channels, N windows, L window length (seq_len).

  sines         sin(2 pi t / P) + 0.5 sin(2 pi t / (5.3 P)) + N(0, 0.1^2) noise, seeded
                phases; P = `period` (default 24)
  mackey_glass  the chaotic Mackey-Glass delay equation (beta 0.2, gamma 0.1, n 10, tau 17),
                Euler steps of 0.1, sampled every time unit after a burn-in; seeded start
  csv_series    chosen columns of your own CSV file (tasks/files.py)

The synthetic series have SERIES_LEN steps drawn from the run seed. Every series is split
in time: train (first 70%), validation (next 15%), test (last 15%); each channel is
normalised with the mean and std of the train part only. Window t holds steps t-L+1..t of
every channel; its target is channel 0 at t+h, and the window belongs to the split that
holds its target (its inputs may reach back into earlier parts: past observations).
`config.data.eval_split` picks validation (default) or test for evaluation.

Metrics are MSE and MAE in normalised units (the trainer's `regress` sums). `naive_baselines`
scores the naive forecasts on exactly the eval windows: last value (x_t) and, when a period
m is given, seasonal naive (x at t+h-m*ceil(h/m): the same phase one season back). The
trainer logs spec.baseline (the last-value MSE) next to its loss; `save_assets` writes all
of them to WORKDIR/baselines.json.
"""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays
from cnnrnn_jax.tasks.base import TaskSpec, register, rng_for

SERIES_LEN = 4000
SERIES_STREAM = 3
SPLITS = {"train": (0.0, 0.7), "validation": (0.7, 0.85), "test": (0.85, 1.0)}
BASELINES_FILE = "baselines.json"


def window_ends(T: int, split: str, seq_len: int, horizon: int) -> np.ndarray:
  """The window ends t whose target t + horizon lies in `split` of a T-step series."""
  lo, hi = (int(round(T * f)) for f in SPLITS[split])
  return np.arange(max(lo - horizon, seq_len - 1), hi - horizon)


def make_windows(
  series_TxC: np.ndarray, ends_N: np.ndarray, seq_len: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
  """(x_NxLxC, y_N): window t = series[t-L+1 .. t], target series[t + horizon, 0]."""
  steps_NxL = ends_N[:, None] + np.arange(1 - seq_len, 1)
  return series_TxC[steps_NxL], series_TxC[ends_N + horizon, 0]


def naive_baselines(
  target_T: np.ndarray, ends_N: np.ndarray, horizon: int, period: int | None
) -> dict[str, dict[str, float]]:
  """MSE and MAE of the naive forecasts of target_T[t + horizon] for every t in ends_N."""
  truth_N = target_T[ends_N + horizon]
  guesses = {"last_value": target_T[ends_N]}
  if period:
    guesses["seasonal_naive"] = target_T[ends_N + horizon - period * math.ceil(horizon / period)]
  return {
    name: {
      "mse": float(np.mean((guess_N - truth_N) ** 2)),
      "mae": float(np.mean(np.abs(guess_N - truth_N))),
    }
    for name, guess_N in guesses.items()
  }


def _positive(name: str, knob: str, value, default):
  if value is None:
    return default
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ConfigError(
      f"{name}: {knob}={value!r} must be a positive integer; set --config.data.{knob}"
    )
  return int(value)


class ForecastTask(arrays.DenseTask):
  """Horizon-h regression on windows of a normalised multichannel series (see module doc)."""

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
    if period is not None and period > seq_len:
      raise ConfigError(
        f"{name}: period={period} is longer than the window seq_len={seq_len};"
        " the seasonal-naive value must lie inside the window: raise "
        "--config.data.seq_len or lower --config.data.period"
      )
    T = len(series_TxC)
    train_end = int(round(T * SPLITS["train"][1]))
    self.mean_C = series_TxC[:train_end].mean(axis=0)
    self.scale_C = series_TxC[:train_end].std(axis=0)
    self.scale_C = np.where(self.scale_C > 0, self.scale_C, 1.0)
    z_TxC = ((series_TxC - self.mean_C[None, :]) / self.scale_C[None, :]).astype(np.float32)
    train_ends = window_ends(T, "train", seq_len, horizon)
    eval_ends = window_ends(T, eval_split, seq_len, horizon)
    if len(train_ends) < 1 or len(eval_ends) < 1:
      raise ConfigError(
        f"{name}: a {T}-step series leaves {len(train_ends)} train and "
        f"{len(eval_ends)} {eval_split} windows of seq_len={seq_len}, "
        f"horizon={horizon}; lower them or use a longer series"
      )
    eval_ends = eval_ends[: arrays.cap_eval(len(eval_ends), data_config.get("eval_size"), name)]
    spec_baseline = naive_baselines(z_TxC[:, 0], eval_ends, horizon, period)
    self.baselines = {
      "split": eval_split,
      "windows": int(len(eval_ends)),
      "horizon": horizon,
      "period": period,
      "units": "train-normalised (x - mean) / scale",
      "mean": float(self.mean_C[0]),
      "scale": float(self.scale_C[0]),
      **spec_baseline,
    }
    spec = TaskSpec(
      kind="regress",
      num_outputs=1,
      seq_len=seq_len,
      input_dim=series_TxC.shape[1],
      metric="mse",
      baseline=spec_baseline["last_value"]["mse"],
    )
    super().__init__(
      spec,
      seed,
      *make_windows(z_TxC, train_ends, seq_len, horizon),
      *make_windows(z_TxC, eval_ends, seq_len, horizon),
    )
    logging.info(
      "%s: %d train / %d %s windows; naive baselines %s",
      name,
      len(train_ends),
      len(eval_ends),
      eval_split,
      {k: v for k, v in spec_baseline.items()},
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
