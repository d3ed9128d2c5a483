"""Forecasting tasks: windows, chronological splits and the naive baselines (tasks/forecast.py)."""

import json

import numpy as np
import pytest

from cnnrnn_jax import tasks
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import forecast


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


def test_naive_baselines_on_a_hand_built_series():
  # period-3 pattern 0 1 2 0 1 2 ... plus a jump of +10 from step 9 on
  series = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 10, 11, 12], float)
  ends = np.array([6, 7, 8])  # forecast steps 7, 8, 9 one step ahead
  scores = forecast.naive_baselines(series, ends, horizon=1, period=3)
  # last value: guesses 0, 1, 2 for truths 1, 2, 10 -> errors 1, 1, 8
  assert scores["last_value"] == {"mse": pytest.approx(66 / 3), "mae": pytest.approx(10 / 3)}
  # seasonal naive (one period back): guesses 1, 2, 0 for 1, 2, 10 -> errors 0, 0, 10
  assert scores["seasonal_naive"] == {"mse": pytest.approx(100 / 3), "mae": pytest.approx(10 / 3)}
  # horizon 4 with period 3 looks ceil(4/3) = 2 periods back: t + 4 - 6
  two_ahead = forecast.naive_baselines(series, np.array([5, 6, 7]), horizon=4, period=3)
  truths, guesses = series[[9, 10, 11]], series[[3, 4, 5]]
  assert two_ahead["seasonal_naive"]["mae"] == pytest.approx(np.mean(np.abs(truths - guesses)))
  assert "seasonal_naive" not in forecast.naive_baselines(series, ends, 1, None)


def test_windows_splits_and_no_target_leaks():
  T, L, h = 100, 5, 2
  train, val, test = (forecast.window_ends(T, s, L, h) for s in ("train", "validation", "test"))
  assert train[0] == L - 1 and train[-1] + h == 69  # targets 6..69 in the train part
  assert val[0] + h == 70 and val[-1] + h == 84  # targets in 70..84
  assert test[0] + h == 85 and test[-1] + h == 99
  series = np.arange(T, dtype=float)[:, None] * np.array([1.0, -1.0])[None, :]
  x, y = forecast.make_windows(series, np.array([4, 50]), L, h)
  assert x.shape == (2, L, 2)
  np.testing.assert_array_equal(x[1, :, 0], [46, 47, 48, 49, 50])
  np.testing.assert_array_equal(y, [6, 52])  # channel 0, horizon 2 ahead


def test_sines_task_matches_its_baselines_and_writes_them(tmp_path):
  task = tasks.build("sines", data(seq_len=30, horizon=3, eval_split="test"), seed=1)
  assert task.spec.kind == "regress" and task.spec.input_dim == 1 and task.spec.seq_len == 30
  ends = forecast.window_ends(forecast.SERIES_LEN, "test", 30, 3)
  assert task.num_eval == len(ends)
  # The eval windows' last input is the last-value guess: recompute the baseline from them.
  last_input, truth = task.x["eval"][:, -1, 0], task.y["eval"]
  assert np.mean((last_input - truth) ** 2) == pytest.approx(task.spec.baseline, rel=1e-5)
  assert task.baselines["seasonal_naive"]["mse"] < task.baselines["last_value"]["mse"]
  # Normalisation comes from the train part only: train targets are ~N(0, 1), test not exactly.
  assert abs(task.y["train"].mean()) < 0.05 and abs(task.y["train"].std() - 1) < 0.05
  task.save_assets(str(tmp_path))
  saved = json.loads((tmp_path / "baselines.json").read_text())
  assert saved["split"] == "test" and saved["period"] == 24
  assert saved["last_value"]["mse"] == pytest.approx(task.spec.baseline)


def test_synthetic_series_are_seeded():
  a = tasks.build("mackey_glass", data(), seed=0)
  b = tasks.build("mackey_glass", data(), seed=0)
  c = tasks.build("mackey_glass", data(), seed=1)
  np.testing.assert_array_equal(a.x["train"], b.x["train"])
  assert not np.allclose(a.x["train"], c.x["train"])
  np.testing.assert_array_equal(a.train_batch(4, 8)["targets"], b.train_batch(4, 8)["targets"])
  assert "seasonal_naive" not in a.baselines
  # Mackey-Glass with tau 17 stays in its attractor's range (about 0.2 .. 1.4).
  raw = forecast.mackey_glass_series(np.random.default_rng(0), 2000)
  assert 0.1 < raw.min() < 0.5 and 1.1 < raw.max() < 1.5 and raw.std() > 0.15


@pytest.mark.parametrize(
  "knobs,message",
  [
    ({"horizon": 0}, r"^sines: horizon=0 must be a positive integer"),
    ({"period": 48, "seq_len": 24}, r"^sines: period=48 is longer than the window seq_len=24"),
    ({"eval_split": "train"}, r"^sines: eval_split='train' must be validation or test"),
    ({"seq_len": 3000}, r"^sines: a 4000-step series leaves 0 train"),
  ],
)
def test_config_errors(knobs, message):
  with pytest.raises(ConfigError, match=message):
    tasks.build("sines", data(**knobs), seed=0)
