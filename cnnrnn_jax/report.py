"""The verdict: the folklore's stars next to measured stars, with the numbers behind them.

`build(cfg, records)` turns the records of a comparison (suite.py) into a `Report`:
verdict rows, per-model star tables, detail tables and plots. `write(report, workdir)`
writes report.md (PNG files next to it) and report.html (the same, PNGs embedded), and
`verdict_text(report)` is what the terminal prints.

Every number of the verdict table is a `Number` that knows the records and fields it
comes from and how it follows from them (`Number.compute`), so it can be traced back
and recomputed from records.jsonl alone (the report's last section lists the sources).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import io
import math
import os
import platform
from typing import Any, Callable, Sequence

import numpy as np

from cnnrnn_jax import measure, suite

FOLKLORE = {  # criterion -> (CNN stars, RNN stars, what the lesson says)
    "Speed": (4, 2, "fast (parallel) vs slow (sequential)"),
    "Order awareness": (2, 4, "local window only vs strong"),
    "Long-term context": (1, 4, "weak vs strong (with LSTM/GRU)"),
    "Training stability": (4, 2, "stable vs harder to train"),
    "Production scalability": (4, 2, "excellent vs moderate"),
    # The lesson states these two in words; our translation: favourable 4, unfavourable 2.
    "Gradient issues": (4, 2, "'rare' vs 'vanishing/exploding possible'"),
    "Memory requirement": (4, 2, "'low' vs 'higher (hidden states)'"),
}


# ---------------------------------------------------------------------------------------------
# traced numbers

def get_path(record: dict, path: str):
  """record['a']['b'][3] for path 'a.b.3' (dict keys, or list indices, negative too)."""
  value = record
  for part in path.split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
  return value


def _longest_solved(pairs, threshold):
  by_key: dict[float, list[float]] = {}
  for key, value in pairs:
    by_key.setdefault(key, []).append(value)
  return measure.longest_solved({k: float(np.mean(v)) for k, v in by_key.items()}, threshold)


def _exponent(pairs):
  (x0, y0), (x1, y1) = sorted(pairs)
  return math.log(y1 / y0) / math.log(x1 / x0)


REDUCERS: dict[str, Callable[[list[tuple[Any, Any]], float | None], Any]] = {
    "value": lambda pairs, _: pairs[0][1],
    "mean": lambda pairs, _: float(np.mean([v for _, v in pairs])),
    "std": lambda pairs, _: float(np.std([v for _, v in pairs])),
    "geomean": lambda pairs, _: float(np.exp(np.mean(np.log([v for _, v in pairs])))),
    "fraction": lambda pairs, _: float(np.mean([bool(v) for _, v in pairs])),
    "count": lambda pairs, _: int(sum(bool(v) for _, v in pairs)),
    "longest_solved": lambda pairs, t: _longest_solved(pairs, t),
    "exponent": lambda pairs, _: _exponent(pairs),
}


@dataclasses.dataclass
class Number:
  """A value computed from record fields: sources are (record id, dotted path, key)."""

  label: str
  sources: list[tuple[str, str, Any]]
  how: str = "value"
  arg: float | None = None   # the threshold of 'longest_solved'
  value: Any = None

  def compute(self, records: dict[str, dict]):
    pairs = [(key, get_path(records[rid], path)) for rid, path, key in self.sources]
    return REDUCERS[self.how](pairs, self.arg) if pairs else None


def traced(label, sources, how="value", records=None, arg=None) -> Number:
  number = Number(label, list(sources), how, arg)
  number.value = number.compute(records)
  return number


# ---------------------------------------------------------------------------------------------
# stars

def relative_stars(value, best, higher_is_better=False) -> int | None:
  """The better of the pair gets 4; one star less per factor 2 behind it, to the nearest
  star (x1.41 behind costs one, x2.83 two, x5.66 three; min 1)."""
  if value is None or best is None:
    return None
  ratio = best / value if higher_is_better else value / best
  return max(1, 4 - round_half_up(math.log2(max(ratio, 1.0))))


def threshold_stars(value, thresholds: Sequence[float]) -> int | None:
  """1 + the number of thresholds (for 2, 3, 4 stars) that `value` reaches."""
  if value is None:
    return None
  return 1 + sum(value >= t for t in thresholds)


def round_half_up(x: float) -> int:
  return int(math.floor(x + 0.5))


def verdict(folk_cnn: int, folk_rnn: int, cnn: int | None, rnn: int | None) -> str:
  """holds / partly / breaks, from the gaps CNN - RNN in stars (see RULES)."""
  if cnn is None or rnn is None:
    return "n/a"
  folk, measured = folk_cnn - folk_rnn, cnn - rnn
  if measured * folk < 0:
    return "breaks"
  if measured == 0 or abs(measured - folk) > 1:
    return "partly"
  return "holds"


RULES = {
    "Speed": "train-step time per example, geometric mean over the lengths (each model at "
             "its fastest tested implementation); the faster of the pair gets ★★★★, the "
             "other one star less per factor 2 slower, to the nearest star (×1.41 costs one, "
             "×2.83 two, ×5.66 three)",
    "Order awareness": "accuracy on `order` (mean over seeds): ★ below 60%, ★★ from 60%, "
                       "★★★ from 75%, ★★★★ from 90%",
    "Long-term context": "per sweep, f = D / the longest distance tested, where D ends the "
                         "first unbroken run of solved distances, shortest first (solved: "
                         "accuracy ≥ {threshold:.0%}): ★★★★ f = 1, ★★★ f ≥ 1/4, ★★ f > 0, ★ none "
                         "solved; the row is the mean over sweeps, rounded half up (a sweep "
                         "that no model solves at any distance is shown but not counted)",
    "Training stability": "fraction of (seed × learning rate) `order` runs that converge "
                          "(loss always finite, final eval loss ≤ {fraction} × chance loss): "
                          "stars = 1 + ⌊3 × fraction⌋",
    "Production scalability": "mean, rounded half up, of: inference throughput at the "
                              "largest batch (fastest implementation; relative, like speed, "
                              "higher is better); growth "
                              "of the critical path with length, depth ∝ L^p: ★★★★ p < 0.1, "
                              "★★★ p < 0.5, ★★ otherwise; and, with more than one device, "
                              "data-parallel efficiency ★★★★ ≥ 0.8, ★★★ ≥ 0.6, ★★ ≥ 0.4, ★",
    "Gradient issues": "at initialisation, k = |log10(‖∂loss/∂x_t‖ far / near)| over a "
                       "length-{length} sequence (far: the farther half of the distances, "
                       "near: the nearest eighth): ★★★★ k ≤ 1, ★★★ k ≤ 2, ★★ k ≤ 4, ★ beyond",
    "Memory requirement": "compiled peak memory of a train step per example at the longest "
                          "length; the lower of the pair gets ★★★★, the other one star less "
                          "per factor 2 more, to the nearest star",
}

VERDICT_RULE = ("gap = CNN stars − RNN stars. **holds**: the measured gap has the folklore's "
                "sign and is within one star of it; **partly**: same sign but more than one "
                "star off, or a tie; **breaks**: the opposite sign (the other model is better).")


# ---------------------------------------------------------------------------------------------
# reading the records

class Records:
  """The records of one plan, with lookups by probe, model, task, setting and seed."""

  def __init__(self, cfg, records: dict[str, dict]):
    self.cfg = cfg
    self.all = records
    self.ok = {rid: r for rid, r in records.items() if "error" not in r["result"]}
    self.models = suite.resolve_models(cfg)

  def find(self, probe, model=None, task=None, seed=None, **setting) -> list[dict]:
    out = []
    for r in self.ok.values():
      if r["probe"] != probe or (model and r["model"] != model) or (task and r["task"] != task):
        continue
      if seed is not None and r["seed"] != seed:
        continue
      if any(r["setting"].get(k) != v for k, v in setting.items()):
        continue
      out.append(r)
    return sorted(out, key=lambda r: (r["seed"], sorted(r["setting"].items())))

  def order_runs(self, model, lr=None):
    lr = self.cfg.train.opt.learning_rate if lr is None else lr
    return self.find("train", model, self.cfg.order.task, lr=lr)

  @staticmethod
  def impl(record) -> str:
    """The implementation a speed/batch record timed ('' for a model's only one)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(record["setting"].items())
                     if k.endswith("_impl"))

  def speed_best(self, model, length, field="train_s_per_example"):
    runs = self.find("speed", model, self.cfg.speed.task, L=length)
    return min(runs, key=lambda r: r["result"][field]) if runs else None

  def batch_best(self, model, batch_size):
    """The batch record of the model's fastest tested implementation."""
    runs = self.find("batch", model, B=batch_size)
    return max(runs, key=lambda r: r["result"]["examples_per_s"]) if runs else None


