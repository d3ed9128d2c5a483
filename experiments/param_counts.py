r"""Parameter counts of several models under one preset file: are the budgets matched?

  python -m experiments.param_counts --preset=cnnrnn_jax/configs/copy_memory.py \
      --models=tcn,lstm,gru,mingru,lru,transformer

`--preset` is a config file whose `get_config(arg)` takes the model name (default.py,
beyond.py and copy_memory.py all do); `--task` overrides the preset's task. Nothing is
trained or compiled: `models.parameter_counts` works from shapes only.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import models, train
from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_PRESET = flags.DEFINE_string("preset", "cnnrnn_jax/configs/default.py", "Config file.")
_MODELS = flags.DEFINE_list(
  "models",
  ["cnn", "lstm", "gru", "tcn", "mingru", "lru", "transformer"],
  "Registered models to count.",
)
_TASK = flags.DEFINE_string("task", None, "Task to size the models for (default: the preset's).")


def _load_preset(path: str):
  spec = importlib.util.spec_from_file_location("preset", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def main(argv: Sequence[str]) -> None:
  """Prints a markdown table of parameter counts."""
  cli.import_plugins(_PLUGINS.value)
  del argv
  preset = _load_preset(_PRESET.value)
  print(f"{_PRESET.value}:")
  print("| model | parameters | encoder (no embedding, no head) |")
  print("|---|---:|---:|")
  for name in _MODELS.value:
    config = preset.get_config(name)
    if _TASK.value:
      config.task = _TASK.value
    try:
      total, encoder = models.parameter_counts(train.setup(config)[1])
    except ConfigError as e:
      sys.exit(f"config error: {e}")
    print(f"| {name} | {total:,} | {encoder:,} |")


if __name__ == "__main__":
  app.run(main)
