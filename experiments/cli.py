"""What every entry point shares: plugins first, the --config flag, one-line config errors.

An entry point with a config file defines it with `_CONFIG = cli.define_config(DEFAULT_PATH,
HELP)` and runs with `cli.run(main)` under `if __name__ == "__main__":`. `define_config`
imports the modules of `--config.plugins` (their models, tasks and probes register, with their
settings) before it loads the config file, then checks every `--config.<path>` override
against the loaded config: an unknown or misspelled key stops the program with one line
naming the closest field. Entry points without a config file take `--plugins` and call
`import_plugins` first.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Callable, Sequence

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from cnnrnn_jax import command_line, plugins, workdir
from cnnrnn_jax.errors import ConfigError

_ABSL_ARGV: list[str] | None = None  # argv for absl: sys.argv without --config=PATH


def fail(error: ConfigError | str) -> None:
  """Stops the program with `config error: ...` on one line (exit status 1)."""
  sys.exit(f"config error: {error}")


def claim_workdir(argv: Sequence[str]) -> None:
  """Takes the lock of --workdir now, before the config file loads (loading it imports JAX,
  seconds), so a busy workdir is refused at once. The run takes the lock again inside (it is
  re-entrant in one process); it is given back when the program exits."""
  path = command_line.flag_value(argv, "workdir")
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


def list_presets_if_asked(argv: Sequence[str]) -> None:
  """With --list_presets in argv: prints the package's config files and their presets
  (`command_line.preset_listing`) and exits 0, before any config loads."""
  if "--list_presets" in argv:
    print(command_line.preset_listing())
    sys.exit(0)


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
  list_presets_if_asked(argv)
  import_plugins(command_line.flag_value(argv, "config.plugins"))
  path = command_line.flag_value(argv, "config") or default
  try:
    config = command_line.load_config_file(path)
  except ConfigError as e:
    fail(e)
  overrides = command_line.override_paths(argv)
  if prepare is not None:
    prepare(config, overrides)
  for override in overrides:
    problem = command_line.unknown_field(config, override)
    if problem:
      fail(problem)
  _ABSL_ARGV = command_line.without_config_path(argv)
  define_list_presets_flag()
  return config_flags.DEFINE_config_dict(
    "config", config, help_string, lock_config=True, sys_argv=_ABSL_ARGV
  )


def define_list_presets_flag() -> None:
  """--list_presets in --help (`list_presets_if_asked` acts on it before absl parses)."""
  if "list_presets" not in flags.FLAGS:  # another entry point imported in this process has it
    flags.DEFINE_bool("list_presets", False, "Print the config files, their presets; exit.")


def run(main: Callable[[list[str]], None]) -> None:
  """`absl.app.run(main)` with the command line `define_config` checked."""
  app.run(main, argv=_ABSL_ARGV)


def define_plugins_flag():
  """--plugins for an entry point without a config file; `import_plugins(flag.value)` first
  thing in main. Entry points imported into one process (tests) share it."""
  if "plugins" in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS["plugins"])
  return flags.DEFINE_list(
    "plugins", [], "Modules to import first (their models, tasks and probes register)."
  )
