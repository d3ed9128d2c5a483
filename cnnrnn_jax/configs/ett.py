r"""ETTh1 long-horizon forecasting, the protocol of Zhou et al. 2021 (Informer) and the tables
after it (Autoformer, Zeng et al. 2023's DLinear/NLinear, PatchTST).

Preset 'MODEL,H[,L][,multi]': MODEL a key of PRESETS, H the horizon (96, 192, 336, 720), L the
input length (default 336), 'multi' for the multivariate setting (all 7 columns in and out;
default: univariate, OT in and out). Any ETT-format file (the columns date, HUFL, HULL, MUFL,
MULL, LUFL, LULL, OT and at least 14,400 hourly rows) runs unchanged: ETTh2, or your own.

The protocol (tasks/forecast.py): rows [0, 8640) train, [8640, 11520) validation,
[11520, 14400) test (12/4/4 months; the later splits' first windows start L rows early), each
channel z-scored with the training rows' mean and std, MSE and MAE over all H steps (and
channels) in those units. Model selection (`select_on=validation`): every evaluation scores
the validation windows too, and the test metrics reported are those of the best validation
step (the protocol's early stopping). The naive forecasts (last value; seasonal, period 24)
are scored on exactly the test windows, in baselines.json.

Target handling: every preset but dlinear subtracts each window's last value from its inputs
and targets and adds it back (window_norm=last, NLinear's and RevIN's offset): the test months
are warmer than the training months, and a forecast relative to the last value does not care
where the level is. dlinear uses no offset, as DLinear itself.

Models (the forecast is a vector head: all H steps at once):
  linear       one linear map from the L inputs to the H outputs, shared by the channels
               (NLinear, with window_norm=last); 336 x H + H parameters
  dlinear      DLinear: a 25-step moving average splits each window into trend and remainder,
               one map each
  cnn          causal convolutions of widths 3/5/7 (16 filters each); the head reads every
               step's features (readout flatten), not max-over-time, which discards *when*
  lstm, gru    64 units, the state after the last step through a linear head
  lstm_iterated  the same LSTM, seq2seq-style: after the window it steps on its own
               forecasts, one value per step (univariate, or every channel with multi)
  tcn          Bai et al. 2018: 6 levels of kernel 3 (receptive field 253), 32 channels,
               the last step's features through a linear head
  transformer  2 pre-norm layers, width 64, 4 heads, mean over time through a linear head

Training: batch 32; linear/dlinear as Zeng et al. (Adam 5e-3, no weight decay), cosine over
6 epochs; the networks AdamW 1e-3, cosine, clip 1, dropout 0.1, 3 epochs. One epoch is the
8640 - L - H + 1 training windows (8,209 at L = 336, H = 96) / 32 ~ 256 steps; an evaluation
(validation and test) every half epoch.

Commands (D=../shared/data; one workdir per row, seeds 0, 1, 2 unless said), then the table:

  for H in 96 192 336 720; do for M in linear dlinear; do
    python -m experiments.train --config=cnnrnn_jax/configs/ett.py:$M,$H \
        --config.data.train_path=$D/ett/ETTh1.csv --seeds=0,1,2 --workdir=runs/ett/S_${M}_L336_H$H
  done; done
  python -m experiments.forecast_table --runs=runs/ett

Measured (2-core CPU shared with other jobs): filled in from the runs' own files by
experiments/forecast_table.py; see the table below.
"""

import ml_collections

from cnnrnn_jax.configs import default

HORIZONS = (96, 192, 336, 720)
LINEAR_OPT = {
  "optimizer": "adamw",
  "learning_rate": 5e-3,
  "warmup_steps": 0,
  "schedule": "cosine",
  "weight_decay": 0.0,
  "clip_norm": 0.0,
}
NET_OPT = {"learning_rate": 1e-3, "warmup_steps": 100, "weight_decay": 1e-4, "clip_norm": 1.0}

# preset -> (model, arch overrides, opt overrides, epochs, window_norm)
PRESETS = {
  "linear": ("linear", {"decomposition": 0}, LINEAR_OPT, 6, "last"),
  "dlinear": ("linear", {"decomposition": 25}, LINEAR_OPT, 6, "none"),
  "cnn": (
    "cnn",
    {"num_filters": 16, "kernel_sizes": (3, 5, 7), "forecast_readout": "flatten"},
    NET_OPT,
    3,
    "last",
  ),
  "lstm": ("lstm", {"hidden": 64}, NET_OPT, 3, "last"),
  "gru": ("gru", {"hidden": 64}, NET_OPT, 3, "last"),
  "lstm_iterated": ("lstm", {"hidden": 64, "forecast_mode": "iterated"}, NET_OPT, 3, "last"),
  "tcn": ("tcn", {"hidden": 32, "tcn_levels": 6, "tcn_kernel_size": 3}, NET_OPT, 3, "last"),
  "transformer": (
    "transformer",
    {"hidden": 64, "num_layers": 2, "num_heads": 4, "mlp_ratio": 2},
    NET_OPT,
    3,
    "last",
  ),
}
TRAIN_ROWS = 8640
BATCH = 32


def get_config(preset: str = "linear,96") -> ml_collections.ConfigDict:
  """`preset` is 'MODEL,H[,L][,multi]' (module doc)."""
  parts = preset.split(",")
  name, numbers = parts[0], [int(p) for p in parts[1:] if p.isdigit()]
  if name not in PRESETS or not numbers or set(parts[1:]) - {str(n) for n in numbers} - {"multi"}:
    raise ValueError(
      f"ett preset {preset!r} is not MODEL,H[,L][,multi] with MODEL one of {', '.join(PRESETS)}"
    )
  horizon, seq_len = numbers[0], (numbers[1] if len(numbers) > 1 else 336)
  model, arch, opt, epochs, window_norm = PRESETS[name]
  config = default.get_config(f"{model},csv_series")
  config.arch.update(arch)
  config.arch.dropout = 0.0 if model == "linear" else 0.1
  config.opt.update(opt)
  config.batch_size = BATCH
  epoch = (TRAIN_ROWS - seq_len - horizon + 1) // BATCH
  config.train_steps = epochs * epoch
  config.eval_every = epoch // 2
  config.log_every = epoch // 2
  config.checkpoint_every = config.train_steps
  config.select_on = "validation"
  data = config.data
  data.split = "ett"
  data.eval_split = "test"
  data.columns = "all" if "multi" in parts else "OT"
  data.targets = "all" if "multi" in parts else "first"
  data.seq_len = seq_len
  data.horizon = horizon
  data.period = 24
  data.window_norm = window_norm
  return config
