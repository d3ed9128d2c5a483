"""The measured numbers of each criterion, per model, and the verdict rows built on them.

Each `*_number(view, model)` is a traced `Number` (None when its records are missing);
`model_stars` turns them into stars by the rules, and `verdict_rows` into the verdict
table: the folklore pair's stars, the numbers behind them in words, and holds/partly/breaks.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cnnrnn_jax import suite
from cnnrnn_jax.report.records import (
  Records,
  gradient_length,
  learning_rates,
  sweep_sources,
  sweep_tasks,
)
from cnnrnn_jax.report.rules import (
  FOLKLORE,
  Number,
  relative_stars,
  round_half_up,
  star_text,
  threshold_stars,
  traced,
  verdict,
)

# ---------------------------------------------------------------------------------------------
# the measured numbers of each row, per model


def speed_number(view: Records, model, field="train_s_per_example") -> Number | None:
  """Geometric mean over the lengths of a per-example time (fastest implementation)."""
  best = [view.speed_best(model, L, field) for L in view.cfg.speed.lengths]
  if not all(best):
    return None
  return traced(
    f"{model} {field} (geomean over L)",
    [(r["id"], f"result.{field}", r["setting"]["L"]) for r in best],
    "geomean",
    view.ok,
  )


def params_number(view: Records, model) -> Number | None:
  """Parameter count of the model's speed record at the longest length."""
  best = view.speed_best(model, max(view.cfg.speed.lengths))
  if not best:
    return None
  return traced(f"{model} parameters", [(best["id"], "params", None)], "value", view.ok)


def order_number(view: Records, model, how="mean", path="result.accuracy") -> Number | None:
  """A field of the order runs, reduced over seeds by `how`."""
  runs = view.order_runs(model)
  if not runs:
    return None
  return traced(
    f"{model} order {path.split('.')[-1]} ({how} over seeds)",
    [(r["id"], path, r["seed"]) for r in runs],
    how,
    view.ok,
  )


def longest_number(view: Records, model, task) -> Number | None:
  """The end of the first unbroken run of solved distances of one sweep."""
  sources, _ = sweep_sources(view, model, task)
  if not sources:
    return None
  return traced(
    f"{model} {task} longest distance solved",
    sources,
    "longest_solved",
    view.ok,
    arg=view.cfg.solved_threshold,
  )


def stability_numbers(view: Records, model) -> tuple[Number, Number] | None:
  """(fraction, count) of the (learning rate x seed) order runs that converged."""
  runs = [r for lr in learning_rates(view.cfg) for r in view.order_runs(model, lr)]
  if not runs:
    return None
  sources = [(r["id"], "result.converged", (r["setting"]["lr"], r["seed"])) for r in runs]
  return (
    traced(f"{model} fraction converged", sources, "fraction", view.ok),
    traced(f"{model} runs converged", sources, "count", view.ok),
  )


def gradient_number(view: Records, model) -> Number | None:
  """Orders of magnitude the input gradient decays over distance, at initialisation."""
  runs = view.find("gradient", model)
  length = gradient_length(view)
  if not runs:
    return None
  return traced(
    f"{model} gradient decay orders at init (L={length})",
    [(runs[0]["id"], f"result.{length}.decay_orders", None)],
    "value",
    view.ok,
  )


def trained_gradient_number(view: Records, model) -> Number | None:
  """The same decay after training on order, mean over seeds."""
  runs = view.order_runs(model)
  if not runs:
    return None
  return traced(
    f"{model} gradient decay orders after training on order",
    [(r["id"], "result.gradient.decay_orders", r["seed"]) for r in runs],
    "mean",
    view.ok,
  )


def memory_number(view: Records, model) -> Number | None:
  """Train-step peak bytes per example at the longest length (leanest implementation)."""
  best = view.speed_best(model, max(view.cfg.speed.lengths), "peak_bytes_per_example")
  if not best:
    return None
  return traced(
    f"{model} peak bytes/example (L={best['setting']['L']})",
    [(best["id"], "result.peak_bytes_per_example", None)],
    "value",
    view.ok,
  )


def throughput_number(view: Records, model) -> Number | None:
  """Inference examples per second at the largest batch (fastest implementation)."""
  B = max(view.cfg.scaling.batch_sizes)
  best = view.batch_best(model, B)
  if not best:
    return None
  return traced(
    f"{model} inference examples/s (B={B})",
    [(best["id"], "result.examples_per_s", None)],
    "value",
    view.ok,
  )


def depth_number(view: Records, model) -> Number | None:
  """The exponent p of critical path ∝ L^p between the shortest and longest length."""
  runs = view.find("depth", model)
  lo, hi = min(view.cfg.speed.lengths), max(view.cfg.speed.lengths)
  if not runs or lo == hi:
    return None
  return traced(
    f"{model} critical-path exponent p (L={lo}..{hi})",
    [(runs[0]["id"], f"result.critical_path.{L}", L) for L in (lo, hi)],
    "exponent",
    view.ok,
  )


