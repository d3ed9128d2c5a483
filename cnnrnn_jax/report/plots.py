"""The report's figures: each a function of the records -> PNG bytes (None: nothing to draw)."""

from __future__ import annotations

import numpy as np

from cnnrnn_jax.plotting import model_style, png_bytes, row_of_axes
from cnnrnn_jax.report.records import (
  Records,
  chance_accuracy,
  get_path,
  leaky_distances,
  sweep_sources,
  sweep_tasks,
)


def plot_speed(view: Records) -> bytes | None:
  """Train, inference and compile time against length, one line per implementation."""
  fig, axes = row_of_axes(3)
  drawn = False
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    impls = sorted({view.impl(r) for r in runs})
    for n, impl in enumerate(impls):
      sel = sorted([r for r in runs if view.impl(r) == impl], key=lambda r: r["setting"]["L"])
      label = model + (f" ({impl})" if impl else "")
      style = {**model_style(model, view.models), "linestyle": ("-", "--", ":", "-.")[n % 4]}
      L = [r["setting"]["L"] for r in sel]
      fields = ("train_s_per_example", "infer_s_per_example", "train_compile_s")
      for ax, field in zip(axes, fields):
        scale = 1e6 if field.endswith("example") else 1.0
        ax.plot(L, [r["result"][field] * scale for r in sel], label=label, **style)
      drawn = True
  if not drawn:
    return None
  titles = ("train step, µs per example", "inference, µs per example", "train-step compile, s")
  for ax, title in zip(axes, titles):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=7)
  return png_bytes(fig)


def plot_memory(view: Records) -> bytes | None:
  """Train-step peak memory per example against length (leanest implementation)."""
  fig, axes = row_of_axes(1, 6)
  ax = axes[0]
  drawn = False
  for model in view.models:
    points = [
      (L, view.speed_best(model, L, "peak_bytes_per_example")) for L in view.cfg.speed.lengths
    ]
    points = [(L, r["result"]["peak_bytes_per_example"] / 1024) for L, r in points if r]
    if points:
      ax.plot(*zip(*points), label=model, **model_style(model, view.models))
      drawn = True
  if not drawn:
    return None
  ax.set_xscale("log", base=2)
  ax.set_yscale("log")
  ax.set_xlabel("sequence length L")
  ax.set_title("train-step peak memory, KB per example")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  return png_bytes(fig)


def plot_distance(view: Records) -> bytes | None:
  """Accuracy against dependency distance, one panel per long-context sweep; the controls
  dashed, leaky distances shaded, chance and the solved threshold dotted."""
  task_list = sweep_tasks(view.cfg)
  fig, axes = row_of_axes(len(task_list), 4.5)
  drawn = False
  shown = view.models + view.controls
  for ax, task in zip(axes, task_list):
    for model in shown:
      sources, _ = sweep_sources(view, model, task)
      by_d: dict[int, list[float]] = {}
      for rid, path, d in sources:
        by_d.setdefault(d, []).append(get_path(view.ok[rid], path))
      if by_d:
        ds = sorted(by_d)
        style = model_style(model, shown)
        if model in view.controls:
          style.update(linestyle="--", label=f"{model} (control)")
        ax.plot(ds, [np.mean(by_d[d]) for d in ds], **{"label": model, **style})
        drawn = True
    for d in leaky_distances(view, task):
      ax.axvspan(d * 0.9, d * 1.1 + 0.5, color="red", alpha=0.12, linewidth=0)
    ax.axhline(view.cfg.solved_threshold, color="gray", linestyle=":", linewidth=1)
    ax.axhline(chance_accuracy(view, task), color="black", linestyle=":", linewidth=0.8)
    ax.set_title(f"{task}: accuracy vs distance")
    ax.set_xlabel("dependency distance")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
  if not drawn:
    return None
  axes[0].legend(fontsize=7)
  return png_bytes(fig)


def plot_gradients(view: Records) -> bytes | None:
  """Gradient norm against distance from the output, relative to the nearest steps."""
  panels = [
    (f"at initialisation, L={L}", "gradient", str(L))
    for L in sorted({view.cfg.order.seq_len, *view.cfg.gradient.lengths})
  ]
  panels.append(
    (f"after training on {view.cfg.order.task}, L={view.cfg.order.seq_len}", "train", None)
  )
  fig, axes = row_of_axes(len(panels), 4.5)
  drawn = False
  for ax, (title, probe, key) in zip(axes, panels):
    for model in view.models:
      runs = view.find("gradient", model) if probe == "gradient" else view.order_runs(model)[:1]
      if not runs:
        continue
      prof = runs[0]["result"][key] if key else runs[0]["result"]["gradient"]
      d = np.asarray(prof["distance"])
      norm = np.asarray(prof["mean_norm"])
      count = np.asarray(prof["count"])
      back = d >= 0
      near = norm[back & (d <= max(d.max() // 8, 0))].mean()
      # distances seen by a few rows only (the longest of a variable-length set) are noise
      shown = back & (count >= 0.1 * count[back].max()) & (norm > 0)
      style = {**model_style(model, view.models), "markersize": 0}
      ax.plot(d[shown], norm[shown] / max(near, 1e-30), label=model, **style)
      drawn = True
    ax.set_yscale("log")
    ax.set_xlabel("distance from the output (steps)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
  if not drawn:
    return None
  axes[0].set_ylabel("‖∂loss/∂x_t‖ relative to the nearest steps")
  axes[0].legend(fontsize=7)
  return png_bytes(fig)


def plot_scaling(view: Records) -> bytes | None:
  """Throughput against batch size; critical path against length."""
  fig, axes = row_of_axes(2)
  drawn = False
  for model in view.models:
    style = model_style(model, view.models)
    runs = [view.batch_best(model, B) for B in sorted(view.cfg.scaling.batch_sizes)]
    runs = [r for r in runs if r]
    if runs:
      batch_sizes = [r["setting"]["B"] for r in runs]
      axes[0].plot(batch_sizes, [r["result"]["examples_per_s"] for r in runs], label=model, **style)
      drawn = True
    depth = view.find("depth", model)
    if depth:
      cp = depth[0]["result"]["critical_path"]
      Ls = sorted(int(L) for L in cp)
      axes[1].plot(Ls, [cp[str(L)] for L in Ls], label=model, **style)
      drawn = True
  if not drawn:
    return None
  axes[0].set_title(
    f"inference throughput, examples/s (L={view.cfg.scaling.seq_len}, fastest implementation)"
  )
  axes[0].set_xlabel("batch size")
  axes[1].set_title("critical path of the forward pass (dependent ops)")
  axes[1].set_xlabel("sequence length L")
  for ax in axes:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=7)
  return png_bytes(fig)
