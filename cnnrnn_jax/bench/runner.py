"""The benchmark end to end: build each suite's cases, time them, tabulate, write the files.

  results = run(config)          # configs/benchmark.py's ConfigDict; prints progress
  print(results.text)            # tables.md
  write(results, outdir)         # results.csv, tables.md, benchmark.png

Cases of one suite (or one sweep point) are timed together in interleaved rounds; a sweep
point's executables are freed before the next point is compiled.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from collections.abc import Sequence

import jax
import ml_collections

from cnnrnn_jax import conv, plotting
from cnnrnn_jax.bench import cost, machine, peers, plots, suites, tables, train_steps
from cnnrnn_jax.bench.cases import Case
from cnnrnn_jax.bench.suites import Progress
from cnnrnn_jax.timing import summarize_times, time_interleaved

PROFILED = ("lstm", "gru")  # families whose fused fwd+bwd is profiled per XLA op


def progress(msg: str) -> None:
  """Prints `msg` behind the wall-clock time, at once."""
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclasses.dataclass
class Results:
  """What one benchmark run measured: results.csv's rows, the target verdicts, the matmul
  ceiling (GFLOP/s; None without the targets suite), tables.md's text and the config."""

  rows: list[tables.Row]
  verdicts: list[list[str]]
  ceiling: float | None
  text: str
  config: ml_collections.ConfigDict
  train_rows: list[tables.Row] = dataclasses.field(default_factory=list)


def time_cases(found: Sequence[Case], repeats: int, pause_s: float) -> None:
  """Fills each case's `times`: `repeats` interleaved rounds after one warm-up call."""
  times = time_interleaved({i: (c.call, c.args) for i, c in enumerate(found)}, repeats, pause_s)
  for i, c in enumerate(found):
    c.times = times[i]


def _profiles(found: Sequence[Case], progress: Progress) -> dict[str, list[tuple[str, float, int]]]:
  """Per-XLA-op time of our fused LSTM and GRU fwd+bwd (XLA:CPU thunk names)."""
  out = {}
  for family in PROFILED:
    hits = [c for c in found if (c.family, c.impl, c.mode) == (family, "fused", "fwd+bwd")]
    if hits:
      progress(f"profiling our {family} (fused) fwd+bwd per XLA op")
      out[family] = cost.op_profile(hits[0].call, hits[0].args)
  return out


def run(config: ml_collections.ConfigDict, progress: Progress = progress) -> Results:
  """Runs config.suites (configs/benchmark.py) and tabulates them; writes no files.

  Raises ConfigError for an unknown suite or family, or when config.with_torch is set and
  torch is not installed."""
  c = config
  suites.check(c)
  reused = machine.reuse_freed_memory() if c.reuse_freed_memory else False
  torch = peers.load_torch() if c.with_torch else None
  start, load_start = time.time(), machine.load_average()
  env = machine.describe(torch, reused, load_start)
  progress(env)

  found: list[Case] = []
  ceiling, profiles = None, {}
  if "targets" in c.suites:
    targets = suites.targets(c, torch, progress)
    progress(f"timing {len(targets)} target cases, {c.repeats} interleaved rounds")
    time_cases(targets, c.repeats, c.pause_s)
    ceiling_ms = summarize_times(targets[0].times)["median_ms"]
    ceiling = targets[0].flops / (ceiling_ms / 1e3) / 1e9
    found += targets
    if c.profile and jax.default_backend() == "cpu":
      profiles = _profiles(targets, progress)
  for suite, points in (("lengths", c.lengths), ("batch", c.batch_sizes)):
    if suite not in c.suites:
      continue
    for p in points:
      B, T = (c.sweep_batch, p) if suite == "lengths" else (p, c.batch_length)
      progress(f"{suite}: B={B} T={T}")
      point = suites.sweep_point(c, suite, B, T)
      time_cases(point, c.sweep_repeats, c.pause_s)
      found += point
      for case in point:  # free the compiled executables and inputs of this point
        case.call, case.args = None, ()

  train_rows, train_profiles = [], {}
  if "train_steps" in c.suites:
    configs = train_steps.reference_configs()
    chosen = {name: configs[name] for name in (c.train_models or configs)}
    threads = tuple(c.torch_threads) if torch is not None else ()
    profiled = tuple(c.train_profile) if c.profile else ()
    train_rows, train_profiles = train_steps.end_to_end(
      chosen, c.train_rounds, threads, c.trainer_steps, c.trainer_windows, progress, profiled
    )

  rows = tables.rows_of(found, ceiling)
  verdicts = tables.target_verdicts(rows, c.targets, conv.IMPLS) if "targets" in c.suites else []
  load_end = machine.format_load(machine.load_average())
  parts = [
    f"# Benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {time.time() - start:.0f} s)",
    f"{env}; load average at end {load_end}",
  ]
  parts += tables.sections(rows, c, ceiling, verdicts, profiles)
  if train_rows:
    parts += tables.train_steps_sections(train_rows, c, torch is not None, train_profiles)
  return Results(rows, verdicts, ceiling, "\n\n".join(parts) + "\n", c, train_rows)


def _write_csv(path: str, rows: Sequence[tables.Row]) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["suite"])
    writer.writeheader()
    writer.writerows(rows)


def write(results: Results, outdir: str) -> list[str]:
  """Writes tables.md, results.csv and benchmark.png into `outdir` (and train_steps.csv,
  train_steps.png for the train_steps suite); returns their paths."""
  os.makedirs(outdir, exist_ok=True)
  paths = [os.path.join(outdir, name) for name in ("results.csv", "tables.md", "benchmark.png")]
  with open(paths[1], "w") as f:
    f.write(results.text)
  _write_csv(paths[0], results.rows)
  fig = plots.benchmark_figure(
    results.rows, results.verdicts, results.ceiling, results.config.sweep_batch
  )
  with open(paths[2], "wb") as f:
    f.write(plotting.png_bytes(fig))
  if results.train_rows:
    paths += [os.path.join(outdir, name) for name in ("train_steps.csv", "train_steps.png")]
    _write_csv(paths[3], results.train_rows)
    with open(paths[4], "wb") as f:
      f.write(plotting.png_bytes(plots.train_steps_figure(results.train_rows, results.config)))
  return paths