# ---------------------------------------------------------------------------------------------
# the measured numbers of each row, per model

def speed_number(view: Records, model, field="train_s_per_example") -> Number | None:
  """Geometric mean over the lengths of a per-example time (fastest implementation)."""
  best = [view.speed_best(model, L, field) for L in view.cfg.speed.lengths]
  if not all(best):
    return None
  return traced(f"{model} {field} (geomean over L)",
                [(r["id"], f"result.{field}", r["setting"]["L"]) for r in best],
                "geomean", view.ok)


def params_number(view: Records, model) -> Number | None:
  best = view.speed_best(model, max(view.cfg.speed.lengths))
  if not best:
    return None
  return traced(f"{model} parameters", [(best["id"], "params", None)], "value", view.ok)


def order_number(view: Records, model, how="mean", path="result.accuracy") -> Number | None:
  runs = view.order_runs(model)
  if not runs:
    return None
  return traced(f"{model} order {path.split('.')[-1]} ({how} over seeds)",
                [(r["id"], path, r["seed"]) for r in runs], how, view.ok)


def sweep_sources(view: Records, model, task) -> tuple[list, list[int]]:
  """(sources of accuracy at each distance, distances tested) of a long-context sweep."""
  cfg = view.cfg
  if task == cfg.order.task:
    runs = view.order_runs(model)
    distances = list(cfg.order.eval_distances)
    return [(r["id"], f"result.by_distance.{d}", d) for r in runs for d in distances], distances
  sweep = cfg.sweeps[task]
  runs = [r for r in view.find("train", model, task) if "d" in r["setting"]
          and r["setting"]["d"] in sweep.distances]
  return [(r["id"], "result.accuracy", r["setting"]["d"]) for r in runs], list(sweep.distances)


def sweep_tasks(cfg) -> list[str]:
  """The long-context sweeps of this preset: the order evaluation, then every sweep with
  distances to train at."""
  return [cfg.order.task] + sorted(task for task, sweep in cfg.sweeps.items()
                                   if sweep.distances)


