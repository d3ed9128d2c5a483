"""The detail tables of the report: each a function of the records -> (header, rows)."""

from __future__ import annotations

import numpy as np

from cnnrnn_jax import suite
from cnnrnn_jax.report.records import Records, get_path, leaky_distances, sweep_sources
from cnnrnn_jax.report.rows import (
  depth_number,
  fmt,
  longest_number,
  model_stars,
  stability_numbers,
  trained_gradient_number,
  verdict_rows,
)
from cnnrnn_jax.report.rules import FOLKLORE, star_text

Table = tuple[list[str], list[list[str]]]  # header, rows (cells already written as text)


def _mean_std(values: list[float], kind="pct") -> str:
  if not values:
    return "—"
  if len(values) == 1:
    return fmt(values[0], kind)
  return f"{fmt(float(np.mean(values)), kind)} ± {fmt(float(np.std(values)), kind)}"


def speed_table(view: Records) -> Table:
  """Per model and implementation: train and inference time per example at each length."""
  Ls = list(view.cfg.speed.lengths)
  header = (
    ["model", "impl", "params"]
    + [f"train µs/ex L={L}" for L in Ls]
    + [f"infer µs/ex L={L}" for L in Ls]
    + [f"compile s L={Ls[-1]} (train/infer)"]
  )
  rows = []
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    for impl in sorted({view.impl(r) for r in runs}):
      at = {r["setting"]["L"]: r for r in runs if view.impl(r) == impl}
      last = at.get(Ls[-1])
      rows.append(
        [model, impl or "-", fmt(last and last["params"], "k")]
        + [fmt(at[L]["result"]["train_s_per_example"] * 1e6, "") if L in at else "—" for L in Ls]
        + [fmt(at[L]["result"]["infer_s_per_example"] * 1e6, "") if L in at else "—" for L in Ls]
        + [
          f"{last['result']['train_compile_s']:.2f} / {last['result']['infer_compile_s']:.2f}"
          if last
          else "—"
        ]
      )
  return header, rows


def memory_table(view: Records) -> Table:
  """Per model and implementation: train-step peak memory per example at each length."""
  Ls = list(view.cfg.speed.lengths)
  header = (
    ["model", "impl"]
    + [f"peak KB/ex L={L}" for L in Ls]
    + [f"temp KB/ex L={Ls[-1]}", "arguments KB"]
  )
  rows = []
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    for impl in sorted({view.impl(r) for r in runs}):
      at = {r["setting"]["L"]: r["result"] for r in runs if view.impl(r) == impl}
      last = at.get(Ls[-1], {})
      rows.append(
        [model, impl or "-"]
        + [
          f"{at[L]['peak_bytes_per_example'] / 1024:.1f}"
          if L in at and "peak_bytes_per_example" in at[L]
          else "—"
          for L in Ls
        ]
        + [
          f"{last['temp_bytes_per_example'] / 1024:.1f}" if last else "—",
          f"{last['argument_bytes'] / 1024:.0f}" if last else "—",
        ]
      )
  return header, rows


def order_table(view: Records) -> Table:
  """Per model and control: order accuracy, the same with shuffled blocks, and the drop."""
  header = [
    "model",
    "params",
    "accuracy",
    f"shuffled (window {view.cfg.order.shuffle_window})",
    "drop",
    "seeds",
  ]
  rows = []
  for model in view.models + view.controls:
    runs = view.order_runs(model)
    if runs:
      paths = ("result.accuracy", "result.shuffle.shuffled_accuracy", "result.shuffle.drop")
      cells = [_mean_std([get_path(r, path) for r in runs]) for path in paths]
      name = model if model in view.models else f"{model} (control)"
      rows.append([name, fmt(runs[0]["params"], "k"), *cells, str(len(runs))])
  return header, rows


def distance_table(view: Records, task: str) -> Table:
  """Per model and control: accuracy at each distance of one long-context sweep (a leaky
  distance is marked with the control that beats chance there), and the longest solved."""
  _, distances = sweep_sources(view, view.models[0], task)
  leaky = leaky_distances(view, task)
  header = (
    ["model"]
    + [f"d={d}" + (f" (leaky: {leaky[d]})" if d in leaky else "") for d in distances]
    + ["longest solved"]
  )
  rows = []
  for model in view.models + view.controls:
    sources, _ = sweep_sources(view, model, task)
    if not sources:
      continue
    by_d: dict[int, list[float]] = {}
    for rid, path, d in sources:
      by_d.setdefault(d, []).append(get_path(view.ok[rid], path))
    longest = longest_number(view, model, task)
    name = model if model in view.models else f"{model} (control)"
    rows.append(
      [name]
      + [_mean_std(by_d.get(d, [])) for d in distances]
      + [fmt(longest and longest.value, "int")]
    )
  return header, rows


def gradient_table(view: Records) -> Table:
  """Per model: gradient decay orders at initialisation per length, and after training."""
  lengths = sorted({view.cfg.order.seq_len, *view.cfg.gradient.lengths})
  header = (
    ["model"]
    + [f"init, L={L}" for L in lengths]
    + [f"trained on {view.cfg.order.task}, L={view.cfg.order.seq_len}"]
  )
  rows = []
  for model in view.models:
    init = view.find("gradient", model)
    trained = trained_gradient_number(view, model)
    rows.append(
      [model]
      + [f"{init[0]['result'][str(L)]['decay_orders']:+.2f}" if init else "—" for L in lengths]
      + [f"{trained.value:+.2f}" if trained else "—"]
    )
  return header, rows


