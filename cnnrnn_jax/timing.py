"""Wall-clock timing of compiled calls: the one home for medians and interleaved rounds.

Every time this project reports is measured here: after compilation (one untimed warm-up
call), with `jax.block_until_ready` on the outputs, as medians over repeats. Comparisons are
timed in interleaved rounds so a burst of load from other processes lands on every
implementation alike. Tests check correctness; timing lives in benchmark scripts only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np


def block(out: Any) -> Any:
  """Waits for every JAX array in `out` (anything else passes through)."""
  return jax.block_until_ready(out)


def median_seconds(fn: Callable, args: Sequence[Any], repeats: int) -> float:
  """Median wall time of `fn(*args)` over `repeats` calls, after one warm-up call."""
  block(fn(*args))
  times = []
  for _ in range(max(repeats, 1)):
    start = time.perf_counter()
    block(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def time_interleaved(
  calls: dict[str, tuple[Callable, Sequence[Any]]], repeats: int, pause_s: float = 0.0
) -> dict[str, list[float]]:
  """Wall seconds of `call(*args)` for each entry, `repeats` rounds after one warm-up.

  Each round calls every entry once, starting one further along the list each round,
  so a burst of load from other processes lands on all implementations alike. A
  short, untimed pause between calls lets thread pools of other runtimes (torch's
  OpenMP spins after a parallel region) go quiet before the next timed call.
  """
  names = list(calls)
  if not names:
    return {}
  for name in names:
    fn, args = calls[name]
    block(fn(*args))
  times = {name: [] for name in names}
  for r in range(repeats):
    for name in names[r % len(names) :] + names[: r % len(names)]:
      fn, args = calls[name]
      if pause_s:
        time.sleep(pause_s)
      start = time.perf_counter()
      block(fn(*args))
      times[name].append(time.perf_counter() - start)
  return times


def summarize_times(times: Sequence[float]) -> dict[str, float]:
  """Median, minimum and interquartile range of `times` (seconds), in milliseconds."""
  times = np.asarray(times, dtype=np.float64)
  return {
    "median_ms": float(np.median(times) * 1e3),
    "min_ms": float(times.min() * 1e3),
    "iqr_ms": float((np.percentile(times, 75) - np.percentile(times, 25)) * 1e3),
  }