def longest_number(view: Records, model, task) -> Number | None:
  sources, _ = sweep_sources(view, model, task)
  if not sources:
    return None
  return traced(f"{model} {task} longest distance solved", sources,
                "longest_solved", view.ok, arg=view.cfg.solved_threshold)


def stability_numbers(view: Records, model) -> tuple[Number, Number] | None:
  runs = [r for lr in _learning_rates(view.cfg) for r in view.order_runs(model, lr)]
  if not runs:
    return None
  sources = [(r["id"], "result.converged", (r["setting"]["lr"], r["seed"])) for r in runs]
  return (traced(f"{model} fraction converged", sources, "fraction", view.ok),
          traced(f"{model} runs converged", sources, "count", view.ok))


def _learning_rates(cfg) -> list[float]:
  base = cfg.train.opt.learning_rate
  return [base] + [lr for lr in cfg.stability.learning_rates if lr != base]


def gradient_length(view: Records) -> int:
  return max([view.cfg.order.seq_len, *view.cfg.gradient.lengths])


def gradient_number(view: Records, model) -> Number | None:
  runs = view.find("gradient", model)
  length = gradient_length(view)
  if not runs:
    return None
  return traced(f"{model} gradient decay orders at init (L={length})",
                [(runs[0]["id"], f"result.{length}.decay_orders", None)], "value",
                view.ok)


def trained_gradient_number(view: Records, model) -> Number | None:
  runs = view.order_runs(model)
  if not runs:
    return None
  return traced(f"{model} gradient decay orders after training on order",
                [(r["id"], "result.gradient.decay_orders", r["seed"]) for r in runs],
                "mean", view.ok)


def memory_number(view: Records, model) -> Number | None:
  best = view.speed_best(model, max(view.cfg.speed.lengths), "peak_bytes_per_example")
  if not best:
    return None
  return traced(f"{model} peak bytes/example (L={best['setting']['L']})",
                [(best["id"], "result.peak_bytes_per_example", None)], "value", view.ok)


def throughput_number(view: Records, model) -> Number | None:
  B = max(view.cfg.scaling.batch_sizes)
  best = view.batch_best(model, B)
  if not best:
    return None
  return traced(f"{model} inference examples/s (B={B})",
                [(best["id"], "result.examples_per_s", None)], "value", view.ok)


def depth_number(view: Records, model) -> Number | None:
  runs = view.find("depth", model)
  lo, hi = min(view.cfg.speed.lengths), max(view.cfg.speed.lengths)
  if not runs or lo == hi:
    return None
  return traced(f"{model} critical-path exponent p (L={lo}..{hi})",
                [(runs[0]["id"], f"result.critical_path.{L}", L) for L in (lo, hi)],
                "exponent", view.ok)


def devices_number(view: Records, model) -> Number | None:
  runs = view.find("devices", model)
  if not runs:
    return None
  return traced(f"{model} data-parallel efficiency",
                [(runs[0]["id"], "result.efficiency.-1", None)], "value", view.ok)


# ---------------------------------------------------------------------------------------------
# rows

@dataclasses.dataclass
class Row:
  criterion: str
  folk_cnn: int
  folk_rnn: int
  cnn: int | None
  rnn: int | None
  numbers_text: str
  numbers: list[Number]
  verdict: str


def _fmt(value, kind: str) -> str:
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
  return f"{_fmt(a and a.value, kind)} vs {_fmt(b and b.value, kind)}"


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
  stars["Order awareness"] = {m: threshold_stars(val(num(order_number), m), (0.6, 0.75, 0.9))
                              for m in models}
  informative = _informative_sweeps(view)
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
  stars["Training stability"] = {m: (1 + math.floor(3 * stab[m][0].value + 1e-9))
                                 if stab[m] else None for m in models}
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
      for m in models}
  stars["Memory requirement"] = relative(num(memory_number))
  return stars


def _informative_sweeps(view: Records) -> list[str]:
  """Sweeps in which some model of the comparison solves some distance (all of them when
  none does: then every model gets ★)."""
  out = []
  for task in sweep_tasks(view.cfg):
    numbers = [longest_number(view, m, task) for m in view.models]
    if any(n is not None and n.value is not None for n in numbers):
      out.append(task)
  return out or sweep_tasks(view.cfg)


