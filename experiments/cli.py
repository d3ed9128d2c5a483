"""What every entry point shares: plugins first, the --config flag, one-line config errors.

An entry point with a config file defines it with `define_config` and runs with `run`:

  _CONFIG = cli.define_config("cnnrnn_jax/configs/default.py", "Training config file.")
  ...
  if __name__ == "__main__":
    cli.run(main)

`define_config` imports the modules of `--config.plugins` (their models, tasks and probes
register, with their settings) before it loads the config file, then checks every
`--config.<path>` override against the loaded config: an unknown or misspelled key stops the
program with one line naming the closest field. Entry points without a config file take
`--plugins` and call `import_plugins` first.
"""

from __future__ import annotations

import atexit
import difflib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence

import ml_collections
from absl import app
from ml_collections import config_flags

from cnnrnn_jax import plugins, workdir
from cnnrnn_jax.errors import ConfigError

_ABSL_ARGV: list[str] | None = None  # argv for absl: sys.argv without --config=PATH


def fail(error: ConfigError | str) -> None:
  """Stops the program with `config error: ...` on one line (exit status 1)."""
  sys.exit(f"config error: {error}")


def flag_value(argv: Sequence[str], name: str) -> str | None:
  """The value of --name=V or --name V in argv (the last one), or None."""
  value = None
  for i, arg in enumerate(argv):
    if arg in (f"--{name}", f"-{name}") and i + 1 < len(argv):
      value = argv[i + 1]
    elif arg.startswith((f"--{name}=", f"-{name}=")):
      value = arg.split("=", 1)[1]
  return value


def claim_workdir(argv: Sequence[str]) -> None:
  """Takes the lock of --workdir now, before the config file loads (loading it imports JAX,
  seconds), so a busy workdir is refused at once. The run takes the lock again inside (it is
  re-entrant in one process); it is given back when the program exits."""
  path = flag_value(argv, "workdir")
  if not path:
    return  # absl reports the missing flag
  try:
    workdir.acquire(path)
  except ConfigError as e:
    fail(e)
  atexit.register(workdir.release, path)


def import_plugins(spec: str | Sequence[str] | None) -> None:
  """Imports the plugin modules (comma-separated); a module that fails stops in one line."""
  try:
    plugins.load(spec)
  except ConfigError as e:
    fail(e)


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """`get_config(arg)` of the config file PATH[:arg] (unlocked); one-line errors."""
  file, *arg = path.split(":", 1)
  if not os.path.isfile(file):
    raise ConfigError(f"no config file {file!r}; pass --config=cnnrnn_jax/configs/NAME.py")
  spec = importlib.util.spec_from_file_location("config_file", file)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    return module.get_config(*arg)
  except (ConfigError, ValueError, TypeError) as e:
    raise ConfigError(f"--config={path}: {e}") from None


def override_paths(argv: Sequence[str]) -> list[str]:
  """The field paths of the --config.<path>[=value] arguments, in order."""
  paths = []
  for arg in argv:
    if arg.startswith("--config."):
      paths.append(arg[len("--config.") :].split("=", 1)[0])
    elif arg.startswith("--noconfig."):  # absl's --noFLAG for booleans
      paths.append(arg[len("--noconfig.") :])
  return paths


def unknown_field(config: ml_collections.ConfigDict, path: str) -> str | None:
  """None when `config` has the field `path` ('arch.hidden'), else one line naming the
  closest field (or, without a close one, the fields there are)."""
  node, where = config, "config"
  for part in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict):
      return None  # inside a value (a dict or tuple field): ml_collections decides
    if part not in node:
      fields = sorted(node.keys())
      close = difflib.get_close_matches(part, fields, n=1, cutoff=0.6)
      hint = (
        f"did you mean --{where}.{close[0]}?"
        if close
        else f"its fields: {', '.join(fields) or 'none'}"
      )
      typo = close and difflib.SequenceMatcher(None, part, close[0]).ratio() >= 0.85
      plugin = (
        " (a plugin's field: name its module in --config.plugins)"
        if not typo and where.endswith((".arch", ".data"))
        else ""
      )
      return f"--config.{path}: {where} has no field {part!r}; {hint}{plugin}"
    node, where = node[part], f"{where}.{part}"
  return None


def define_config(
  default: str,
  help_string: str,
  prepare: Callable[[ml_collections.ConfigDict, list[str]], None] | None = None,
):
  """Defines --config (a config file, `--config.<field>` overrides) the checked way.

  Imports the plugins of --config.plugins, loads the config file (--config or `default`),
  lets `prepare(config, override_paths)` add fields the overrides create (compare: a new
  sweep), and checks that every override names an existing field, all before absl parses a
  flag. Returns the flag holder (`.value` is the config with the overrides applied).
  """
  global _ABSL_ARGV
  argv = list(sys.argv)
  import_plugins(flag_value(argv, "config.plugins"))
  path = flag_value(argv, "config") or default
  try:
    config = load_config_file(path)
  except ConfigError as e:
    fail(e)
  overrides = override_paths(argv)
  if prepare is not None:
    prepare(config, overrides)
  for override in overrides:
    problem = unknown_field(config, override)
    if problem:
      fail(problem)
  _ABSL_ARGV = _without_config_path(argv)
  return config_flags.DEFINE_config_dict(
    "config", config, help_string, lock_config=True, sys_argv=_ABSL_ARGV
  )


def _without_config_path(argv: list[str]) -> list[str]:
  out, skip = [], False
  for i, arg in enumerate(argv):
    if skip:
      skip = False
      continue
    if arg in ("--config", "-config") and i + 1 < len(argv):
      skip = True
      continue
    if arg.startswith(("--config=", "-config=")):
      continue
    out.append(arg)
  return out


def run(main: Callable[[list[str]], None]) -> None:
  """`absl.app.run(main)` with the command line `define_config` checked."""
  app.run(main, argv=_ABSL_ARGV)


def define_plugins_flag():
  """--plugins for an entry point without a config file; `import_plugins(flag.value)` first
  thing in main."""
  from absl import flags

  return flags.DEFINE_list(
    "plugins", [], "Modules to import first (their models, tasks and probes register)."
  )
