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