def verdict_rows(view: Records) -> list[Row]:
  cfg = view.cfg
  c, r = cfg.folklore.cnn, cfg.folklore.rnn
  pair = (c, r)
  stars = model_stars(view, pair)
  rows = []

  def row(criterion, text, numbers):
    folk_c, folk_r, _ = FOLKLORE[criterion]
    sc, sr = stars[criterion].get(c), stars[criterion].get(r)
    rows.append(Row(criterion, folk_c, folk_r, sc, sr, text,
                    [n for n in numbers if n is not None], verdict(folk_c, folk_r, sc, sr)))

  lengths = "/".join(str(L) for L in cfg.speed.lengths)
  sp = [speed_number(view, m) for m in pair]
  inf = [speed_number(view, m, "infer_s_per_example") for m in pair]
  par = [params_number(view, m) for m in pair]
  impls = "; ".join(f"{m} fastest: " + " / ".join(view.impl(view.speed_best(m, L))
                                                   for L in cfg.speed.lengths)
                    for m in pair if len(suite.impl_variants(cfg, m)) > 1 and all(
                        view.speed_best(m, L) for L in cfg.speed.lengths))
  row("Speed", f"train {_pair(*sp, 'us')}/example, inference {_pair(*inf, 'us')}/example "
      f"(geomean, L={lengths}); params {_pair(*par, 'k')}" + (f"; {impls}" if impls else ""),
      sp + inf + par)
  acc = [order_number(view, m) for m in pair]
  std = [order_number(view, m, "std") for m in pair]
  drop = [order_number(view, m, "mean", "result.shuffle.drop") for m in pair]
  seeds = len(cfg.seeds)
  row("Order awareness",
      f"accuracy {_fmt(acc[0] and acc[0].value, 'pct')}±{_fmt(std[0] and std[0].value, 'pct')}"
      f" vs {_fmt(acc[1] and acc[1].value, 'pct')}±{_fmt(std[1] and std[1].value, 'pct')} "
      f"({seeds} seeds); shuffle drop (window {cfg.order.shuffle_window}) "
      f"{_pair(*drop, 'pct')}", acc + std + drop)
  parts, numbers = [], []
  informative = _informative_sweeps(view)
  for task in sweep_tasks(cfg):
    longest = [longest_number(view, m, task) for m in pair]
    tested = max(sweep_sources(view, c, task)[1])
    mark = "" if task in informative or len(informative) == len(sweep_tasks(cfg)) else (
        " (unsolved by all: not counted)")
    parts.append(f"{task} {_pair(*longest, 'int')} of {tested}{mark}")
    numbers += longest
  row("Long-term context", "longest distance solved: " + "; ".join(parts), numbers)
  stab = [stability_numbers(view, m) for m in pair]
  total = [len(n[1].sources) if n else 0 for n in stab]
  row("Training stability",
      "converged " + " vs ".join(f"{_fmt(n and n[1].value, 'int')}/{t}"
                                 for n, t in zip(stab, total))
      + f" (lr {', '.join(f'{lr:g}' for lr in _learning_rates(cfg))} × {seeds} seeds)",
      [n[0] for n in stab if n] + [n[1] for n in stab if n])
  thr = [throughput_number(view, m) for m in pair]
  dep = [depth_number(view, m) for m in pair]
  dev = [devices_number(view, m) for m in pair]
  dev_text = (f"; data-parallel efficiency {_pair(*dev, '')}" if any(dev) else
              "; data parallel: 1 device present, not measured")
  row("Production scalability",
      f"inference {_pair(*thr, 'k')} examples/s at B={max(cfg.scaling.batch_sizes)}; "
      f"critical path ∝ L^p, p {_pair(*dep, '')}" + dev_text, thr + dep + dev)
  gi = [gradient_number(view, m) for m in pair]
  gt = [trained_gradient_number(view, m) for m in pair]
  row("Gradient issues",
      f"log10(far/near gradient) at init, L={gradient_length(view)}: {_pair(*gi, '')}; after "
      f"training on order (L={cfg.order.seq_len}): {_pair(*gt, '')}", gi + gt)
  mem = [memory_number(view, m) for m in pair]
  row("Memory requirement", f"train-step peak {_pair(*mem, 'kb')}/example at "
      f"L={max(cfg.speed.lengths)}", mem)
  return rows


# ---------------------------------------------------------------------------------------------
# the document: blocks rendered to Markdown and HTML

@dataclasses.dataclass
class Report:
  title: str
  blocks: list[tuple]           # ('h2', text) | ('p', text) | ('table', header, rows)
                                # | ('img', filename, caption)
  rows: list[Row]
  images: dict[str, bytes]      # filename -> PNG bytes


def star_text(n: int | None) -> str:
  return "n/a" if n is None else "★" * n + "☆" * (4 - n)


def verdict_table(rows: list[Row], cnn: str, rnn: str) -> tuple[list[str], list[list[str]]]:
  header = ["criterion", "folklore CNN", f"measured CNN ({cnn})", "folklore RNN",
            f"measured RNN ({rnn})", f"numbers ({cnn} vs {rnn})", "verdict"]
  body = [[r.criterion, star_text(r.folk_cnn), star_text(r.cnn), star_text(r.folk_rnn),
           star_text(r.rnn), r.numbers_text, f"**{r.verdict}**"] for r in rows]
  return header, body


def markdown_table(header, rows) -> str:
  esc = lambda s: str(s).replace("|", "\\|")
  lines = ["| " + " | ".join(esc(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def to_markdown(report: Report) -> str:
  out = [f"# {report.title}"]
  for block in report.blocks:
    if block[0] == "h2":
      out.append(f"## {block[1]}")
    elif block[0] == "p":
      out.append(block[1])
    elif block[0] == "table":
      out.append(markdown_table(block[1], block[2]))
    elif block[0] == "img":
      out.append(f"![{block[2]}]({block[1]})\n\n*{block[2]}*")
  return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
  text = html.escape(str(text))
  parts = text.split("**")
  text = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
  parts = text.split("`")
  return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def to_html(report: Report) -> str:
  css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
         "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}"
         "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f3f3f3}"
         "img{max-width:100%}code{background:#f3f3f3;padding:0 3px}.cap{color:#555}")
  out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}"
         f"</title><style>{css}</style></head><body><h1>{html.escape(report.title)}</h1>"]
  for block in report.blocks:
    if block[0] == "h2":
      out.append(f"<h2>{_inline_html(block[1])}</h2>")
    elif block[0] == "p":
      items = []
      for line in block[1].split("\n") + [""]:
        if line.startswith("- "):
          items.append(f"<li>{_inline_html(line[2:])}</li>")
          continue
        if items:
          out.append("<ul>" + "".join(items) + "</ul>")
          items = []
        if line:
          out.append(f"<p>{_inline_html(line)}</p>")
    elif block[0] == "table":
      head = "".join(f"<th>{_inline_html(h)}</th>" for h in block[1])
      body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                     for row in block[2])
      out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    elif block[0] == "img":
      data = base64.b64encode(report.images[block[1]]).decode()
      out.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(block[2])}'>"
                 f"<figcaption class='cap'>{html.escape(block[2])}</figcaption></figure>")
  out.append("</body></html>")
  return "\n".join(out)


