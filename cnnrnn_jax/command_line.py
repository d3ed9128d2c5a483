"""The command line of every entry point, read without flags: paths, overrides, config files.

Entry points (experiments/*.py) define the absl flags; this module is what they share before
absl parses anything: the value of one flag in argv, the `--config.<path>` overrides, the
config file PATH[:arg] loaded (from the working directory, or, for `cnnrnn_jax/configs/...`,
from the installed package, so commands run from any directory), and the one-line error that
names the closest field when an override names none.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import os
from collections.abc import Sequence

import ml_collections

from cnnrnn_jax.errors import ConfigError

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = "cnnrnn_jax/configs"  # the package's config files, as --config names them


def config_file_path(file: str) -> str:
  """`file` as given when it exists, else the package's own `cnnrnn_jax/configs/...` file
  (an installed package, a command run outside the clone), else `file` unchanged."""
  if os.path.isfile(file) or not file.replace(os.sep, "/").startswith("cnnrnn_jax/configs/"):
    return file
  packaged = os.path.join(_PACKAGE_ROOT, file)
  return packaged if os.path.isfile(packaged) else file


def flag_value(argv: Sequence[str], name: str) -> str | None:
  """The value of --name=V or --name V in argv (the last one), or None."""
  value = None
  for i, arg in enumerate(argv):
    if arg in (f"--{name}", f"-{name}") and i + 1 < len(argv):
      value = argv[i + 1]
    elif arg.startswith((f"--{name}=", f"-{name}=")):
      value = arg.split("=", 1)[1]
  return value


def _config_module(file: str):
  spec = importlib.util.spec_from_file_location("config_file", file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def preset_listing() -> str:
  """Every config file of the package, read from the files themselves: its first docstring
  line, what `:PRESET` takes (get_config's first docstring line, its default) and the named
  presets of its PRESETS or SIZES table. What `--list_presets` prints."""
  lines = []
  folder = os.path.join(_PACKAGE_ROOT, CONFIGS)
  for name in sorted(os.listdir(folder)):
    if not name.endswith(".py") or name.startswith("_"):
      continue
    module = _config_module(os.path.join(folder, name))
    summary = (module.__doc__ or "").strip().splitlines()[0]
    lines.append(f"--config={CONFIGS}/{name}  {summary}")
    params = list(inspect.signature(module.get_config).parameters.values())
    if not params:
      continue
    takes = (inspect.getdoc(module.get_config) or "").splitlines()
    named = getattr(module, "PRESETS", None) or getattr(module, "SIZES", None) or ()
    detail = f"default {params[0].default!r}" if params[0].default is not None else "optional"
    if named:
      detail += "; presets: " + ", ".join(str(k) for k in named)
    lines.append(f"    :PRESET  {takes[0] if takes else params[0].name} ({detail})")
  return "\n".join(lines)


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """`get_config(arg)` of the config file PATH[:arg] (unlocked); one-line errors."""
  file, *arg = path.split(":", 1)
  file = config_file_path(file)
  if not os.path.isfile(file):
    raise ConfigError(f"no config file {file!r}; pass --config=cnnrnn_jax/configs/NAME.py")
  try:
    return _config_module(file).get_config(*arg)
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


def without_config_path(argv: Sequence[str]) -> list[str]:
  """argv without its --config=PATH (or --config PATH) arguments, for absl."""
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
