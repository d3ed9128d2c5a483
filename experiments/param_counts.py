r"""Parameter counts of several models under one preset file: are the budgets matched?

  python -m experiments.param_counts --config=cnnrnn_jax/configs/copy_memory.py \
      --models=tcn,lstm,gru,mingru,lru,transformer

`--config` is a config file whose `get_config(PRESET)` takes the model name (default.py,
beyond.py and copy_memory.py all do): each of --models is its preset, so the file is named
without `:PRESET`. `--task` overrides the file's task; `--list_presets` lists the files.
Nothing is trained or compiled: `models.parameter_counts` works from shapes only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import command_line, models, train
from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_CONFIG = flags.DEFINE_string(
  "config", "cnnrnn_jax/configs/default.py", "Config file; each of --models is its preset."
)
_MODELS = flags.DEFINE_list(
  "models",
  ["cnn", "lstm", "gru", "tcn", "mingru", "lru", "transformer"],
  "Registered models to count.",
)
_TASK = flags.DEFINE_string("task", None, "Task to size the models for (default: the preset's).")


def main(argv: Sequence[str]) -> None:
  """Prints a markdown table of parameter counts."""
  cli.import_plugins(_PLUGINS.value)
  del argv
  print(f"{_CONFIG.value}:")
  print("| model | parameters | encoder (no embedding, no head) |")
  print("|---|---:|---:|")
  for name in _MODELS.value:
    try:
      config = command_line.load_config_file(f"{_CONFIG.value}:{name}")
      if _TASK.value:
        config.task = _TASK.value
      total, encoder = models.parameter_counts(train.setup(config)[1])
    except ConfigError as e:
      sys.exit(f"config error: {e}")
    print(f"| {name} | {total:,} | {encoder:,} |")


if __name__ == "__main__":
  cli.list_presets_if_asked(sys.argv)
  cli.define_list_presets_flag()
  app.run(main)
