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
  leaky_distances,
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


def clean_sources(view: Records, model, task) -> tuple[list, list[int]]:
  """`sweep_sources` without the leaky distances: (sources, distances that count)."""
  sources, distances = sweep_sources(view, model, task)
  leaky = leaky_distances(view, task)
  return [s for s in sources if s[2] not in leaky], [d for d in distances if d not in leaky]


def order_reach_number(view: Records, model) -> Number | None:
  """Mean accuracy on the order task over its clean eval distances and the seeds: the mean
  height of the model's order curve where no control beats chance."""
  sources, distances = clean_sources(view, model, view.cfg.order.task)
  if not sources:
    return None
  return traced(
    f"{model} order accuracy, mean over d={','.join(map(str, distances))}",
    sources,
    "mean",
    view.ok,
  )


def longest_number(view: Records, model, task) -> Number | None:
  """The end of the first unbroken run of solved clean distances of one sweep."""
  sources, _ = clean_sources(view, model, task)
  if not sources:
    return None
  return traced(
    f"{model} {task} longest distance solved",
    sources,
    "longest_solved",
    view.ok,
    arg=view.cfg.solved_threshold,
  )


def stability_numbers(view: Records, model, clipped=False) -> tuple[Number, Number] | None:
  """(fraction, count) of the model's stability-grid runs, without gradient clipping (or
  with it), that converged."""
  runs = view.stability_runs(model, clipped)
  if not runs:
    return None
  sources = [
    (r["id"], "result.converged", (r["setting"]["opt"], r["setting"]["lr"], r["setting"]["L"]))
    for r in runs
  ]
  which = "clipped" if clipped else "unclipped"
  return (
    traced(f"{model} fraction of {which} runs converged", sources, "fraction", view.ok),
    traced(f"{model} {which} runs converged", sources, "count", view.ok),
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
    f"{model} gradient decay orders after training on {view.cfg.order.task}",
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


def _tells_apart(view: Records, task: str) -> bool:
  """Some model solves some clean distance of the sweep and some model fails one."""
  longest = [longest_number(view, m, task) for m in view.models]
  found = [n.value for n in longest if n is not None]
  tested = clean_sources(view, view.models[0], task)[1]
  return any(v is not None for v in found) and not all(v == max(tested) for v in found)


def sweep_counting(view: Records) -> dict[str, tuple[bool, str]]:
  """sweep task -> (counts toward the long-context stars, why). A sweep counts when it tells
  the models apart (when none does, every candidate counts: all models get the same stars);
  a sweep configured with counts=False (one added from the command line) never does."""
  cfg, out = view.cfg, {}
  candidates = [
    t for t in sweep_tasks(cfg) if t == cfg.order.task or cfg.sweeps[t].get("counts", True)
  ]
  informative = [t for t in candidates if _tells_apart(view, t)]
  for task in sweep_tasks(cfg):
    if task not in candidates:
      out[task] = (False, "configured with counts=False: measured and shown only")
    elif task in informative:
      out[task] = (True, "some model solves a clean distance and some model fails one")
    elif not informative:
      out[task] = (True, "no sweep tells the models apart, so every one counts")
    else:
      out[task] = (False, "solved by none or by all: it cannot tell the models apart")
  return out


def informative_sweeps(view: Records) -> list[str]:
  """The sweeps the long-context stars average over (`sweep_counting`)."""
  return [task for task, (counts, _) in sweep_counting(view).items() if counts]


def sweep_counting_text(view: Records) -> str:
  """One sentence: which sweeps the long-context stars average over, and why."""
  parts = [
    f"`{task}` {'counts' if counts else 'does not count'} ({why})"
    for task, (counts, why) in sweep_counting(view).items()
  ]
  return "Toward the Long-term context stars: " + "; ".join(parts) + "."


def pair_row(
  criterion: str,
  stars: dict[str, dict[str, int | None]],
  pair: tuple[str, str],
  text: str,
  numbers: list[Number | None],
) -> Row:
  """The verdict row of `criterion`: the folklore's stars and the pair's measured ones (from
  `stars`, criterion -> model -> stars), the numbers behind them in words, the verdict."""
  folk_c, folk_r, _ = FOLKLORE[criterion]
  sc, sr = (stars[criterion].get(m) for m in pair)
  kept = [n for n in numbers if n is not None]
  return Row(criterion, folk_c, folk_r, sc, sr, text, kept, verdict(folk_c, folk_r, sc, sr))


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
    m: threshold_stars(val(num(order_reach_number), m), (0.6, 0.75, 0.9)) for m in models
  }
  informative = informative_sweeps(view)
  long_stars = {}
  for m in models:
    per_task = []
    for task in informative:
      number = longest_number(view, m, task)
      tested = max(clean_sources(view, m, task)[1], default=0)
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
    rows.append(pair_row(criterion, stars, pair, text, numbers))

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
  reach = [order_reach_number(view, m) for m in pair]
  drop = [order_number(view, m, "mean", "result.shuffle.drop") for m in pair]
  counted = clean_sources(view, c, cfg.order.task)[1]
  leaky = sorted(leaky_distances(view, cfg.order.task))
  seeds = len(cfg.seeds)
  row(
    "Order awareness",
    f"`{cfg.order.task}` accuracy {_pair(*reach, 'pct')}, mean over d="
    f"{','.join(map(str, counted))} and {seeds} seeds"
    + (f" (leaky, not counted: d={','.join(map(str, leaky))})" if leaky else "")
    + f"; shuffle drop (window {cfg.order.shuffle_window}) {_pair(*drop, 'pct')}",
    reach + drop,
  )
  parts, numbers = [], []
  counting = sweep_counting(view)
  for task in sweep_tasks(cfg):
    longest = [longest_number(view, m, task) for m in pair]
    tested = max(clean_sources(view, c, task)[1], default=0)
    counted, why = counting[task]
    mark = "" if counted else f" (not counted: {why.split(':')[0]})"
    parts.append(f"{task} {_pair(*longest, 'int')} of {tested}{mark}")
    numbers += longest
  row("Long-term context", "longest distance solved: " + "; ".join(parts), numbers)

  def converged(clipped):
    numbers = [stability_numbers(view, m, clipped) for m in pair]
    text = " vs ".join(
      f"{fmt(n and n[1].value, 'int')}/{len(n[1].sources) if n else 0}" for n in numbers
    )
    return text, [x for n in numbers if n for x in n]

  bare, bare_numbers = converged(False)
  safe, safe_numbers = converged(True)
  row(
    "Training stability",
    f"`{cfg.stability.task}` runs converged without clipping {bare}, with clipping "
    f"{safe} (SGD+momentum and AdamW, L={'/'.join(map(str, cfg.stability.lengths))})",
    bare_numbers + safe_numbers,
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
    f"training on {cfg.order.task} (L={cfg.order.seq_len}): {_pair(*gt, '')}",
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
