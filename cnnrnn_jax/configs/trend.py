r"""A trending series of your own: forecast the next H values relative to the last one.

Preset 'MODEL' (linear, dlinear, cnn, lstm, gru, tcn, transformer: configs/ett.py's sizes).
For any CSV series (`--config.data.train_path`, `--config.data.columns` to pick the target,
default the last column); set seq_len, horizon and period to the series' own rhythm (the
defaults suit weekly data with a yearly season: two years in, one year out, period 52).

Target handling: the series is split in time (70% train, 15% validation, 15% test), z-scored
with the training rows' statistics, and each window's last value is taken off its inputs and
targets (window_norm=last) and added back. A trending series leaves the training range (a
model that reads levels sees test inputs it never saw; a last-value offset turns every
window into "what happens next, relative to now", which the training years do show). Empty
cells are filled by linear interpolation between their neighbours (interpolate_missing),
so a weekly series keeps its spacing; `--config.data.log=True` forecasts the log of a
positive series whose swings grow with its level. Model selection on the validation split.

The weekly Mauna Loa CO2 series (statsmodels' `co2`, 2,284 weeks from March 1958 to December
2001, ppm; 59 empty weeks filled by interpolation): 1,444 training windows, 292 test windows
whose targets are weeks 1,941..2,283 (June 1995 to December 2001: 357.3 to 373.9 ppm, every
one above the training weeks' highest value, 354.5 ppm), forecasting the next 52 weeks from
the last 104. D=../shared/data:

  python -m experiments.train --config=cnnrnn_jax/configs/trend.py:linear \
      --config.data.train_path=$D/statsmodels_ts/co2.csv --seeds=0,1,2 --workdir=runs/co2/linear
  # likewise :gru and :cnn with --seeds=0 (workdirs runs/co2/gru, runs/co2/cnn); the same
  # without the offset: --config.data.window_norm=none, workdirs runs/co2_levels/MODEL
  python -m experiments.forecast_table --runs=runs/co2        # and --runs=runs/co2_levels

Test MSE and MAE in train-normalised units (scale 10.80 ppm: the linear map's RMSE is 0.78
ppm, the last value's 3.3 ppm), mean±std over the seeds in brackets, selected on validation;
a 2-core CPU shared with other jobs (seconds per epoch vary with the load):

  | univariate, L = 104, test MSE | H = 52 |
  |---|---|
  | naive last | 0.0931 |
  | seasonal (52) | 0.0310 |
  | linear | 0.0052±0.0001 (3) |
  | cnn | 0.0051 (1) |
  | gru | 0.0050 (1) |

  | univariate, L = 104, test MAE | H = 52 |
  |---|---|
  | naive last | 0.2466 |
  | seasonal (52) | 0.1564 |
  | linear | 0.0550 (3) |
  | cnn | 0.0541 (1) |
  | gru | 0.0530 (1) |

  | setting | L | H | model | parameters | s / epoch |
  |---|---|---|---|---|---|
  | univariate | 104 | 52 | cnn | 259,924 | 0.39 |
  | univariate | 104 | 52 | gru | 16,244 | 6.52 |
  | univariate | 104 | 52 | linear | 5,460 | 0.04 |

Every model beats the last value by a factor of 18 and the seasonal naive by 6. Without the
offset (window_norm=none), reading levels the training years never reached:

  | univariate, L = 104, test MSE | H = 52 |
  |---|---|
  | naive last | 0.0931 |
  | seasonal (52) | 0.0310 |
  | linear | 0.0099±0.0014 (3) |
  | gru | 0.5092 (1) |

the linear map still extrapolates (a weighted sum of the inputs carries the level along), at
twice the error; the GRU,
whose tanh state saturates on unseen levels, is 5.5 times worse than the last value, the
failure the offset removes.
"""

import ml_collections

from cnnrnn_jax.configs import ett


def get_config(preset: str = "linear") -> ml_collections.ConfigDict:
  """`preset` is a model preset of configs/ett.py."""
  if preset not in ett.PRESETS:
    raise ValueError(f"trend preset {preset!r} is not one of {', '.join(ett.PRESETS)}")
  config = ett.get_config(f"{preset},52,104")
  config.train_steps = 1000 if config.model == "linear" else 1500
  config.eval_every = config.log_every = 100
  config.checkpoint_every = config.train_steps
  data = config.data
  data.split = "fractions"
  data.columns = None
  data.targets = "first"
  data.period = 52
  data.window_norm = "last"
  data.interpolate_missing = True
  return config