def devices_number(view: Records, model) -> Number | None:
  """Data-parallel efficiency on all the devices present."""
  runs = view.find("devices", model)
  if not runs:
    return None
  return traced(
    f"{model} data-parallel efficiency",
    [(runs[0]["id"], "result.efficiency.-1", None)],
    "value",
    view.ok,
  )


# ---------------------------------------------------------------------------------------------
# stars and rows


@dataclasses.dataclass
class Row:
  """One criterion of the verdict table."""

  criterion: str
  folk_cnn: int
  folk_rnn: int
  cnn: int | None
  rnn: int | None
  numbers_text: str
  numbers: list[Number]
  verdict: str


def fmt(value, kind: str) -> str:
  """A number as the report writes it: kind 'us', 'pct', 'kb', 'k', 'int' or '' (2 digits)."""
  if value is None:
    return "—"
  if kind == "us":
    return f"{value * 1e6:.3g} µs"
  if kind == "pct":
    return f"{100 * value:.0f}%"
  if kind == "kb":
    return f"{value / 1024:.0f} KB"
  if kind == "k":
    return f"{value / 1000:.1f}k"
  if kind == "int":
    return f"{int(value)}"
  return f"{value:.2f}"


def _pair(a: Number | None, b: Number | None, kind: str) -> str:
  return f"{fmt(a and a.value, kind)} vs {fmt(b and b.value, kind)}"


def informative_sweeps(view: Records) -> list[str]:
  """Sweeps in which some model of the comparison solves some distance (all of them when
  none does: then every model gets ★)."""
  out = []
  for task in sweep_tasks(view.cfg):
    numbers = [longest_number(view, m, task) for m in view.models]
    if any(n is not None and n.value is not None for n in numbers):
      out.append(task)
  return out or sweep_tasks(view.cfg)


def model_stars(view: Records, pair: tuple[str, str]) -> dict[str, dict[str, int | None]]:
  """criterion -> model -> measured stars; relative rules are relative to the better of
  the folklore pair (models better than it get ★★★★)."""
  models = view.models
  num = lambda fn: {m: fn(view, m) for m in models}
  val = lambda numbers, m: numbers[m].value if numbers[m] is not None else None

  def relative(numbers, higher=False):
    ref = [val(numbers, m) for m in pair if val(numbers, m) is not None]
    best = (max(ref) if higher else min(ref)) if len(ref) == len(pair) else None
    return {m: relative_stars(val(numbers, m), best, higher) for m in models}

  stars: dict[str, dict[str, int | None]] = {}
  stars["Speed"] = relative(num(speed_number))
  stars["Order awareness"] = {
    m: threshold_stars(val(num(order_number), m), (0.6, 0.75, 0.9)) for m in models
  }
  informative = informative_sweeps(view)
  long_stars = {}
  for m in models:
    per_task = []
    for task in informative:
      number = longest_number(view, m, task)
      tested = max(sweep_sources(view, m, task)[1])
      if number:
        f = 0.0 if number.value is None else number.value / tested
        per_task.append(1 if number.value is None else (4 if f >= 1 else 3 if f >= 0.25 else 2))
    long_stars[m] = round_half_up(float(np.mean(per_task))) if per_task else None
  stars["Long-term context"] = long_stars
  stab = {m: stability_numbers(view, m) for m in models}
  stars["Training stability"] = {
    m: (1 + math.floor(3 * stab[m][0].value + 1e-9)) if stab[m] else None for m in models
  }
  through = relative(num(throughput_number), higher=True)
  depth = num(depth_number)
  devices = num(devices_number)
  scal = {}
  for m in models:
    parts = [through[m]]
    if depth[m] is not None:
      p = depth[m].value
      parts.append(4 if p < 0.1 else 3 if p < 0.5 else 2)
    if devices[m] is not None:
      parts.append(threshold_stars(devices[m].value, (0.4, 0.6, 0.8)))
    parts = [s for s in parts if s is not None]
    scal[m] = round_half_up(float(np.mean(parts))) if parts else None
  stars["Production scalability"] = scal
  grad = num(gradient_number)
  stars["Gradient issues"] = {
    m: None if grad[m] is None else threshold_stars(-abs(grad[m].value), (-4, -2, -1))
    for m in models
  }
  stars["Memory requirement"] = relative(num(memory_number))
  return stars


