"""Extensions from outside the package: plugin modules, and the settings their registrations add.

A plugin is an importable module (a folder on PYTHONPATH, an installed package) whose import
registers models (`models.register`), tasks (`tasks.register`, `tasks.register_generated`)
or probes (`suite.register_probe`). `--config.plugins=my_pkg.models,my_pkg.tasks` names them;
every entry point imports them before it loads a config or looks anything up, and so does
the trainer (`train.setup`) and each worker process of the comparison, from the config.

A registration may bring settings of its own: `defaults={"qrnn_kernel_size": 3}` on a model
adds the field to `config.arch`, on a task to `config.data`, on a probe to the compare
config's `probes.NAME` block, so `--config.arch.qrnn_kernel_size=5` works on every stock
config. The settings are kept here (`add_settings`) and merged into a config when it is
built (`merge_settings`, called by configs/default.py and configs/compare.py).
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Iterable
from typing import Any

import ml_collections

from cnnrnn_jax.errors import ConfigError

# block ('arch', 'data' or 'probes.NAME') -> owner (model, task or probe name) -> defaults
_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {}
_SIMPLE = (bool, int, float, str, tuple)


def names_in(spec: str | Iterable[str] | None) -> list[str]:
  """'a.b, c' or ['a.b', 'c'] -> ['a.b', 'c'] (empty entries dropped)."""
  if not spec:
    return []
  parts = spec.split(",") if isinstance(spec, str) else list(spec)
  return [p.strip() for p in parts if p.strip()]


def load(spec: str | Iterable[str] | None) -> list[str]:
  """Imports every module of `spec` (comma-separated names); returns their names.

  Importing twice is free (Python caches modules), so every layer may call this. A module that
  cannot be imported is a one-line ConfigError naming it and the fix.
  """
  loaded = []
  for name in names_in(spec):
    if name not in sys.modules:
      try:
        importlib.import_module(name)
      except ImportError as e:
        raise ConfigError(
          f"cannot import plugin {name!r} ({e}); put its folder on PYTHONPATH (or pip install "
          "it) and name it as a module path, e.g. my_pkg.models"
        ) from None
    loaded.append(name)
  return loaded


def fingerprint(spec: str | Iterable[str] | None) -> dict[str, str]:
  """module -> a short hash of its source file, so a record says which extension code made it
  (imported modules only; '' for one without a source file)."""
  out = {}
  for name in names_in(spec):
    path = getattr(sys.modules.get(name), "__file__", None)
    if path is None:
      out[name] = ""
      continue
    with open(path, "rb") as f:
      out[name] = hashlib.sha1(f.read()).hexdigest()[:10]
  return out


def add_settings(block: str, owner: str, defaults: dict[str, Any] | None) -> None:
  """Records the settings `owner` (a model, task or probe) adds to config block `block`.

  Values are plain (bool, int, float, str or tuple; None has no type to parse a flag with).
  Two owners may share a field (a family of models) only with the same default.
  """
  for key, value in (defaults or {}).items():
    if value is None or not isinstance(value, _SIMPLE):
      raise ValueError(
        f"{owner}: default {block}.{key}={value!r} must be a bool, int, float, str or tuple"
      )
    for other, theirs in _SETTINGS.get(block, {}).items():
      if other != owner and key in theirs and theirs[key] != value:
        raise ValueError(
          f"{owner}: {block}.{key}={value!r} clashes with {other}'s default {theirs[key]!r}"
        )
  _SETTINGS.setdefault(block, {})[owner] = dict(defaults or {})


def settings(block: str) -> dict[str, dict[str, Any]]:
  """owner -> defaults registered for `block`."""
  return dict(_SETTINGS.get(block, {}))


def owners(block: str) -> dict[str, set[str]]:
  """field -> the owners that registered it in `block`."""
  out: dict[str, set[str]] = {}
  for owner, defaults in _SETTINGS.get(block, {}).items():
    for key in defaults:
      out.setdefault(key, set()).add(owner)
  return out


def merge_settings(
  config_block: ml_collections.ConfigDict, block: str, builtin: Iterable[str] = ()
) -> None:
  """Adds every field registered for `block` that `config_block` lacks (in place).

  `builtin` are the block's own fields: a registration that reuses one of those names is an
  error (its default would be silently ignored).
  """
  builtin = set(builtin)
  for owner, defaults in settings(block).items():
    for key, value in defaults.items():
      if key in builtin:
        raise ConfigError(
          f"{owner} registers config.{block}.{key}, a built-in field; give its own settings "
          f"new names (e.g. {owner}_{key})"
        )
      if key not in config_block:
        with config_block.unlocked():
          config_block[key] = value


def with_settings(
  config_block: ml_collections.ConfigDict, block: str, owner: str
) -> ml_collections.ConfigDict:
  """`config_block`, or a copy with `owner`'s registered defaults that it lacks added (a
  config built before the plugin was imported, e.g. in a notebook)."""
  missing = {k: v for k, v in settings(block).get(owner, {}).items() if k not in config_block}
  if not missing:
    return config_block
  block_copy = config_block.copy_and_resolve_references()
  with block_copy.unlocked():
    block_copy.update(missing)
  return block_copy


def merge_registered(config: ml_collections.ConfigDict) -> None:
  """Adds the registered model and task settings to a training config's `arch` and `data`.

  Imports the model and task registries first, so their built-in registrations count.
  """
  from cnnrnn_jax import models, tasks  # noqa: F401  (importing registers)

  for block in ("arch", "data"):
    merge_settings(config[block], block, builtin=list(config[block]))
