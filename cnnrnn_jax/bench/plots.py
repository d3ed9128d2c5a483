"""benchmark.png: time against length, the target ratios, achieved GFLOP/s against the ceiling."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from cnnrnn_jax import plotting
from cnnrnn_jax.bench.tables import Row


def _time_against_length(ax, rows: Sequence[Row], sweep_batch: int) -> None:
  sweep = [r for r in rows if r["suite"] == "lengths" and r["mode"] == "fwd+bwd"]
  for key in dict.fromkeys((r["family"], r["impl"]) for r in sweep):
    pts = sorted((r["T"], r["median_ms"]) for r in sweep if (r["family"], r["impl"]) == key)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=" ".join(key))
  ax.set(
    xscale="log",
    yscale="log",
    xlabel="sequence length T",
    ylabel="fwd+bwd ms (median)",
    title=f"time against length (B={sweep_batch})",
  )
  if sweep:
    ax.legend(fontsize=7)


def _target_ratios(ax, verdicts: Sequence[Sequence[str]]) -> None:
  ratios = [v for v in verdicts if v[1].endswith("x")]
  if ratios:
    labels = [v[0].replace(" fwd+bwd", "\nfwd+bwd") for v in ratios]
    values = [float(v[1][:-1]) for v in ratios]
    limits = [float(v[2].split()[-1][:-1]) for v in ratios]
    colors = ["tab:green" if v <= lim else "tab:red" for v, lim in zip(values, limits)]
    ax.barh(range(len(values)), values, color=colors)
    ax.scatter(limits, range(len(values)), marker="|", s=400, color="k", label="target")
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.legend()
  ax.set(xlabel="time ratio (lower is faster)", title="targets (one run)")


def _achieved_rate(ax, rows: Sequence[Row], ceiling: float | None) -> None:
  fb = [
    r
    for r in rows
    if r["suite"] == "targets" and r["mode"] == "fwd+bwd" and r["gflops_per_s"] is not None
  ]
  ax.barh(range(len(fb)), [r["gflops_per_s"] for r in fb])
  ax.set_yticks(range(len(fb)), [f"{r['family']} {r['impl']}" for r in fb], fontsize=7)
  if ceiling:
    ax.axvline(ceiling, color="k", ls="--", label=f"matmul ceiling {ceiling:.0f}")
    ax.legend()
  ax.set(xlabel="GFLOP/s (fwd+bwd)", title="achieved rate")


def benchmark_figure(
  rows: Sequence[Row], verdicts: Sequence[Sequence[str]], ceiling: float | None, sweep_batch: int
) -> Figure:
  """Three panels: fwd+bwd time against length (lengths suite, log-log), the target ratios
  against their limits (green where they hold), and each targets row's GFLOP/s against the
  matmul ceiling."""
  fig, axes = plotting.row_of_axes(3, width=6.0, height=5.0)
  _time_against_length(axes[0], rows, sweep_batch)
  _target_ratios(axes[1], verdicts)
  _achieved_rate(axes[2], rows, ceiling)
  return fig


def train_steps_figure(rows: Sequence[Row], config) -> Figure:
  """Two panels: ms per train step, ours next to the fastest torch twin, per reference
  config (log scale); ours / torch against each config's target."""
  fig, axes = plotting.row_of_axes(2, width=6.5, height=4.5)
  names = [r["model"] for r in rows]
  x = range(len(rows))
  axes[0].bar([i - 0.2 for i in x], [r["ours_ms"] for r in rows], 0.4, label="ours (JAX)")
  axes[0].bar([i + 0.2 for i in x], [r["torch_ms"] for r in rows], 0.4, label="torch twin")
  axes[0].set(yscale="log", ylabel="ms per train step (median)", title="whole train steps")
  axes[0].set_xticks(list(x), names, rotation=45, ha="right", fontsize=8)
  axes[0].legend(fontsize=8)
  ratios = [r["ours_over_torch"] for r in rows]
  limits = [config.targets.train_steps.get(n) for n in names]
  colors = [
    "tab:gray" if lim is None else ("tab:green" if ratio <= lim else "tab:red")
    for ratio, lim in zip(ratios, limits)
  ]
  axes[1].bar(list(x), ratios, color=colors)
  for i, lim in enumerate(limits):
    if lim is not None:
      axes[1].plot([i - 0.4, i + 0.4], [lim, lim], "k--", lw=1)
  axes[1].axhline(1.0, color="k", lw=0.5)
  axes[1].set(ylabel="ours / torch (dashed: target)", title="ratio (green: target holds)")
  axes[1].set_xticks(list(x), names, rotation=45, ha="right", fontsize=8)
  return fig