def verdict_rows(view: Records) -> list[Row]:
  """One `Row` per criterion of FOLKLORE: the folklore pair's stars and numbers, and the verdict."""
  cfg = view.cfg
  c, r = pair = view.pair
  stars = model_stars(view, pair)
  rows = []

  def row(criterion, text, numbers):
    folk_c, folk_r, _ = FOLKLORE[criterion]
    sc, sr = stars[criterion].get(c), stars[criterion].get(r)
    rows.append(
      Row(
        criterion,
        folk_c,
        folk_r,
        sc,
        sr,
        text,
        [n for n in numbers if n is not None],
        verdict(folk_c, folk_r, sc, sr),
      )
    )

  lengths = "/".join(str(L) for L in cfg.speed.lengths)
  sp = [speed_number(view, m) for m in pair]
  inf = [speed_number(view, m, "infer_s_per_example") for m in pair]
  par = [params_number(view, m) for m in pair]
  impls = "; ".join(
    f"{m} fastest: " + " / ".join(view.impl(view.speed_best(m, L)) for L in cfg.speed.lengths)
    for m in pair
    if len(suite.impl_variants(cfg, m)) > 1
    and all(view.speed_best(m, L) for L in cfg.speed.lengths)
  )
  row(
    "Speed",
    f"train {_pair(*sp, 'us')}/example, inference {_pair(*inf, 'us')}/example "
    f"(geomean, L={lengths}); params {_pair(*par, 'k')}" + (f"; {impls}" if impls else ""),
    sp + inf + par,
  )
  acc = [order_number(view, m) for m in pair]
  std = [order_number(view, m, "std") for m in pair]
  drop = [order_number(view, m, "mean", "result.shuffle.drop") for m in pair]
  seeds = len(cfg.seeds)
  row(
    "Order awareness",
    f"accuracy {fmt(acc[0] and acc[0].value, 'pct')}±{fmt(std[0] and std[0].value, 'pct')}"
    f" vs {fmt(acc[1] and acc[1].value, 'pct')}±{fmt(std[1] and std[1].value, 'pct')} "
    f"({seeds} seeds); shuffle drop (window {cfg.order.shuffle_window}) "
    f"{_pair(*drop, 'pct')}",
    acc + std + drop,
  )
  parts, numbers = [], []
  informative = informative_sweeps(view)
  for task in sweep_tasks(cfg):
    longest = [longest_number(view, m, task) for m in pair]
    tested = max(sweep_sources(view, c, task)[1])
    counted = task in informative or len(informative) == len(sweep_tasks(cfg))
    mark = "" if counted else " (unsolved by all: not counted)"
    parts.append(f"{task} {_pair(*longest, 'int')} of {tested}{mark}")
    numbers += longest
  row("Long-term context", "longest distance solved: " + "; ".join(parts), numbers)
  stab = [stability_numbers(view, m) for m in pair]
  total = [len(n[1].sources) if n else 0 for n in stab]
  row(
    "Training stability",
    "converged "
    + " vs ".join(f"{fmt(n and n[1].value, 'int')}/{t}" for n, t in zip(stab, total))
    + f" (lr {', '.join(f'{lr:g}' for lr in learning_rates(cfg))} × {seeds} seeds)",
    [n[0] for n in stab if n] + [n[1] for n in stab if n],
  )
  thr = [throughput_number(view, m) for m in pair]
  dep = [depth_number(view, m) for m in pair]
  dev = [devices_number(view, m) for m in pair]
  dev_text = (
    f"; data-parallel efficiency {_pair(*dev, '')}"
    if any(dev)
    else "; data parallel: 1 device present, not measured"
  )
  row(
    "Production scalability",
    f"inference {_pair(*thr, 'k')} examples/s at B={max(cfg.scaling.batch_sizes)}; "
    f"critical path ∝ L^p, p {_pair(*dep, '')}" + dev_text,
    thr + dep + dev,
  )
  gi = [gradient_number(view, m) for m in pair]
  gt = [trained_gradient_number(view, m) for m in pair]
  row(
    "Gradient issues",
    f"log10(far/near gradient) at init, L={gradient_length(view)}: {_pair(*gi, '')}; after "
    f"training on order (L={cfg.order.seq_len}): {_pair(*gt, '')}",
    gi + gt,
  )
  mem = [memory_number(view, m) for m in pair]
  row(
    "Memory requirement",
    f"train-step peak {_pair(*mem, 'kb')}/example at L={max(cfg.speed.lengths)}",
    mem,
  )
  return rows


def verdict_table(rows: list[Row], cnn: str, rnn: str) -> tuple[list[str], list[list[str]]]:
  """(header, rows) of the verdict table."""
  header = [
    "criterion",
    "folklore CNN",
    f"measured CNN ({cnn})",
    "folklore RNN",
    f"measured RNN ({rnn})",
    f"numbers ({cnn} vs {rnn})",
    "verdict",
  ]
  body = [
    [
      r.criterion,
      star_text(r.folk_cnn),
      star_text(r.cnn),
      star_text(r.folk_rnn),
      star_text(r.rnn),
      r.numbers_text,
      f"**{r.verdict}**",
    ]
    for r in rows
  ]
  return header, body
