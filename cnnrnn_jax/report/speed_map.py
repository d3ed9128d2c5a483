"""The map preset's report: each model's time and memory relative to the CNN over parameter
budget x sequence length x batch size, and where the folklore's Speed claim flips.

The claim "the CNN is faster" holds in a cell when the model is at least x`CLAIM` slower
than the CNN (one star behind by the relative rule, rules.relative_stars), and reverses when
the CNN is at least x`CLAIM` slower than the model. Each cell takes the fastest (or leanest)
of a model's tested implementations, as the Speed row does.
"""

from __future__ import annotations

import math

import numpy as np

from cnnrnn_jax import suite
from cnnrnn_jax.plotting import figure, png_bytes
from cnnrnn_jax.report import tables
from cnnrnn_jax.report.records import Records

CLAIM = math.sqrt(2.0)  # x1.41 behind costs one star: the Speed claim holds from here

FIELDS = {  # what a map figure compares -> (result field, title)
  "train": ("train_s_per_example", "train step time"),
  "infer": ("infer_s_per_example", "inference time"),
  "memory": ("peak_bytes_per_example", "train-step peak memory"),
}


def cell(view: Records, model: str, budget: int, length: int, batch: int, field: str):
  """The best (lowest) `field` of the model's records in one map cell (float); the reason
  when every record there is skipped or failed (str); None when the cell has no record."""
  runs = [
    r
    for r in view.all.values()
    if r["probe"] == "speed"
    and r["model"] == model
    and (r["setting"].get("P"), r["setting"].get("L"), r["setting"].get("B"))
    == (budget, length, batch)
  ]
  values = [
    r["result"][field] for r in runs if field in r["result"] and "skipped" not in r["result"]
  ]
  if values:
    return float(min(values))
  for r in runs:
    return r["result"].get("skipped") or r["result"].get("error", "no result")
  return None


def ratio_grid(view: Records, model: str, batch: int, field: str) -> np.ndarray:
  """model / CNN of `field` at each (parameter budget, length) of the map at `batch`:
  an array [budget, length], NaN where either cell did not run."""
  m, cnn = view.cfg.map, view.cfg.folklore.cnn
  out = np.full((len(m.param_budgets), len(m.lengths)), np.nan)
  for i, budget in enumerate(m.param_budgets):
    for j, length in enumerate(m.lengths):
      a = cell(view, model, budget, length, batch, field)
      b = cell(view, cnn, budget, length, batch, field)
      if isinstance(a, float) and isinstance(b, float) and b > 0:
        out[i, j] = a / b
  return out


def claim_cells(ratio: np.ndarray, threshold: float = CLAIM) -> np.ndarray:
  """+1 where the claim holds (ratio >= threshold), -1 where it reverses (ratio <=
  1/threshold), 0 in between, NaN where the ratio is unknown."""
  out = np.where(ratio >= threshold, 1.0, np.where(ratio <= 1.0 / threshold, -1.0, 0.0))
  return np.where(np.isnan(ratio), np.nan, out)


def crossings(lengths, ratios, level: float) -> list[float]:
  """The lengths at which the ratio crosses `level`, interpolated linearly in log(length) and
  log(ratio) between neighbouring measured lengths (NaN ratios break the line)."""
  out = []
  points = list(zip(lengths, ratios))
  for (l0, r0), (l1, r1) in zip(points, points[1:]):
    if not (r0 > 0 and r1 > 0):
      continue
    d0, d1 = math.log(r0 / level), math.log(r1 / level)
    if d0 == 0:
      out.append(float(l0))
    elif d0 * d1 < 0:
      t = d0 / (d0 - d1)
      out.append(float(math.exp(math.log(l0) + t * (math.log(l1) - math.log(l0)))))
  if points and ratios[-1] > 0 and math.log(ratios[-1] / level) == 0:
    out.append(float(lengths[-1]))
  return out


def flip_text(lengths, ratios, threshold: float = CLAIM) -> str:
  """Where along the lengths the claim starts or stops holding, or stops reversing, shortest
  length first."""
  parts = []
  # the claim holds above its level and reverses below the reversal's
  for level, word, high in ((threshold, "holds", True), (1.0 / threshold, "reverses", False)):
    for at in crossings(lengths, ratios, level):
      above = _rising(lengths, ratios, at) == high
      parts.append((at, f"{word} {'above' if above else 'below'} L≈{at:.0f}"))
  return "; ".join(text for _, text in sorted(parts))


def _rising(lengths, ratios, at: float) -> bool:
  """Whether the ratio grows with length around `at` (between the points that bracket it)."""
  for (l0, r0), (l1, r1) in zip(zip(lengths, ratios), list(zip(lengths, ratios))[1:]):
    if l0 <= at <= l1:
      return r1 > r0
  return False


def _cell_mark(ratio: float, claim: float) -> str:
  if np.isnan(ratio):
    return "—"
  return f"{ratio:.2g}×" + {1.0: " ★", -1.0: " ✗"}.get(float(claim), "")


def flip_table(view: Records, field: str = "train_s_per_example") -> tables.Table:
  """Per model, batch size and parameter budget: its `field` over the CNN's at each length
  (★ the claim holds, ✗ it reverses), and where along the lengths that changes."""
  m = view.cfg.map
  header = ["model", "batch", "params"] + [f"L={L}" for L in m.lengths] + ["where it flips"]
  rows = []
  for model in _others(view):
    for batch in m.batch_sizes:
      grid = ratio_grid(view, model, batch, field)
      for i, budget in enumerate(m.param_budgets):
        if np.isnan(grid[i]).all():
          continue
        rows.append(
          [model, str(batch), f"{budget / 1000:g}k"]
          + [_cell_mark(r, c) for r, c in zip(grid[i], claim_cells(grid[i]))]
          + [flip_text(list(m.lengths), list(grid[i])) or "—"]
        )
  return header, rows


