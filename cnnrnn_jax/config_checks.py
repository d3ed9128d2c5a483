"""Every field of a training config checked for type, range and finiteness, in one place.

`check(config)` runs first in `train.setup`, before a task reads a file or a model compiles:
a bad value is a one-line ConfigError naming the field, what it must be and the flag to set.
In `config.data`, None (never 0 or '') means "the task's own default"; a task may narrow a
range further (e.g. `motif` needs seq_len >= 6) and says so in the same one-line form.
Fields this table does not list (a plugin's own knobs) are left to whoever reads them;
the choices of registries (model, task, readout, ...) are checked by those registries.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import ml_collections

from cnnrnn_jax import models, optim, profiling
from cnnrnn_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rule:
  """What a field must be: `kind` int | float | bool | str | ints (a non-empty tuple of ints),
  bounds (`low` <= value, value < `high` when `high_open`, else <=), allowed `choices`, and
  whether None means the task's default (`optional`)."""

  kind: str
  low: float | None = None
  high: float | None = None
  high_open: bool = False
  low_open: bool = False
  choices: tuple[str, ...] | None = None
  optional: bool = False


def _int(low=None, high=None, optional=False) -> Rule:
  return Rule("int", low, high, optional=optional)


def _data_int(low: int) -> Rule:
  return Rule("int", low, optional=True)


_POSITIVE = _int(1)
_STR = Rule("str")
_DATA_STR = Rule("str", optional=True)

RULES: dict[str, Rule] = {
  "model": _STR,
  "task": _STR,
  "seed": _int(0, 2**31 - 2),
  "batch_size": _POSITIVE,
  "train_steps": _POSITIVE,
  "log_every": _POSITIVE,
  "eval_every": _POSITIVE,
  "checkpoint_every": _int(0),
  "keep_checkpoints": _POSITIVE,
  "distributed": Rule("bool"),
  "dtype": Rule("str", choices=models.DTYPES),
  "profile_steps": Rule("str"),
  "log_flops": Rule("bool"),
  "peak_flops": Rule("float", 0.0, optional=True),
  "arch.embed_dim": _POSITIVE,
  "arch.hidden": _POSITIVE,
  "arch.num_filters": _POSITIVE,
  "arch.kernel_sizes": Rule("ints", 1),
  "arch.hybrid_kernel_size": _POSITIVE,
  "arch.bidirectional": Rule("bool"),
  "arch.readout": _STR,
  "arch.dropout": Rule("float", 0.0, 1.0, high_open=True),
  "arch.conv_impl": _STR,
  "arch.tcn_levels": _POSITIVE,
  "arch.tcn_kernel_size": _POSITIVE,
  "arch.tcn_weight_norm": Rule("bool"),
  "arch.num_layers": _POSITIVE,
  "arch.mlp_ratio": _POSITIVE,
  "arch.scan_impl": _STR,
  "arch.num_heads": _POSITIVE,
  "arch.pos_encoding": _STR,
  "arch.rnn_impl": _STR,
  "arch.mlp_layers": _int(0),
  "opt.optimizer": Rule("str", choices=optim.OPTIMIZERS),
  "opt.learning_rate": Rule("float", 0.0, low_open=True),
  "opt.warmup_steps": _int(0),
  "opt.schedule": Rule("str", choices=("cosine", "constant")),
  "opt.weight_decay": Rule("float", 0.0),
  "opt.momentum": Rule("float", 0.0, 1.0, high_open=True),
  "opt.clip_norm": Rule("float", 0.0),
  "data.seq_len": _data_int(1),
  "data.distance": _data_int(0),
  "data.vocab_size": _data_int(2),
  "data.eval_size": _data_int(1),
  "data.train_path": _DATA_STR,
  "data.eval_path": _DATA_STR,
  "data.eval_fraction": Rule("float", 0.0, 1.0, high_open=True, low_open=True, optional=True),
  "data.eval_split": _DATA_STR,
  "data.data_dir": _DATA_STR,
  "data.encoding": _DATA_STR,
  "data.skip_bad_rows": Rule("bool"),
  "data.header": Rule("bool", optional=True),
  "data.text_column": _DATA_STR,
  "data.label_column": _DATA_STR,
  "data.max_len": _data_int(1),
  "data.level": Rule("str", choices=("word", "char"), optional=True),
  "data.lowercase": Rule("bool", optional=True),
  "data.min_count": _data_int(1),
  "data.vocab_path": _DATA_STR,
  "data.format": Rule("str", choices=("table", "label_first"), optional=True),
  "data.dev_path": _DATA_STR,
  "data.dev_fraction": Rule("float", 0.0, 1.0, high_open=True, low_open=True, optional=True),
  "data.cv_folds": _data_int(2),
  "data.cv_fold": _data_int(0),
  "data.split_seed": _data_int(0),
  "data.columns": _DATA_STR,
  "data.horizon": _data_int(1),
  "data.period": _data_int(1),
}


def _kind_ok(kind: str, value: Any) -> bool:
  if kind == "bool":
    return isinstance(value, bool)
  if kind == "str":
    return isinstance(value, str)
  if isinstance(value, bool):
    return False
  if kind == "int":
    return isinstance(value, numbers.Integral)
  return isinstance(value, numbers.Real)  # float: an int is a float too


def _num(x: float) -> str:
  return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _what(rule: Rule) -> str:
  noun = {
    "int": "an integer",
    "float": "a finite number",
    "bool": "True or False",
    "str": "a string",
    "ints": "a non-empty tuple of integers",
  }[rule.kind]
  if rule.choices:
    return f"one of {', '.join(rule.choices)}"
  if rule.kind == "int" and rule.low == 1 and rule.high is None:
    return "positive (an integer >= 1)"
  if rule.low is not None and rule.high is not None:
    left, right = "(" if rule.low_open else "[", ")" if rule.high_open else "]"
    return f"{noun} in {left}{_num(rule.low)}, {_num(rule.high)}{right}"
  if rule.low is not None:
    return f"{noun} {'>' if rule.low_open else '>='} {_num(rule.low)}"
  return noun


def _in_range(rule: Rule, x: float) -> bool:
  if rule.kind == "float" and not math.isfinite(x):
    return False
  if rule.low is not None and (x <= rule.low if rule.low_open else x < rule.low):
    return False
  return rule.high is None or (x < rule.high if rule.high_open else x <= rule.high)


def check_field(key: str, value: Any, rule: Rule) -> None:
  """A ConfigError unless `value` (the value of config.`key`) obeys `rule`."""
  if value is None and rule.optional:
    return
  if rule.kind == "ints":
    ok = isinstance(value, (tuple, list)) and len(value) > 0
    ok = ok and all(_kind_ok("int", v) and _in_range(rule, v) for v in value)
  else:
    ok = _kind_ok(rule.kind, value)
  if ok and rule.kind in ("int", "float"):
    ok = _in_range(rule, value)
  if ok and rule.choices:
    ok = value in rule.choices
  if not ok:
    default = " (or leave it None for the task's default)" if rule.optional else ""
    shown = tuple(value) if isinstance(value, list) else value
    raise ConfigError(
      f"config.{key}={shown!r} must be {_what(rule)}; set --config.{key} to one{default}"
    )


def check(config: ml_collections.ConfigDict) -> None:
  """Checks every field of `config` that RULES lists (see the module docstring)."""
  for key, rule in RULES.items():
    node: Any = config
    for part in key.split("."):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        break
      node = node[part]
    else:
      check_field(key, node, rule)
  profiling.parse_steps(config.get("profile_steps"))