def stability_table(view: Records) -> Table:
  """Per model and grid setting (optimizer, learning rate, length): converged (final eval
  loss) without and with clipping; then the fraction converged of each."""
  settings = sorted(
    {(r["setting"]["opt"], r["setting"]["lr"], r["setting"]["L"]) for r in view.find("stability")}
  )
  header = (
    ["model"]
    + [f"{opt} lr={lr:g} L={L}" for opt, lr, L in settings]
    + ["converged, no clip", "converged, clipped"]
  )

  def outcome(run) -> str:
    result = run["result"]
    mark = "✓" if result["converged"] else "✗"
    return f"{mark} diverged" if result.get("diverged") else f"{mark} {result['eval']['loss']:.2f}"

  rows = []
  for model in view.models:
    runs = view.stability_runs(model)
    if not runs:
      continue
    cells = []
    for opt, lr, L in settings:
      pair = []
      for clipped in (False, True):
        match = [
          r
          for r in runs
          if (r["setting"]["opt"], r["setting"]["lr"], r["setting"]["L"]) == (opt, lr, L)
          and bool(r["setting"]["clip"]) == clipped
        ]
        pair.append(", ".join(outcome(r) for r in match) or "—")
      cells.append(" / ".join(pair))
    fractions = [stability_numbers(view, model, clipped) for clipped in (False, True)]
    rows.append([model] + cells + [fmt(n and n[0].value, "pct") for n in fractions])
  return header, rows


def scaling_table(view: Records) -> Table:
  """Per model: throughput per batch size, critical path per length, data-parallel scaling."""
  Bs = list(view.cfg.scaling.batch_sizes)
  Ls = list(view.cfg.speed.lengths)
  header = (
    ["model"]
    + [f"examples/s B={B}" for B in Bs]
    + [f"critical path L={L}" for L in Ls]
    + ["p (depth ∝ L^p)", "data parallel"]
  )
  rows = []
  for model in view.models:
    by_b = {
      B: view.batch_best(model, B)["result"]["examples_per_s"]
      for B in Bs
      if view.batch_best(model, B)
    }
    depth = view.find("depth", model)
    cp = depth[0]["result"]["critical_path"] if depth else {}
    p = depth_number(view, model)
    dev = view.find("devices", model)
    dev_text = (
      "; ".join(
        f"{n} dev: {e:.2f}"
        for n, e in zip(dev[0]["result"]["devices"], dev[0]["result"]["efficiency"])
      )
      if dev
      else "1 device present"
    )
    rows.append(
      [model]
      + [f"{by_b[B]:,.0f}" if B in by_b else "—" for B in Bs]
      + [str(cp.get(str(L), "—")) for L in Ls]
      + [f"{p.value:.2f}" if p else "—", dev_text]
    )
  return header, rows


def stars_table(view: Records, stars=None) -> Table:
  """Every model's stars by the same rules (`stars`: model_stars, computed when None)."""
  stars = model_stars(view, view.pair) if stars is None else stars
  header = ["criterion"] + view.models
  return header, [
    [crit] + [star_text(stars[crit].get(m)) for m in view.models] for crit in FOLKLORE
  ]


def benchmark_table(view: Records) -> Table:
  """Per benchmark task and model: accuracy (or eval loss), mean ± std over seeds."""
  header = ["task"] + view.models
  rows = []
  for task in suite.names_of(view.cfg.benchmarks):
    cells = []
    for model in view.models:
      runs = [r for r in view.find("train", model, task) if not r["setting"]]
      metric = "accuracy" if runs and "accuracy" in runs[0]["result"] else None
      values = [r["result"][metric] if metric else r["result"]["eval"].get("loss") for r in runs]
      cells.append(_mean_std(values, "pct" if metric else ""))
    rows.append([task] + cells)
  return header, rows


def errors_table(view: Records) -> Table:
  """The jobs whose record holds an error instead of a result."""
  errors = [rec for rec in view.all.values() if "error" in rec["result"]]
  return ["record", "error"], [[e["id"], e["result"]["error"]] for e in errors]


def _trace_value(value) -> str:
  if value is None:
    return "none"
  if isinstance(value, float):
    return f"{value:.6g}"
  return str(value)


def sources_table(view: Records) -> Table:
  """Every number of the verdict rows: its value, how it is reduced, and its record fields."""
  rows = []
  for row in verdict_rows(view):
    for n in row.numbers:
      if len(n.sources) <= 6:
        where = "; ".join(f"`{rid}` {path}" for rid, path, _ in n.sources)
      else:
        ids = dict.fromkeys(s[0] for s in n.sources)
        where = f"{len(n.sources)} fields of " + ", ".join(f"`{rid}`" for rid in ids)
      rows.append([row.criterion, n.label, _trace_value(n.value), n.how, where])
  return ["row", "number", "value", "how", "records (id, field)"], rows