def cells_table(view: Records) -> tables.Table:
  """Every cell of the map: the matched size, time per example and peak memory per example,
  or why it was skipped."""
  m = view.cfg.map
  header = ["model", "budget", "params", "batch", "L", "train µs/ex", "infer µs/ex", "peak KB/ex"]
  rows = []
  for model in view.models:
    for budget in m.param_budgets:
      for batch in m.batch_sizes:
        for length in m.lengths:
          values = [cell(view, model, budget, length, batch, f) for f, _ in FIELDS.values()]
          params = _params(view, model, budget)
          head = [model, f"{budget / 1000:g}k", params, str(batch), str(length)]
          if isinstance(values[0], float):
            rows.append(
              head + [f"{values[0] * 1e6:.3g}", f"{values[1] * 1e6:.3g}", f"{values[2] / 1024:.0f}"]
            )
          elif values[0] is not None:
            rows.append(head + [f"skipped: {values[0]}", "", ""])
  return header, rows


def _params(view: Records, model: str, budget: int) -> str:
  for r in view.all.values():
    if r["model"] == model and r["setting"].get("P") == budget and r.get("params"):
      return f"{r['params']:,}"
  return "—"


def _others(view: Records) -> list[str]:
  return [m for m in view.models if m != view.cfg.folklore.cnn]


def plot_ratio_map(view: Records, what: str = "train", models: list[str] | None = None):
  """Heatmaps of model / CNN (log2 colour) over (length, parameter budget), one row per
  model and one column per batch size, the ratio written in each cell (grey: skipped, or
  — not run); solid
  contour: the claim's x1.41 (CNN faster), dashed: its reversal (model x1.41 faster)."""
  field, title = FIELDS[what]
  m, cnn = view.cfg.map, view.cfg.folklore.cnn
  models = models or _others(view)
  grids = {(mo, b): ratio_grid(view, mo, b, field) for mo in models for b in m.batch_sizes}
  if all(np.isnan(g).all() for g in grids.values()):
    return None
  fig = figure(3.2 * len(m.batch_sizes) + 1.0, 2.3 * len(models) + 0.6)
  axes = fig.subplots(len(models), len(m.batch_sizes), squeeze=False)
  limit = 3.0  # colour saturates at x8
  image = None
  for r, model in enumerate(models):
    for c, batch in enumerate(m.batch_sizes):
      ax, grid = axes[r][c], grids[(model, batch)]
      log2 = np.ma.masked_invalid(np.log2(grid))
      ax.set_facecolor("0.85")  # skipped cells
      image = ax.imshow(log2, cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower")
      if log2.count() >= 2 and min(grid.shape) >= 2:
        ax.contour(log2, levels=[-0.5, 0.5], colors="k", linestyles=["--", "-"], linewidths=1.2)
      for i, budget in enumerate(m.param_budgets):
        for j, length in enumerate(m.lengths):
          text = f"{grid[i, j]:.2g}"
          if np.isnan(grid[i, j]):  # skipped (or failed) in either model, or not run yet
            pair = [cell(view, mo, budget, length, batch, field) for mo in (model, cnn)]
            text = "skip" if any(isinstance(v, str) for v in pair) else "—"
          ax.text(j, i, text, ha="center", va="center", fontsize=7)
      ax.set_xticks(range(len(m.lengths)), [str(L) for L in m.lengths], fontsize=7)
      ax.set_yticks(
        range(len(m.param_budgets)), [f"{p / 1000:g}k" for p in m.param_budgets], fontsize=7
      )
      ax.set_title(f"{model} / {cnn}, batch {batch}", fontsize=8)
      if r == len(models) - 1:
        ax.set_xlabel("sequence length L", fontsize=7)
      if c == 0:
        ax.set_ylabel("parameters", fontsize=7)
  bar = fig.colorbar(image, ax=axes, shrink=0.8)
  bar.set_label(f"log2 ({title} / CNN's)", fontsize=7)
  return png_bytes(fig)


def agreement_table(view: Records) -> tables.Table:
  """The map's cells at the default preset's speed settings (its budget and batch size)
  against that preset's Speed records of the same implementations (cfg.map.compare_with:
  its workdir): train and inference time per example and the relative difference."""
  other = suite.load_records(view.cfg.map.compare_with)

  def same_impl(record, model) -> bool:  # an implementation the map timed too
    return any(
      all(record["setting"].get(k) == v for k, v in variant.items())
      for variant in suite.impl_variants(view.cfg, model)
    )

  header = ["model", "L", "train µs/ex map / default", "diff", "infer µs/ex map / default", "diff"]
  rows = []
  batch, budget = view.cfg.speed.batch_size, view.cfg.param_budget
  for model in view.models:
    for length in view.cfg.map.lengths:
      runs = [
        r
        for r in other.values()
        if r["probe"] == "speed"
        and r["model"] == model
        and r["setting"].get("L") == length
        and "error" not in r["result"]
        and r["config"]["batch_size"] == batch
        and same_impl(r, model)
      ]
      if not runs:
        continue
      row = [model, str(length)]
      for field in ("train_s_per_example", "infer_s_per_example"):
        ours = cell(view, model, budget, length, batch, field)
        theirs = min(r["result"][field] for r in runs)
        if isinstance(ours, float):
          row += [f"{ours * 1e6:.3g} / {theirs * 1e6:.3g}", f"{ours / theirs - 1:+.0%}"]
        else:
          row += ["—", "—"]
      rows.append(row)
  return header, rows
