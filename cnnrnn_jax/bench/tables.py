"""Benchmark results as rows (results.csv) and markdown tables (tables.md).

A row is one case: suite, family, impl, mode, its dimensions, the median / min / IQR of
its wall times, compile seconds, temporary MB, GFLOP, GFLOP/s and % of the matmul ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ml_collections

from cnnrnn_jax.bench.cases import Case
from cnnrnn_jax.bench.cost import HLO_OPS, gflops_per_s
from cnnrnn_jax.tables import cell, markdown_table
from cnnrnn_jax.timing import summarize_times

Row = dict[str, Any]
DIMS = ("B", "T", "S", "I", "H", "C", "E", "F", "K", "D", "N")
# What each family's other implementations are compared with ("x ref").
REFERENCE_IMPL = {
  "lstm": "fused",
  "gru": "fused",
  "rnn": "fused",
  "conv": "xla",
  "kim_cnn": "xla",
  "lstm_model": "fused",
  "linear": "sequential",
  "attention": "self_attention",
  "conv2d": "xla",
  "matmul": "jnp.matmul",
}
OURS = ("fused", "scan")  # our recurrences (both tested equal to the plain scan)
TORCH = ("torch", "torch_1thread")


def rows_of(found: Sequence[Case], ceiling_gflops: float | None) -> list[Row]:
  """One row per timed case (the columns of results.csv)."""
  rows = []
  for c in found:
    stats = summarize_times(c.times)
    rate = gflops_per_s(c.flops, stats["median_ms"] / 1e3)
    pct = None if rate is None or not ceiling_gflops else 100 * rate / ceiling_gflops
    rows.append(
      {
        "suite": c.suite,
        "family": c.family,
        "impl": c.impl,
        "mode": c.mode,
        **{k: c.dims.get(k, "") for k in DIMS},
        "median_ms": stats["median_ms"],
        "min_ms": stats["min_ms"],
        "iqr_ms": stats["iqr_ms"],
        "repeats": len(c.times),
        "compile_s": c.compile_s,
        "temp_mb": c.temp_mb,
        "gflop": None if c.flops is None else c.flops / 1e9,
        "gflops_per_s": rate,
        "pct_ceiling": pct,
        **{f"hlo_{op}": c.hlo.get(op, "") for op in HLO_OPS},
        "note": c.note,
      }
    )
  return rows


def by_impl(rows: Sequence[Row], suite: str) -> str:
  """One line per (family, impl): fwd and fwd+bwd side by side, ratio to the reference."""
  by_key: dict[tuple[str, str], dict[str, Row]] = {}
  for r in rows:
    if r["suite"] == suite:
      by_key.setdefault((r["family"], r["impl"]), {})[r["mode"]] = r
  header = [
    "family",
    "impl",
    "fwd ms",
    "fwd+bwd ms",
    "x ref (fwd+bwd)",
    "compile s (f+b)",
    "temp MB (f+b)",
    "GFLOP (f+b)",
    "GFLOP/s (f+b)",
    "% ceiling",
  ]
  out = []
  for (family, impl), modes in by_key.items():
    fb = modes.get("fwd+bwd") or modes.get("fwd")
    ref = by_key.get((family, REFERENCE_IMPL.get(family)), {}).get(fb["mode"])
    ratio = fb["median_ms"] / ref["median_ms"] if ref else None
    out.append(
      [
        family,
        impl,
        modes.get("fwd", {}).get("median_ms"),
        modes.get("fwd+bwd", {}).get("median_ms"),
        ratio,
        fb["compile_s"],
        fb["temp_mb"],
        fb["gflop"],
        fb["gflops_per_s"],
        fb["pct_ceiling"],
      ]
    )
  return markdown_table(header, out)


def hlo(rows: Sequence[Row]) -> str:
  """What XLA made of each convolution form (optimized HLO of fwd+bwd)."""
  sel = [
    r for r in rows if r["suite"] == "targets" and r["mode"] == "fwd+bwd" and r["hlo_dot"] != ""
  ]
  header = ["family", "impl"] + [f"{op} ops" for op in HLO_OPS] + ["temp MB", "fwd+bwd ms"]
  body = [
    [r["family"], r["impl"]] + [r[f"hlo_{op}"] for op in HLO_OPS] + [r["temp_mb"], r["median_ms"]]
    for r in sel
  ]
  return markdown_table(header, body)


def _targets_row(rows: Sequence[Row], family: str, impl: str, mode: str = "fwd+bwd") -> Row | None:
  for r in rows:
    if r["suite"] == "targets" and (r["family"], r["impl"], r["mode"]) == (family, impl, mode):
      return r
  return None


def _fastest(rows: Sequence[Row], family: str, impls: Sequence[str]) -> Row | None:
  found = (r for r in (_targets_row(rows, family, i) for i in impls) if r)
  return min(found, key=lambda r: r["median_ms"], default=None)


def target_verdicts(
  rows: Sequence[Row], targets: ml_collections.ConfigDict, conv_impls: Sequence[str]
) -> list[list[str]]:
  """The target ratios: [what, measured, target, holds?]. "ours" is the faster of our
  recurrences, the peer its fastest variant; the implementations are named."""
  out = []

  def ratio(nums, dens, what, limit, family):
    a, b = _fastest(rows, family, nums), _fastest(rows, family, dens)
    if a and b:
      value = a["median_ms"] / b["median_ms"]
      names = [a["impl"]] * (len(nums) > 1) + [b["impl"]] * (len(dens) > 1)
      what += f" ({' / '.join(names)})" if names else ""
      out.append([what, f"{value:.2f}x", f"<= {limit}x", "yes" if value <= limit else "NO"])

  ratio(OURS, TORCH, "LSTM fwd+bwd: ours / torch nn.LSTM", targets.lstm_over_torch, "lstm")
  ratio(
    OURS,
    ("flax",),
    "LSTM fwd+bwd: ours / Flax nn.RNN(OptimizedLSTMCell)",
    targets.lstm_over_flax,
    "lstm",
  )
  ratio(OURS, TORCH, "GRU fwd+bwd: ours / torch nn.GRU", targets.gru_over_torch, "gru")
  for impl in conv_impls:
    if impl != "xla":
      ratio(
        (impl,),
        ("xla",),
        f"Kim CNN fwd+bwd: conv impl {impl} / xla",
        targets.kim_cnn_vmap_over_xla,
        "kim_cnn",
      )
  lstm = _fastest(rows, "lstm", OURS)
  if lstm and lstm["pct_ceiling"] is not None:
    want = targets.lstm_pct_ceiling
    out.append(
      [
        f"LSTM fwd+bwd GFLOP/s / matmul ceiling ({lstm['impl']})",
        f"{lstm['pct_ceiling']:.0f}%",
        f">= {want:.0f}%",
        "yes" if lstm["pct_ceiling"] >= want else "NO",
      ]
    )
  return out


def torch_target_needs(rows: Sequence[Row], targets: ml_collections.ConfigDict) -> list[list[Any]]:
  """For each ratio-to-torch target: the GFLOP/s our recurrence would need to meet it,
  against the float32 matmul rate XLA and torch each reach in the same rounds (a
  recurrence cannot beat its own matmuls, so a need above XLA's ceiling is out of reach
  for XLA-generated code)."""
  xla = _targets_row(rows, "matmul", "jnp.matmul", "fwd")
  peer = _targets_row(rows, "matmul", "torch.matmul", "fwd")
  out = []
  for family, limit in (("lstm", targets.lstm_over_torch), ("gru", targets.gru_over_torch)):
    ours, theirs = _fastest(rows, family, OURS), _fastest(rows, family, TORCH)
    if not (ours and theirs and ours["gflop"] and xla):
      continue
    needed = ours["gflop"] / (limit * theirs["median_ms"] / 1e3)
    out.append(
      [
        f"{family} <= {limit}x torch ({theirs['impl']})",
        needed,
        ours["gflops_per_s"],
        xla["gflops_per_s"],
        peer["gflops_per_s"] if peer else None,
      ]
    )
  return out


def sweep(rows: Sequence[Row], suite: str, axis: str) -> str:
  """Median ms (GFLOP/s) of each (family, impl, mode) at every point along `axis`."""
  sel = [r for r in rows if r["suite"] == suite]
  points = sorted({r[axis] for r in sel})
  keys = list(dict.fromkeys((r["family"], r["impl"]) for r in sel))
  header = ["family", "impl", "mode"] + [f"{axis}={p} ms (GFLOP/s)" for p in points]
  out = []
  for family, impl in keys:
    for mode in ("fwd", "fwd+bwd"):
      cells = []
      for p in points:
        key = (family, impl, mode, p)
        r = next((r for r in sel if (r["family"], r["impl"], r["mode"], r[axis]) == key), None)
        cells.append("-" if r is None else f"{r['median_ms']:.1f} ({cell(r['gflops_per_s'], 0)})")
      out.append([family, impl, mode] + cells)
  return markdown_table(header, out)


def sections(
  rows: Sequence[Row],
  config: ml_collections.ConfigDict,
  ceiling: float | None,
  verdicts: Sequence[Sequence[str]],
  profiles: dict[str, list[tuple[str, float, int]]],
) -> list[str]:
  """The headed tables of tables.md, in order: the ceiling, the targets suite (by
  implementation, target ratios, what the torch targets need, convolution HLO, per-op
  profiles), then the lengths and batch sweeps."""
  c = config
  parts = []
  if ceiling:
    parts.append(f"float32 matmul ceiling ({c.ceiling_n}^3, same rounds): {ceiling:.1f} GFLOP/s")
  if "targets" in c.suites:
    parts += [
      f"## targets: B={c.batch} T={c.length} input={c.input} hidden={c.hidden} "
      f"filters={c.filters}, medians of {c.repeats} interleaved rounds",
      by_impl(rows, "targets"),
    ]
    if verdicts:
      parts += [
        "## target ratios",
        markdown_table(["target", "measured", "wanted", "holds"], verdicts),
      ]
    needs = torch_target_needs(rows, c.targets)
    if needs:
      header = ["target", "needed", "ours now", "XLA matmul ceiling", "torch matmul"]
      parts += [
        "## what the torch targets need (GFLOP/s of the same FLOPs)",
        markdown_table(header, needs),
      ]
    if any(r["hlo_dot"] != "" for r in rows):
      parts += ["## convolution forms in the optimized HLO (fwd+bwd)", hlo(rows)]
    for family, profile in profiles.items():
      parts += [
        f"## where our {family} (fused) fwd+bwd time goes (XLA ops, ms per call; loops "
        "include their bodies)",
        markdown_table(["op (result shape)", "ms", "runs per call"], [list(p) for p in profile]),
      ]
  if any(r["suite"] == "lengths" for r in rows):
    parts += [
      f"## lengths (B={c.sweep_batch}), medians of {c.sweep_repeats}",
      sweep(rows, "lengths", "T"),
    ]
  if any(r["suite"] == "batch" for r in rows):
    parts += [
      f"## batch sizes (T={c.batch_length}), medians of {c.sweep_repeats}",
      sweep(rows, "batch", "B"),
    ]
  return parts


def train_steps_sections(
  rows: Sequence[Row],
  config: ml_collections.ConfigDict,
  with_torch: bool,
  profiles: dict[str, list[tuple[str, float]]] | None = None,
) -> list[str]:
  """The train_steps suite's tables: ours against the torch twin (with each target ratio
  and whether it holds), compile seconds and the trainer's steps/s, then where the
  profiled steps' time goes (ms per step by kind of XLA op)."""
  from cnnrnn_jax.bench.train_steps import REFERENCE_LABELS  # (train_steps imports tables' deps)

  wanted, threads = config.targets.train_steps, tuple(config.torch_threads)
  torch_cols = [f"torch {n} thread{'s' if n > 1 else ''} ms" for n in threads]
  speed = []
  for r in rows:
    limit = wanted.get(r["model"])
    ratio = r["ours_over_torch"]
    holds = "-" if limit is None or ratio != ratio else ("yes" if ratio <= limit else "no")
    speed.append(
      [REFERENCE_LABELS[r["model"]], f"{r['params']:,}", r["batch"], r["ours_ms"]]
      + [r.get(f"torch_{n}t_ms", "") for n in threads]
      + [f"{ratio:.2f}" if ratio == ratio else "-", f"<= {limit}" if limit else "-", holds]
    )
  header = ["model (config)", "params", "batch", "ours ms/step"]
  header += torch_cols + ["ours / torch", "target", "holds"]
  if not with_torch:
    header, speed = header[:4], [row[:4] for row in speed]
  loop_limit = config.targets.trainer_over_step
  loop = [
    [
      REFERENCE_LABELS[r["model"]],
      r["lower_s"],
      r["compile_s"],
      r["cached_compile_s"],
      r["batch_ms"],
      r["trainer_steps_per_s"],
      r["isolated_steps_per_s"],
      "-" if r["trainer_over_step"] != r["trainer_over_step"] else f"{r['trainer_over_step']:.2f}",
      "-"
      if r["trainer_over_step"] != r["trainer_over_step"]
      else ("yes" if r["trainer_over_step"] >= loop_limit else "no"),
    ]
    for r in rows
  ]
  parts = [
    f"## train_steps: whole jitted train steps (AdamW, clipping at norm 1), medians of "
    f"{config.train_rounds} interleaved rounds"
    + ("; torch twins in their own process, the faster thread count counts" if with_torch else "")
    + ("" if with_torch else " (torch twins not timed: --with_torch)"),
    markdown_table(header, speed),
    f"## train_steps: compile seconds and the trainer loop (steps/s logged over "
    f"{config.trainer_windows} windows of {config.trainer_steps} steps, and the isolated step "
    f"timed right after; target >= {loop_limit})",
    markdown_table(
      [
        "model (config)",
        "lower s",
        "compile s",
        "lower + compile s, cached",
        "batch ms (host)",
        "trainer steps/s",
        "isolated steps/s",
        "trainer / isolated",
        "holds",
      ],
      loop,
      digits=2,
    ),
  ]
  for name, kinds in (profiles or {}).items():
    total = sum(ms for _, ms in kinds)
    parts += [
      f"## where the train step of {REFERENCE_LABELS[name]} spends its time (XLA ops, ms "
      "per step under the profiler; per step = inside the scans' loops)",
      markdown_table(
        ["kind of op", "ms", "share"],
        [[kind, ms, f"{100 * ms / total:.0f}%"] for kind, ms in kinds],
        digits=2,
      ),
    ]
  return parts