def verdict_text(report: Report) -> str:
  for block in report.blocks:
    if block[0] == "table" and block[1] and block[1][0] == "criterion":
      return markdown_table(block[1], block[2])
  return ""


def write(report: Report, workdir: str) -> dict[str, str]:
  paths = {"md": os.path.join(workdir, "report.md"), "html": os.path.join(workdir, "report.html")}
  for name, data in report.images.items():
    with open(os.path.join(workdir, name), "wb") as f:
      f.write(data)
  with open(paths["md"], "w") as f:
    f.write(to_markdown(report))
  with open(paths["html"], "w") as f:
    f.write(to_html(report))
  return paths


# ---------------------------------------------------------------------------------------------
# plots

def _png(fig) -> bytes:
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
  import matplotlib.pyplot as plt
  plt.close(fig)
  return buf.getvalue()


def _figure(ncols: int, width: float = 5.0):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
  return fig, list(axes[0])


def _style(model: str, models: list[str]) -> dict:
  import matplotlib.pyplot as plt
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  return {"color": colors[models.index(model) % len(colors)], "marker": "o", "markersize": 3}


def plot_speed(view: Records) -> bytes | None:
  fig, axes = _figure(3)
  drawn = False
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    impls = sorted({view.impl(r) for r in runs})
    for n, impl in enumerate(impls):
      sel = sorted([r for r in runs if view.impl(r) == impl], key=lambda r: r["setting"]["L"])
      label = model + (f" ({impl})" if impl else "")
      style = {**_style(model, view.models), "linestyle": ("-", "--", ":", "-.")[n % 4]}
      L = [r["setting"]["L"] for r in sel]
      for ax, field in zip(axes, ("train_s_per_example", "infer_s_per_example",
                                  "train_compile_s")):
        scale = 1e6 if field.endswith("example") else 1.0
        ax.plot(L, [r["result"][field] * scale for r in sel], label=label, **style)
      drawn = True
  if not drawn:
    return None
  for ax, title in zip(axes, ("train step, µs per example", "inference, µs per example",
                              "train-step compile, s")):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=7)
  return _png(fig)


def plot_memory(view: Records) -> bytes | None:
  fig, axes = _figure(1, 6)
  ax = axes[0]
  drawn = False
  for model in view.models:
    points = [(L, view.speed_best(model, L, "peak_bytes_per_example")) for L in
              view.cfg.speed.lengths]
    points = [(L, r["result"]["peak_bytes_per_example"] / 1024) for L, r in points if r]
    if points:
      ax.plot(*zip(*points), label=model, **_style(model, view.models))
      drawn = True
  if not drawn:
    return None
  ax.set_xscale("log", base=2)
  ax.set_yscale("log")
  ax.set_xlabel("sequence length L")
  ax.set_title("train-step peak memory, KB per example")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  return _png(fig)


def plot_distance(view: Records) -> bytes | None:
  task_list = sweep_tasks(view.cfg)
  fig, axes = _figure(len(task_list), 4.5)
  drawn = False
  for ax, task in zip(axes, task_list):
    for model in view.models:
      sources, _ = sweep_sources(view, model, task)
      by_d: dict[int, list[float]] = {}
      for rid, path, d in sources:
        by_d.setdefault(d, []).append(get_path(view.ok[rid], path))
      if by_d:
        ds = sorted(by_d)
        ax.plot(ds, [np.mean(by_d[d]) for d in ds], label=model, **_style(model, view.models))
        drawn = True
    ax.axhline(view.cfg.solved_threshold, color="gray", linestyle=":", linewidth=1)
    ax.set_title(f"{task}: accuracy vs distance")
    ax.set_xlabel("dependency distance")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
  if not drawn:
    return None
  axes[0].legend(fontsize=7)
  return _png(fig)


