"""Which cases each suite holds, from a benchmark config (configs/benchmark.py).

targets      every implementation of every family at one shape, the matmul ceiling
             first (its rate is the ceiling every other row is read against)
train_steps  the reference training configs, whole train steps (bench/train_steps.py)
sweep_point  the timed implementation of each family (or every one, sweep_impls='all')
             at one (B, T) point of the lengths or batch suite
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import ml_collections

from cnnrnn_jax import conv, conv2d, linear_scan, recurrent
from cnnrnn_jax.bench import cases, peers, train_steps
from cnnrnn_jax.bench.cases import Case
from cnnrnn_jax.configs.benchmark import FAMILIES, SUITES
from cnnrnn_jax.errors import ConfigError

Progress = Callable[[str], None]


def check(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a suite, family or sweep_impls the benchmark does not know."""
  unknown = set(config.suites) - set(SUITES)
  if unknown:
    raise ConfigError(f"unknown suites {sorted(unknown)}; use {', '.join(SUITES)}")
  unknown = set(config.families) - set(FAMILIES)
  if unknown:
    raise ConfigError(f"unknown families {sorted(unknown)}; use some of {', '.join(FAMILIES)}")
  if config.sweep_impls not in ("timed", "all"):
    raise ConfigError(f"unknown sweep_impls {config.sweep_impls!r}; use 'timed' or 'all'")
  unknown = set(config.train_models) - set(train_steps.REFERENCE_LABELS)
  if unknown:
    raise ConfigError(
      f"unknown train_models {sorted(unknown)}; use some of "
      f"{', '.join(train_steps.REFERENCE_LABELS)}"
    )


def wanted(config: ml_collections.ConfigDict, family: str) -> bool:
  """Whether `family` is benchmarked (config.families empty: every family)."""
  return not config.families or family in config.families


def _flops_of(found: list[Case], family: str, impl: str) -> dict[str, float | None]:
  return {c.mode: c.flops for c in found if c.family == family and c.impl == impl}


def targets(
  config: ml_collections.ConfigDict, torch: ModuleType | None, progress: Progress
) -> list[Case]:
  """The targets suite: the matmul ceiling(s) first, then every implementation of every
  wanted family at (batch, length, input, hidden, filters)."""
  c, suite = config, "targets"
  B, T, I, H, F = c.batch, c.length, c.input, c.hidden, c.filters
  found = [cases.ceiling_case(suite, c.ceiling_n)]
  if torch is not None:
    found.append(peers.ceiling_case(torch, suite, c.ceiling_n))
  for cell in ("lstm", "gru", "rnn"):
    if not wanted(c, cell):
      continue
    impls = ["fused", "scan", "flax"] + (["flax_lstmcell"] if cell == "lstm" else [])
    for impl in impls:
      progress(f"compiling {cell} {impl}")
      found += cases.recurrent_cases(suite, cell, impl, B, T, I, H)
    if torch is not None:
      flops = _flops_of(found, cell, "fused")
      found += peers.recurrent_cases(torch, suite, cell, B, T, I, H, flops)
  if wanted(c, "conv"):
    for impl in conv.IMPLS:
      progress(f"compiling conv {impl}")
      found += cases.conv_cases(suite, impl, B, T, I, F, c.conv_width)
    if torch is not None:
      flops = _flops_of(found, "conv", "xla")
      found += peers.conv_cases(torch, suite, B, T, I, F, c.conv_width, flops)
  if wanted(c, "kim_cnn"):
    for impl in conv.IMPLS:
      progress(f"compiling kim_cnn {impl}")
      found += cases.kim_cnn_cases(suite, impl, B, T, I, F, c.kim_widths, c.vocab_size)
  if wanted(c, "lstm_model"):
    progress("compiling lstm_model fused")
    found += cases.lstm_model_cases(suite, "fused", B, T, I, H, c.vocab_size)
  if wanted(c, "linear"):
    for impl in linear_scan.IMPLS:
      progress(f"compiling linear {impl}")
      found += cases.linear_cases(suite, impl, B, T, H)
  if wanted(c, "attention"):
    progress("compiling attention")
    found += cases.attention_cases(suite, B, T, H, c.attention_heads)
  if wanted(c, "conv2d"):
    for impl in conv2d.IMPLS:
      progress(f"compiling conv2d {impl}")
      found += cases.conv2d_cases(
        suite, impl, c.frames, c.frame_side, c.frame_channels, c.frame_filters
      )
  return found


def attention_fits(config: ml_collections.ConfigDict, B: int, T: int) -> bool:
  """Whether one B x heads x T x T float32 tensor stays within config.attention_max_mb."""
  return B * config.attention_heads * T * T * 4 / 2**20 <= config.attention_max_mb


def sweep_point(config: ml_collections.ConfigDict, suite: str, B: int, T: int) -> list[Case]:
  """One point of the lengths or batch suite: the timed implementation of each family
  (the fastest kind we have), or every implementation when config.sweep_impls='all'."""
  c = config
  I, H, F = c.input, c.hidden, c.filters
  every = c.sweep_impls == "all"
  rnn_impls = recurrent.IMPLS if every else ("fused",)
  conv_impls = conv.IMPLS if every else ("xla",)
  found = []
  if suite == "lengths":
    for cell in ("lstm", "gru"):
      if wanted(c, cell):
        for impl in rnn_impls:
          found += cases.recurrent_cases(suite, cell, impl, B, T, I, H)
    if wanted(c, "conv"):
      for impl in conv_impls:
        found += cases.conv_cases(suite, impl, B, T, I, F, c.conv_width)
    if wanted(c, "linear"):
      for impl in linear_scan.IMPLS:
        found += cases.linear_cases(suite, impl, B, T, H)
    if wanted(c, "attention") and attention_fits(c, B, T):
      found += cases.attention_cases(suite, B, T, H, c.attention_heads)
  if wanted(c, "kim_cnn"):
    for impl in conv_impls:
      found += cases.kim_cnn_cases(suite, impl, B, T, I, F, c.kim_widths, c.vocab_size)
  if suite == "batch" and wanted(c, "lstm_model"):
    found += cases.lstm_model_cases(suite, "fused", B, T, I, H, c.vocab_size)
  return found
