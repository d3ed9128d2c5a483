"""Forecasting: protocol splits, causal windows, train-only normalisation, target handling, the
naive baselines on the scored windows (tasks/forecast.py), the linear forecaster and the CNN
that keeps time (encoders.py), validation-based selection (selection.py) and the ETT preset."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import encoders, forecast_report, models, recurrent, selection, tasks, train
from cnnrnn_jax.configs import default, ett, trend
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import files, forecast
from cnnrnn_jax.tasks.base import TaskSpec


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


def ett_file(path, rows=14500, seed=0):
  """An ETT-format CSV: date, the six load columns and OT (index-coded OT when asked)."""
  rng = np.random.default_rng(seed)
  hours = np.arange(rows)
  values = np.sin(2 * np.pi * hours[:, None] / 24 + np.arange(7)) + 0.1 * rng.standard_normal(
    (rows, 7)
  )
  names = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT"
  body = "".join(
    f"2016-07-{1 + h // 24:02d} {h % 24:02d}:00:00," + ",".join(f"{v:.4f}" for v in row) + "\n"
    for h, row in zip(hours, values)
  )
  path.write_text(names + "\n" + body)
  return values


def test_naive_baselines_on_a_hand_built_series():
  # period-3 pattern 0 1 2 0 1 2 ... plus a jump of +10 from step 9 on
  series = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 10, 11, 12], float)
  ends = np.array([6, 7, 8])  # forecast steps 7, 8, 9 one step ahead
  scores = forecast.naive_baselines(series, ends, horizon=1, period=3)
  # last value: guesses 0, 1, 2 for truths 1, 2, 10 -> errors 1, 1, 8
  assert scores["last_value"] == {"mse": pytest.approx(66 / 3), "mae": pytest.approx(10 / 3)}
  # seasonal naive (one period back): guesses 1, 2, 0 for 1, 2, 10 -> errors 0, 0, 10
  assert scores["seasonal_naive"] == {"mse": pytest.approx(100 / 3), "mae": pytest.approx(10 / 3)}
  # horizon 4 from t = 5: truths rows 6..9; seasonal guesses rows 3, 4, 5 (one period back)
  # and row 3 again for step 4 (t + 4 - 2 periods); last value repeats row 5 (= 2)
  four = forecast.naive_baselines(series, np.array([5]), horizon=4, period=3)
  truths, seasonal = series[[6, 7, 8, 9]], series[[3, 4, 5, 3]]
  assert four["seasonal_naive"]["mae"] == pytest.approx(np.mean(np.abs(truths - seasonal)))
  assert four["last_value"]["mse"] == pytest.approx(np.mean((truths - 2) ** 2))
  assert "seasonal_naive" not in forecast.naive_baselines(series, ends, 1, None)


def test_split_boundaries_are_the_ett_protocol_rows():
  rows = forecast.split_rows(17420, "ett")
  assert rows == {"train": (0, 8640), "validation": (8640, 11520), "test": (11520, 14400)}
  L, H = 336, 96
  train, val, test = (forecast.window_ends(rows[s], L, H) for s in forecast.SPLIT_NAMES)
  # Informer's loader: split s covers rows [border1, border2) with border1 = start - L for the
  # later splits; window i reads rows border1+i .. +L-1 and predicts the next H rows.
  for ends, border1, border2 in (
    (train, 0, 8640),
    (val, 8640 - L, 11520),
    (test, 11520 - L, 14400),
  ):
    assert ends[0] - L + 1 == border1 and ends[-1] + H == border2 - 1
    assert len(ends) == border2 - border1 - L - H + 1
  assert len(test) == 2785 and len(train) == 8209  # the counts every ETTh1 paper has
  assert forecast.split_rows(100, "rows:50,70,90")["test"] == (70, 90)
  assert forecast.split_rows(100, None) == {
    "train": (0, 70),
    "validation": (70, 85),
    "test": (85, 100),
  }


@pytest.mark.parametrize("norm", ["none", "last", "mean", "diff"])
def test_windows_are_causal_by_construction(norm):
  T, L, H = 60, 6, 4
  index_Tx2 = np.stack([np.arange(T), 100.0 + np.arange(T) ** 2], 1).astype(float)
  ends = forecast.window_ends((20, 60), L, H, first=1)
  x, y = forecast.make_windows(index_Tx2, ends, L, H, out_channels=1, window_norm=norm)
  assert x.shape == (len(ends), L, 2) and y.shape == (len(ends), H, 1)
  raw_x, raw_y = forecast.make_windows(index_Tx2, ends, L, H, 1, "none")
  # the inputs are rows t-L+1..t, the targets rows t+1..t+H: every target after every input
  np.testing.assert_array_equal(raw_x[:, :, 0], ends[:, None] + np.arange(1 - L, 1))
  np.testing.assert_array_equal(raw_y[:, :, 0], ends[:, None] + np.arange(1, H + 1))
  assert np.all(raw_x[:, :, 0].max(1) < raw_y[:, :, 0].min(1))
  # the offset comes from the inputs alone: changing every row after t leaves the window's
  # inputs (and its target's offset) unchanged
  future = index_Tx2.copy()
  future[ends[0] + 1 :] = -7.0
  x2, y2 = forecast.make_windows(future, ends[:1], L, H, 1, norm)
  np.testing.assert_array_equal(x2, x[:1])
  np.testing.assert_allclose(y2 - (-7.0), y[:1] - raw_y[:1], atol=1e-9)  # same offset


def test_normalisation_uses_training_rows_only(tmp_path):
  path = tmp_path / "ETTx.csv"
  values = ett_file(path)
  knobs = {"train_path": str(path), "split": "ett", "seq_len": 24, "horizon": 8}
  task = tasks.build("csv_series", data(columns="all", targets="all", **knobs), 0)
  np.testing.assert_allclose(task.mean_C, values[:8640].mean(0), atol=1e-4)
  np.testing.assert_allclose(task.scale_C, values[:8640].std(0), atol=1e-4)
  # a wild test period changes neither the statistics nor a single training window
  lines = path.read_text().splitlines()
  for row in range(1 + 8640, len(lines)):
    lines[row] = lines[row].rsplit(",", 1)[0] + ",9999"
  path.write_text("\n".join(lines) + "\n")
  wild = tasks.build("csv_series", data(columns="all", targets="all", **knobs), 0)
  np.testing.assert_array_equal(wild.mean_C, task.mean_C)
  np.testing.assert_array_equal(wild.x["train"], task.x["train"])
  assert task.columns == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
  assert task.spec.num_outputs == 8 * 7 and task.y["train"].shape == (task.num_train, 56)


@pytest.mark.parametrize("norm", ["none", "last"])
def test_baselines_are_scored_on_exactly_the_model_windows(tmp_path, norm):
  path = tmp_path / "ETTx.csv"
  ett_file(path)
  L, H, m = 48, 30, 24
  task = tasks.build(
    "csv_series",
    data(
      train_path=str(path),
      columns="OT",
      split="ett",
      eval_split="test",
      seq_len=L,
      horizon=H,
      period=m,
      window_norm=norm,
    ),
    0,
  )
  x, y = task.x["eval"][:, :, 0], task.y["eval"]  # N x L inputs, N x H targets
  assert task.num_eval == len(forecast.window_ends((11520, 14400), L, H)) == 2880 - H + 1
  base = task.baselines
  last_NxH = np.repeat(x[:, -1:], H, 1)  # 0 after window_norm=last: the offset is x_t
  assert np.mean((last_NxH - y) ** 2) == pytest.approx(base["last_value"]["mse"], rel=1e-5)
  assert np.mean(np.abs(last_NxH - y)) == pytest.approx(base["last_value"]["mae"], rel=1e-5)
  k = np.arange(1, H + 1)
  seasonal_NxH = x[:, L - 1 + k - m * np.ceil(k / m).astype(int)]
  assert np.mean((seasonal_NxH - y) ** 2) == pytest.approx(base["seasonal_naive"]["mse"], rel=1e-5)
  assert task.spec.baseline == base["last_value"]["mse"]
  task.save_assets(str(tmp_path))
  saved = json.loads((tmp_path / "baselines.json").read_text())
  assert saved["windows"] == task.num_eval and saved["rows"] == [11520, 14400]


def test_log_and_trend_target_handling(tmp_path):
  trend = np.exp(0.02 * np.arange(400)) * (2 + 0.3 * np.sin(np.arange(400) / 3))
  path = tmp_path / "trend.csv"
  path.write_text("t,v\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(trend)))
  knobs = {"train_path": str(path), "seq_len": 20, "horizon": 5, "eval_split": "test"}
  task = tasks.build("csv_series", data(log=True, **knobs), 0)
  assert task.mean_C[0] == pytest.approx(np.log(trend[:280]).mean(), abs=1e-5)
  assert task.baselines["units"].startswith("log")
  # the test windows lie above anything in training; a last-value offset removes the level
  level = tasks.build("csv_series", data(**knobs), 0)
  offset = tasks.build("csv_series", data(window_norm="last", **knobs), 0)
  assert level.x["eval"].min() > level.x["train"].max()
  assert np.all(offset.x["eval"][:, -1] == 0)
  np.testing.assert_allclose(
    offset.y["eval"], level.y["eval"] - level.x["eval"][:, -1], rtol=1e-5, atol=1e-5
  )
  assert offset.baselines["last_value"] == level.baselines["last_value"]
  path.write_text("t,v\n" + "".join(f"{i},{np.sin(i):.4f}\n" for i in range(100)))
  with pytest.raises(ConfigError, match=r"log=True needs positive values"):
    tasks.build("csv_series", data(train_path=str(path), log=True), 0)


def test_missing_cells_are_interpolated(tmp_path):
  path = tmp_path / "gaps.csv"
  path.write_text("d,v\n1,\n2,2.0\n3,\n4,\n5,8.0\n6,\n" + "".join(f"{i},1\n" for i in range(40)))
  with pytest.raises(ConfigError, match=r"gaps.csv:2: column 'v' is empty"):
    tasks.build("csv_series", data(train_path=str(path), columns="v"), 0)
  filled, count = files.fill_missing(np.array([[np.nan], [2.0], [np.nan], [np.nan], [8.0]]))
  np.testing.assert_allclose(filled[:, 0], [2, 2, 4, 6, 8])
  assert count == 3
  task = tasks.build(
    "csv_series", data(train_path=str(path), columns="v", interpolate_missing=True, seq_len=4), 0
  )
  assert task.filled == 4


@pytest.mark.parametrize(
  "knobs,message",
  [
    ({"horizon": 0}, r"^sines: horizon=0 must be a positive integer"),
    ({"period": 48, "seq_len": 24}, r"^sines: period=48 is longer than the window seq_len=24"),
    ({"eval_split": "train"}, r"^sines: eval_split='train' must be validation or test"),
    ({"seq_len": 3000}, r"^sines: a 4000-step series leaves 0 train"),
    ({"split": "ett"}, r"^sines: split='ett' needs 0 < train end .* <= 4000 rows"),
    ({"split": "rows:1,2"}, r"^sines: split='rows:1,2' needs three row numbers"),
    ({"split": "halves"}, r"^sines: split='halves' is not fractions, ett or rows"),
    ({"window_norm": "revin"}, r"^sines: window_norm='revin' is not one of none, last"),
    ({"targets": "some"}, r"^sines: targets='some' is not one of first, all"),
  ],
)
def test_config_errors(knobs, message):
  with pytest.raises(ConfigError, match=message):
    tasks.build("sines", data(**knobs), seed=0)


def test_sines_task_and_synthetic_series_are_seeded():
  task = tasks.build("sines", data(seq_len=30, horizon=12, eval_split="test"), seed=1)
  assert task.spec.num_outputs == 12 and task.y["eval"].shape == (task.num_eval, 12)
  assert task.baselines["seasonal_naive"]["mse"] < task.baselines["last_value"]["mse"]
  assert abs(task.y["train"].mean()) < 0.05 and abs(task.y["train"].std() - 1) < 0.05
  a = tasks.build("mackey_glass", data(), seed=0)
  b = tasks.build("mackey_glass", data(), seed=0)
  c = tasks.build("mackey_glass", data(), seed=1)
  np.testing.assert_array_equal(a.x["train"], b.x["train"])
  assert not np.allclose(a.x["train"], c.x["train"])
  assert a.y["train"].shape == (a.num_train,)  # one step ahead: one target per window
  raw = forecast.mackey_glass_series(np.random.default_rng(0), 2000)
  assert 0.1 < raw.min() < 0.5 and 1.1 < raw.max() < 1.5 and raw.std() > 0.15


# ---------------------------------------------------------------------------------------------
# Models


def spec(L=12, H=5, C=3, O=3):
  return TaskSpec("regress", H * O, L, input_dim=C, metric="mse", horizon=H)


def test_moving_average_matches_a_loop():
  x_LxC = np.random.default_rng(0).standard_normal((9, 2))
  for k in (4, 5):
    padded = np.concatenate([x_LxC[:1]] * ((k - 1) // 2) + [x_LxC] + [x_LxC[-1:]] * (k // 2))
    want = np.stack([padded[i : i + k].mean(0) for i in range(9)])
    np.testing.assert_allclose(encoders.moving_average(jnp.asarray(x_LxC), k), want, rtol=1e-5)


@pytest.mark.parametrize("decomposition", fast_tier([(0,), (5,)], fast=[(0,)]))
def test_linear_forecaster_is_one_map_shared_by_the_channels(decomposition):
  arch = default.get_config().arch
  arch.decomposition = decomposition
  model = models.build_model("linear", arch, spec())
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 12, 3))
  lengths = jnp.full((2,), 12)
  params = model.init(jax.random.PRNGKey(1), x, lengths)
  y, _ = model.apply(params, x, lengths)
  assert y.shape == (2, 15)
  assert models.count_params(params) == (1 + (decomposition > 0)) * (12 * 5 + 5)
  # channel-independent: swapping two input channels swaps the forecasts' channels
  y_swapped, _ = model.apply(params, x[:, :, [1, 0, 2]], lengths)
  np.testing.assert_allclose(
    y_swapped.reshape(2, 5, 3), y.reshape(2, 5, 3)[:, :, [1, 0, 2]], rtol=1e-5, atol=1e-6
  )


def test_cnn_keeps_time_for_forecasting_and_linear_needs_a_horizon():
  arch = default.get_config().arch
  arch.num_filters, arch.kernel_sizes = 4, (3, 5)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 12, 3))
  lengths = jnp.full((2,), 12)
  for readout, features in (("flatten", 12 * 8), ("last", 8)):
    arch.forecast_readout = readout
    model = models.build_model("cnn", arch, spec())
    params = model.init(jax.random.PRNGKey(1), x, lengths)
    assert params["params"]["head"]["kernel"].shape == (features, 15)
    assert model.apply(params, x, lengths)[0].shape == (2, 15)
  arch.forecast_readout = "max"
  with pytest.raises(ConfigError, match=r"forecast_readout='max' is not one of"):
    models.build_model("cnn", arch, spec())
  with pytest.raises(ConfigError, match=r"model 'linear' maps a window to the next"):
    models.build_model("linear", arch, TaskSpec("regress", 1, 12, input_dim=1, metric="mse"))


@pytest.mark.parametrize("cell", fast_tier([("lstm",), ("gru",)], fast=[("lstm",)]))
def test_iterated_recurrence_steps_on_its_own_forecasts(cell):
  arch = default.get_config().arch
  arch.hidden, arch.forecast_mode = 6, "iterated"
  model = models.build_model(cell, arch, spec(L=7, H=4, C=2, O=2))
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 2))
  lengths = jnp.full((3,), 7)
  variables = model.init(jax.random.PRNGKey(1), x, lengths)
  y, _ = model.apply(variables, x, lengths)
  assert y.shape == (3, 8)
  # the same forecast by hand: read the window, then feed each forecast back as the input
  p = variables["params"]["encoder"]
  step = recurrent.CELLS[cell][0]
  carry = recurrent.initial_carry(cell, 6)
  for t in range(7):
    carry, _ = step(p["cell"], carry, x[0, t])
  want = []
  for _ in range(4):
    h = carry[1] if cell == "lstm" else carry
    want.append(h @ p["head_kernel"] + p["head_bias"])
    carry, _ = step(p["cell"], carry, want[-1])
  np.testing.assert_allclose(y[0], np.concatenate(want), rtol=1e-4, atol=1e-5)
  with pytest.raises(ConfigError, match=r"feeds the forecasts back as inputs"):
    models.build_model(cell, arch, spec(C=3, O=1))
  with pytest.raises(ConfigError, match=r"model 'tcn' is not one of rnn, lstm, gru"):
    models.build_model("tcn", arch, spec())


# ---------------------------------------------------------------------------------------------
# Selection on the validation split


def test_select_best_picks_the_best_validation_step():
  lines = [
    {"step": 10, "split": "validation", "mse": 0.5},
    {"step": 10, "split": "eval", "mse": 0.4, "mae": 0.3},
    {"step": 20, "split": "train", "mse": 0.1},
    {"step": 20, "split": "validation", "mse": 0.2},
    {"step": 20, "split": "eval", "mse": 0.9, "mae": 0.8},
    {"step": 30, "split": "validation", "mse": 0.3},
    {"step": 30, "split": "eval", "mse": 0.1, "mae": 0.1},
  ]
  picked = selection.select_best(lines, "validation", "eval", spec())
  assert picked == {"mse": 0.9, "mae": 0.8, "selected_step": 20.0, "validation_mse": 0.2}
  classify = TaskSpec("classify", 2, 4, vocab_size=5)
  accuracy = [dict(l, accuracy=l["mse"]) for l in lines if l["split"] != "train"]
  assert selection.select_best(accuracy, "validation", "eval", classify)["selected_step"] == 10.0
  config = ett.get_config("linear,96")
  config.select_on = "test"
  with pytest.raises(ConfigError, match=r"select_on='test' is the eval split itself"):
    selection.selection_task(config)


def test_ett_presets_build():
  for name in ett.PRESETS:
    config = ett.get_config(f"{name},192,96,multi")
    assert config.data.seq_len == 96 and config.data.horizon == 192
    assert config.data.columns == "all" and config.select_on == "validation"
  assert ett.get_config("linear,720").train_steps == 6 * ((8640 - 336 - 720 + 1) // 32)
  with pytest.raises(ValueError, match=r"ett preset 'linear,x'"):
    ett.get_config("linear,x")
  for name in ett.PRESETS:
    config = trend.get_config(name)
    assert config.data.window_norm == "last" and config.data.split == "fractions"
    assert config.data.interpolate_missing and config.data.columns is None


@pytest.mark.slow
def test_ett_preset_runs_unchanged_on_another_ett_file(tmp_path):
  """The reference preset on a synthetic ETT-format file: trains, selects on validation,
  and the table reads the run back."""
  path = tmp_path / "ETTother.csv"
  ett_file(path, rows=14400, seed=3)
  config = ett.get_config("linear,24,48")
  with config.unlocked():
    config.data.train_path = str(path)
    config.train_steps, config.eval_every, config.log_every = 40, 10, 10
    config.checkpoint_every = 0
  root = tmp_path / "runs"
  results = train.train_over_seeds(config, str(root / "S_linear"), [0])
  assert results[0]["selected_step"] in (10.0, 20.0, 30.0, 40.0)
  assert results[0]["mse"] < results[0]["baseline_loss"]  # a sine: linear beats last value
  records = forecast_report.collect(str(root))
  assert records[0]["params"] == 48 * 24 + 24 and records[0]["horizon"] == 24
  table = forecast_report.results_table(records)
  assert "| univariate, L = 48, test MSE | H = 24 |" in table and "(1) |" in table
  assert "linear" in forecast_report.cost_table(records)
  assert ml_collections.ConfigDict(json.loads((root / "S_linear/seed_0/config.json").read_text()))


@pytest.mark.slow
def test_trend_preset_beats_last_value_on_a_trending_series_with_gaps(tmp_path):
  """A weekly-like series whose test years lie above its training range, with empty cells."""
  t = np.arange(900)
  series = 300 + 0.05 * t + 3 * np.sin(2 * np.pi * t / 52)
  cells = [f"{v:.3f}" if i % 37 else "" for i, v in enumerate(series)]
  path = tmp_path / "rising.csv"
  path.write_text("week,level\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
  config = trend.get_config("linear")
  with config.unlocked():
    config.data.train_path = str(path)
    config.train_steps, config.eval_every, config.checkpoint_every = 200, 50, 0
  metrics = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert metrics["mse"] < 0.5 * metrics["baseline_loss"]