def plot_gradients(view: Records) -> bytes | None:
  panels = [(f"at initialisation, L={L}", "gradient", str(L))
            for L in sorted({view.cfg.order.seq_len, *view.cfg.gradient.lengths})]
  panels.append((f"after training on order, L={view.cfg.order.seq_len}", "train", None))
  fig, axes = _figure(len(panels), 4.5)
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
      ax.plot(d[shown], norm[shown] / max(near, 1e-30), label=model,
              **{**_style(model, view.models), "markersize": 0})
      drawn = True
    ax.set_yscale("log")
    ax.set_xlabel("distance from the output (steps)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
  if not drawn:
    return None
  axes[0].set_ylabel("‖∂loss/∂x_t‖ relative to the nearest steps")
  axes[0].legend(fontsize=7)
  return _png(fig)


def plot_scaling(view: Records) -> bytes | None:
  fig, axes = _figure(2)
  drawn = False
  for model in view.models:
    runs = [view.batch_best(model, B) for B in sorted(view.cfg.scaling.batch_sizes)]
    runs = [r for r in runs if r]
    if runs:
      axes[0].plot([r["setting"]["B"] for r in runs], [r["result"]["examples_per_s"]
                                                        for r in runs],
                   label=model, **_style(model, view.models))
      drawn = True
    depth = view.find("depth", model)
    if depth:
      cp = depth[0]["result"]["critical_path"]
      Ls = sorted(int(L) for L in cp)
      axes[1].plot(Ls, [cp[str(L)] for L in Ls], label=model, **_style(model, view.models))
      drawn = True
  if not drawn:
    return None
  axes[0].set_title(f"inference throughput, examples/s (L={view.cfg.scaling.seq_len}, "
                    "fastest implementation)")
  axes[0].set_xlabel("batch size")
  axes[1].set_title("critical path of the forward pass (dependent ops)")
  axes[1].set_xlabel("sequence length L")
  for ax in axes:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=7)
  return _png(fig)


# ---------------------------------------------------------------------------------------------
# detail tables

def _mean_std(values: list[float], kind="pct") -> str:
  if not values:
    return "—"
  if len(values) == 1:
    return _fmt(values[0], kind)
  return f"{_fmt(float(np.mean(values)), kind)} ± {_fmt(float(np.std(values)), kind)}"


def speed_table(view: Records):
  Ls = list(view.cfg.speed.lengths)
  header = (["model", "impl", "params"] + [f"train µs/ex L={L}" for L in Ls]
            + [f"infer µs/ex L={L}" for L in Ls] + [f"compile s L={Ls[-1]} (train/infer)"])
  rows = []
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    for impl in sorted({view.impl(r) for r in runs}):
      at = {r["setting"]["L"]: r for r in runs if view.impl(r) == impl}
      last = at.get(Ls[-1])
      rows.append([model, impl or "-", _fmt(last and last["params"], "k")]
                  + [_fmt(at[L]["result"]["train_s_per_example"] * 1e6, "") if L in at else "—"
                     for L in Ls]
                  + [_fmt(at[L]["result"]["infer_s_per_example"] * 1e6, "") if L in at else "—"
                     for L in Ls]
                  + [f"{last['result']['train_compile_s']:.2f} / "
                     f"{last['result']['infer_compile_s']:.2f}" if last else "—"])
  return header, rows


def memory_table(view: Records):
  Ls = list(view.cfg.speed.lengths)
  header = ["model", "impl"] + [f"peak KB/ex L={L}" for L in Ls] + [f"temp KB/ex L={Ls[-1]}",
                                                                    "arguments KB"]
  rows = []
  for model in view.models:
    runs = view.find("speed", model, view.cfg.speed.task)
    for impl in sorted({view.impl(r) for r in runs}):
      at = {r["setting"]["L"]: r["result"] for r in runs if view.impl(r) == impl}
      last = at.get(Ls[-1], {})
      rows.append([model, impl or "-"]
                  + [f"{at[L]['peak_bytes_per_example'] / 1024:.1f}" if L in at and
                     "peak_bytes_per_example" in at[L] else "—" for L in Ls]
                  + [f"{last['temp_bytes_per_example'] / 1024:.1f}" if last else "—",
                     f"{last['argument_bytes'] / 1024:.0f}" if last else "—"])
  return header, rows


def order_table(view: Records):
  header = ["model", "params", "accuracy", f"shuffled (window {view.cfg.order.shuffle_window})",
            "drop", "seeds"]
  rows = []
  for model in view.models:
    runs = view.order_runs(model)
    if runs:
      get = lambda path: [get_path(r, path) for r in runs]
      rows.append([model, _fmt(runs[0]["params"], "k"), _mean_std(get("result.accuracy")),
                   _mean_std(get("result.shuffle.shuffled_accuracy")),
                   _mean_std(get("result.shuffle.drop")), str(len(runs))])
  return header, rows


def distance_table(view: Records, task: str):
  _, distances = sweep_sources(view, view.models[0], task)
  header = ["model"] + [f"d={d}" for d in distances] + ["longest solved"]
  rows = []
  for model in view.models:
    sources, _ = sweep_sources(view, model, task)
    if not sources:
      continue
    by_d: dict[int, list[float]] = {}
    for rid, path, d in sources:
      by_d.setdefault(d, []).append(get_path(view.ok[rid], path))
    longest = longest_number(view, model, task)
    rows.append([model] + [_mean_std(by_d.get(d, [])) for d in distances]
                + [_fmt(longest and longest.value, "int")])
  return header, rows


def gradient_table(view: Records):
  lengths = sorted({view.cfg.order.seq_len, *view.cfg.gradient.lengths})
  header = (["model"] + [f"init, L={L}" for L in lengths]
            + [f"trained on order, L={view.cfg.order.seq_len}"])
  rows = []
  for model in view.models:
    init = view.find("gradient", model)
    trained = trained_gradient_number(view, model)
    rows.append([model] + [f"{init[0]['result'][str(L)]['decay_orders']:+.2f}" if init else "—"
                           for L in lengths]
                + [f"{trained.value:+.2f}" if trained else "—"])
  return header, rows


