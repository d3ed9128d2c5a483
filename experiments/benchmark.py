r"""Speed, in ratios measured in one run: our cores against each other and against peers.

  python -m experiments.benchmark --outdir=runs/benchmark               # <= 10 min, 2 CPU cores
  python -m experiments.benchmark --outdir=runs/benchmark --with_torch  # + torch peers
  python -m experiments.benchmark --suites=train_steps --with_torch --outdir=runs/train_steps

Writes results.csv, tables.md and benchmark.png into --outdir and prints tables.md (the
train_steps suite, whole train steps against torch twins, also train_steps.csv and .png). The
suites, shapes and target ratios, and the measured results of the recorded runs, are in
cnnrnn_jax/configs/benchmark.py: each flag below sets the config field of the same name and
defaults to it. The code is cnnrnn_jax/bench/.
"""

import os
import sys

from absl import app, flags

from cnnrnn_jax import bench
from cnnrnn_jax.bench import suites
from cnnrnn_jax.configs import benchmark as benchmark_config
from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_OUTDIR = flags.DEFINE_string(
  "outdir", "runs/benchmark", "Where results.csv, tables.md and benchmark.png go."
)


def _define(name: str, default, text: str):
  """A flag of `default`'s type (a list for tuples); sweep_impls an enum."""
  if name == "sweep_impls":
    return flags.DEFINE_enum(name, default, ["timed", "all"], text)
  if isinstance(default, tuple):
    return flags.DEFINE_list(name, [str(v) for v in default], text)
  if isinstance(default, bool):
    return flags.DEFINE_bool(name, default, text)
  return flags.DEFINE_integer(name, default, text)


_DEFAULTS = benchmark_config.get_config()
_FLAGS = {
  name: _define(name, _DEFAULTS[name], text) for name, text in benchmark_config.FLAG_HELP.items()
}


def _config():
  """The config with every flag's value in its field (lists of numbers as int tuples)."""
  config = benchmark_config.get_config()
  for name, flag in _FLAGS.items():
    value = flag.value
    if isinstance(value, list):
      numbers = name in ("lengths", "batch_sizes", "torch_threads")
      try:
        value = tuple(int(v) for v in value) if numbers else tuple(value)
      except ValueError:
        raise app.UsageError(f"--{name}={','.join(value)} is not a list of integers") from None
    config[name] = value
  return config


def main(argv):
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = _config()
  try:
    suites.check(config)
  except ConfigError as e:
    raise app.UsageError(str(e)) from None
  os.makedirs(_OUTDIR.value, exist_ok=True)
  try:
    results = bench.run(config)
  except ConfigError as e:  # --with_torch without torch
    sys.exit(str(e))
  print(results.text)
  bench.write(results, _OUTDIR.value)
  bench.progress(f"wrote results.csv, tables.md, benchmark.png to {_OUTDIR.value}")


if __name__ == "__main__":
  app.run(main)