def stability_table(view: Records):
  lrs = _learning_rates(view.cfg)
  header = ["model"] + [f"lr={lr:g}: converged (final loss)" for lr in lrs] + ["fraction"]
  rows = []
  for model in view.models:
    cells = []
    for lr in lrs:
      runs = view.order_runs(model, lr)
      cells.append(", ".join(
          ("✓" if r["result"]["converged"] else "✗") + (
              " diverged" if r["result"].get("diverged") else
              f" ({r['result']['eval']['loss']:.3f})") for r in runs) or "—")
    numbers = stability_numbers(view, model)
    rows.append([model] + cells + [_fmt(numbers and numbers[0].value, "")])
  return header, rows


def scaling_table(view: Records):
  Bs = list(view.cfg.scaling.batch_sizes)
  Ls = list(view.cfg.speed.lengths)
  header = (["model"] + [f"examples/s B={B}" for B in Bs]
            + [f"critical path L={L}" for L in Ls] + ["p (depth ∝ L^p)", "data parallel"])
  rows = []
  for model in view.models:
    by_b = {B: view.batch_best(model, B)["result"]["examples_per_s"]
            for B in Bs if view.batch_best(model, B)}
    depth = view.find("depth", model)
    cp = depth[0]["result"]["critical_path"] if depth else {}
    p = depth_number(view, model)
    dev = view.find("devices", model)
    dev_text = ("; ".join(f"{n} dev: {e:.2f}" for n, e in zip(dev[0]["result"]["devices"],
                                                            dev[0]["result"]["efficiency"]))
                if dev else "1 device present")
    rows.append([model] + [f"{by_b[B]:,.0f}" if B in by_b else "—" for B in Bs]
                + [str(cp.get(str(L), "—")) for L in Ls]
                + [f"{p.value:.2f}" if p else "—", dev_text])
  return header, rows


def stars_table(view: Records, stars):
  header = ["criterion"] + view.models
  return header, [[crit] + [star_text(stars[crit].get(m)) for m in view.models]
                  for crit in FOLKLORE]


def benchmark_table(view: Records):
  header = ["task"] + view.models
  rows = []
  for task in suite.names_of(view.cfg.benchmarks):
    cells = []
    for model in view.models:
      runs = [r for r in view.find("train", model, task) if not r["setting"]]
      metric = "accuracy" if runs and "accuracy" in runs[0]["result"] else None
      values = [r["result"][metric] if metric else r["result"]["eval"].get("loss")
                for r in runs]
      cells.append(_mean_std(values, "pct" if metric else ""))
    rows.append([task] + cells)
  return header, rows


# ---------------------------------------------------------------------------------------------
# the whole report

def _machine(view: Records) -> str:
  devices = sorted({r["device"] for r in view.all.values()}) or ["?"]
  return (f"{platform.machine()} host, {os.cpu_count()} CPU cores visible, JAX devices "
          f"{', '.join(devices)}; records from jax "
          f"{', '.join(sorted({r['jax'] for r in view.all.values()}))}")


def build(cfg, records: dict[str, dict], command: str = "") -> Report:
  view = Records(cfg, records)
  c, r = cfg.folklore.cnn, cfg.folklore.rnn
  rows = verdict_rows(view)
  stars = model_stars(view, (c, r))
  images: dict[str, bytes] = {}
  blocks: list[tuple] = []

  def image(name, data, caption):
    if data is not None:
      images[name] = data
      blocks.append(("img", name, caption))

  seconds = sum(rec["seconds"] for rec in records.values())
  blocks.append(("p", f"Preset `{cfg.preset}`, {len(records)} records "
                      f"(`records.jsonl`, {seconds / 60:.1f} min of measuring in total), "
                      f"every model sized to about {cfg.param_budget:,} parameters. "
                      f"Machine: {_machine(view)}. Written "
                      f"{datetime.datetime.now().isoformat(timespec='seconds')}."
                      + (f" Command: `{command}`." if command else "")))
  blocks.append(("h2", "The verdict"))
  blocks.append(("table", *verdict_table(rows, c, r)))
  rules = [f"- **{name}**: {text}".format(threshold=cfg.solved_threshold,
                                          fraction=cfg.stability.loss_fraction,
                                          length=gradient_length(view))
           for name, text in RULES.items()]
  blocks.append(("p", "How numbers become stars (the folklore's CNN column is "
                      f"`{c}`, its RNN column `{r}`; the folklore states gradient issues and "
                      "memory in words, which we read as ★★★★ for the favourable word and ★★ "
                      "for the other):\n" + "\n".join(rules) + "\n\nVerdict: " + VERDICT_RULE))
  blocks.append(("h2", "Every model, by the same rules"))
  blocks.append(("p", "Relative rules (speed, memory, throughput) compare each model with the "
                      f"better of `{c}` and `{r}`; a model better than both gets ★★★★."))
  blocks.append(("table", *stars_table(view, stars)))

  blocks.append(("h2", "Speed"))
  blocks.append(("p", f"Train step (forward, backward, AdamW update) and inference, time per "
                      f"example after compilation (median of {cfg.speed.repeats} calls, batch "
                      f"{cfg.speed.batch_size}, task `{cfg.speed.task}`); compile time apart. "
                      "Models with several tested implementations are timed with each "
                      "(`conv_impl`: `vmap` = jax.vmap over positions, `vmap_shifted` = one "
                      "shifted matmul per tap, `xla` = lax.conv_general_dilated; `rnn_impl`: "
                      "`scan` = the didactic lax.scan, `fused` = the fused scan); the verdict "
                      "uses the fastest at each length. The machine may be shared: compare "
                      "ratios within one run."))
  blocks.append(("table", *speed_table(view)))
  image("speed.png", plot_speed(view), "Time per example against sequence length (log-log); "
        "one line style per implementation")

  blocks.append(("h2", "Memory"))
  blocks.append(("p", "XLA's compiled memory analysis of one train step "
                      "(`jit(...).lower(...).compile().memory_analysis()`): peak = arguments + "
                      "outputs + temporaries − donated, per example of the batch."))
  blocks.append(("table", *memory_table(view)))
  image("memory.png", plot_memory(view), "Train-step peak memory per example against length")

  blocks.append(("h2", "Order awareness"))
  blocks.append(("p", f"Accuracy on `{cfg.order.task}` (does A come before B?, "
                      f"L={cfg.order.seq_len}), and on the same eval set with its tokens cut "
                      f"into blocks of {cfg.order.shuffle_window} and the blocks shuffled, scored "
                      "against the original labels. A model that reads only local windows "
                      "keeps its accuracy; an order-blind bag keeps it exactly."))
  blocks.append(("table", *order_table(view)))

  blocks.append(("h2", "Long-term context"))
  blocks.append(("p", f"Accuracy against dependency distance; solved = accuracy ≥ "
                      f"{cfg.solved_threshold:.0%}. `{cfg.order.task}`: the models trained on "
                      "random distances, evaluated at each fixed distance. Other sweeps: one "
                      "training run per distance (copy_memory is scored on the recalled digits; "
                      "chance is 1/8). Longest solved: the end of the first unbroken run of "
                      "solved distances. A U-shaped curve (short and the longest distances "
                      "solved, not those between) is a model reading where the sequence starts "
                      "and ends, since a long fixed distance in a short sequence puts the "
                      "markers at its edges: that is not long-term context, and it does not "
                      "count."))
  for task in sweep_tasks(cfg):
    blocks.append(("p", f"**{task}**"))
    blocks.append(("table", *distance_table(view, task)))
  off = sorted(task for task, sweep in cfg.sweeps.items() if not sweep.distances)
  if off:
    blocks.append(("p", f"Not swept in this preset (no distances configured): "
                        f"{', '.join(off)}."))
  image("distance.png", plot_distance(view), "Accuracy against dependency distance (dotted: the "
        "solved threshold)")

  blocks.append(("h2", "Gradient behaviour"))
  blocks.append(("p", "log10 of the mean ‖∂loss/∂x_t‖ over the farther half of the distances "
                      "from the output over that of the nearest eighth (x_t: the encoder's "
                      "input at step t): about −k when the gradient vanishes by 10^k, above 0 "
                      "when it grows."))
  blocks.append(("table", *gradient_table(view)))
  image("gradients.png", plot_gradients(view), "Gradient norm against distance from the output, "
        "relative to the nearest steps (log scale)")

  blocks.append(("h2", "Training stability"))
  blocks.append(("p", f"Every (learning rate × seed) run on `{cfg.order.task}`; ✓ = converged "
                      f"(final eval loss ≤ {cfg.stability.loss_fraction} × chance loss, never "
                      "non-finite)."))
  blocks.append(("table", *stability_table(view)))

  blocks.append(("h2", "Scalability"))
  blocks.append(("p", "Inference throughput against batch size (convolutional models: the "
                      "faster implementation at each size); the critical path: the longest "
                      "chain of dependent operations in the forward pass's jaxpr (a scan "
                      "counts its length times its body), i.e. the time with unlimited "
                      "parallel hardware; data-parallel scaling over the devices present "
                      "(batch sharded with jax.sharding, per-device batch fixed)."))
  blocks.append(("table", *scaling_table(view)))
  image("scaling.png", plot_scaling(view), "Throughput against batch size; critical path "
        "against length")

  benchmarks = suite.names_of(cfg.benchmarks)
  registered = [t for t in benchmarks if any(rec["task"] == t for rec in records.values())]
  skipped = [t for t in benchmarks if t not in registered]
  if benchmarks:
    blocks.append(("h2", "Benchmarks"))
    blocks.append(("table", *benchmark_table(view)))
    if skipped:
      blocks.append(("p", f"Not registered here, skipped: {', '.join(skipped)}."))

  errors = [rec for rec in records.values() if "error" in rec["result"]]
  if errors:
    blocks.append(("h2", "Jobs that could not run"))
    blocks.append(("table", ["record", "error"], [[e["id"], e["result"]["error"]]
                                                 for e in errors]))

  blocks.append(("h2", "Where each verdict number comes from"))
  trace_rows = []
  for row in rows:
    for n in row.numbers:
      trace_rows.append([row.criterion, n.label, _trace_value(n.value), n.how,
                         "; ".join(f"`{rid}` {path}" for rid, path, _ in n.sources)
                         if len(n.sources) <= 6 else
                         f"{len(n.sources)} fields of " + ", ".join(
                             f"`{rid}`" for rid in dict.fromkeys(s[0] for s in n.sources))])
  blocks.append(("table", ["row", "number", "value", "how", "records (id, field)"], trace_rows))
  return Report("CNN vs RNN: the folklore table, measured", blocks, rows, images)


def _trace_value(value) -> str:
  if value is None:
    return "none"
  if isinstance(value, float):
    return f"{value:.6g}"
  return str(value)
