"""The real preset's report (suite/real.py): one verdict table per real dataset.

The rows whose measurement carries over from the synthetic suite use its rules unchanged:
Speed and Memory (at the data's shapes), Gradient issues (on real inputs) and Training
stability (the same grid). Order awareness and Long-term context have no dependency distance
on real data; `REAL_RULES` says what stands in for it. Production scalability is not measured
here. With cfg.real.compare_with (a default-preset workdir) the synthetic verdict is printed
beside the real ones and the rows where they disagree are named.
"""

from __future__ import annotations

import math

import numpy as np

from cnnrnn_jax import suite
from cnnrnn_jax.plotting import model_style, png_bytes, row_of_axes
from cnnrnn_jax.report.records import Records, get_path
from cnnrnn_jax.report.rows import Row, fmt, pair_row, verdict_rows, verdict_table
from cnnrnn_jax.report.rules import (
  FOLKLORE,
  RULES,
  VERDICT_RULE,
  Number,
  relative_stars,
  star_text,
  threshold_stars,
  traced,
)
from cnnrnn_jax.report.tables import Table

TITLE = "CNN vs RNN: the verdict on real data"

REAL_RULES = {  # criterion -> the rule on real data (the others: rules.RULES unchanged)
  "Speed": "as in the synthetic suite, at the data's shapes (one length: its first batch)",
  "Order awareness": (
    "o = the share of the model's accuracy above chance that is lost when the steps of each "
    "input are shuffled as a whole (mean over seeds): ★ o < 0.1, ★★ from 0.1, ★★★ from 0.25, "
    "★★★★ from 0.5. A model that ignores order (the bag) has o = 0"
  ),
  "Long-term context": (
    "the error rate on the longest quarter of the eval inputs (mean over seeds; at least one "
    "input of that quarter): the lower of the pair gets ★★★★, the other one star less per "
    "factor 2 more; n/a on data of one length"
  ),
  "Training stability": "as in the synthetic suite, the grid at the data's shapes, converged "
  "meaning final eval loss ≤ the dataset's converge_fraction × chance loss",
  "Production scalability": "not measured on real data (n/a)",
  "Gradient issues": "as in the synthetic suite, over the data's own eval inputs",
  "Memory requirement": "as in the synthetic suite, at the data's shapes",
}


def datasets(view: Records) -> list[str]:
  return suite.real.dataset_names(view.cfg)


def _runs(view: Records, probe: str, model: str, name: str, **setting) -> list[dict]:
  return view.find(probe, model, data=name, **setting)


# ---------------------------------------------------------------------------------------------
# the measured numbers, per model and dataset


def accuracy_number(view: Records, model: str, name: str) -> Number | None:
  runs = _runs(view, "train", model, name)
  if not runs:
    return None
  sources = [(r["id"], "result.accuracy", r["seed"]) for r in runs]
  return traced(f"{model} {name} accuracy (mean over seeds)", sources, "mean", view.ok)


def _timing(view: Records, model: str, name: str, field: str) -> dict | None:
  runs = [r for r in _runs(view, "speed", model, name) if field in r["result"]]
  return min(runs, key=lambda r: r["result"][field]) if runs else None


def timing_number(view: Records, model: str, name: str, field="train_s_per_example"):
  """A per-example time (fastest implementation) or peak memory (leanest) at the data's shape."""
  best = _timing(view, model, name, field)
  if not best:
    return None
  L = best["result"].get("seq_len")
  return traced(
    f"{model} {name} {field} (L={L})", [(best["id"], f"result.{field}", None)], "value", view.ok
  )


def order_number(view: Records, model: str, name: str) -> Number | None:
  """The share of accuracy above chance lost under a whole-input shuffle, mean over seeds."""
  path = "result.shuffle_within.0.drop_of_learnt"
  runs = [r for r in _runs(view, "train", model, name) if _get(r, path) is not None]
  if not runs:
    return None
  sources = [(r["id"], path, r["seed"]) for r in runs]
  return traced(
    f"{model} {name} share of learnt accuracy lost, whole shuffle", sources, "mean", view.ok
  )


def long_number(view: Records, model: str, name: str) -> Number | None:
  """Accuracy on the longest length group, mean over seeds (None: one length only)."""
  runs = [
    r
    for r in _runs(view, "train", model, name)
    if len(_get(r, "result.by_length.accuracy") or []) > 1
  ]
  if not runs:
    return None
  sources = [(r["id"], "result.by_length.accuracy.-1", r["seed"]) for r in runs]
  return traced(f"{model} {name} accuracy on the longest inputs", sources, "mean", view.ok)


def gradient_number(view: Records, model: str, name: str) -> Number | None:
  runs = _runs(view, "gradient", model, name)
  if not runs:
    return None
  return traced(
    f"{model} {name} gradient decay orders at init",
    [(runs[0]["id"], "result.data.decay_orders", None)],
    "value",
    view.ok,
  )


def stability_number(view: Records, model: str, name: str, clipped=False) -> Number | None:
  runs = [r for r in _runs(view, "stability", model, name) if bool(r["setting"]["clip"]) == clipped]
  if not runs:
    return None
  sources = [(r["id"], "result.converged", (r["setting"]["opt"], r["setting"]["lr"])) for r in runs]
  which = "clipped" if clipped else "unclipped"
  return traced(f"{model} {name} fraction of {which} runs converged", sources, "fraction", view.ok)


def _get(record: dict, path: str):
  """records.get_path, None where the record lacks the field (older or partial results)."""
  try:
    return get_path(record, path)
  except (KeyError, IndexError, TypeError):
    return None


# ---------------------------------------------------------------------------------------------
# stars and rows


def _error_floor(view: Records, name: str) -> float:
  """One example of the longest length group as an error rate: a lower error counts as that
  (no errors in 75 inputs is not infinitely better than one or two)."""
  counts = [
    _get(r, "result.by_length.count") for m in view.models for r in _runs(view, "train", m, name)
  ]
  return 1.0 / min((c[-1] for c in counts if c), default=1)


def real_stars(view: Records, name: str) -> dict[str, dict[str, int | None]]:
  """criterion -> model -> stars on dataset `name` (relative rules: to the folklore pair)."""
  models, pair = view.models, view.pair

  def values(fn, transform=lambda v: v):
    out = {}
    for m in models:
      number = fn(view, m, name)
      out[m] = None if number is None or number.value is None else transform(number.value)
    return out

  def relative(vals, higher=False):
    ref = [vals[m] for m in pair if vals.get(m) is not None]
    best = (max(ref) if higher else min(ref)) if len(ref) == len(pair) else None
    return {m: relative_stars(vals[m], best, higher) for m in models}

  order, grad, stab = values(order_number), values(gradient_number), values(stability_number)
  floor = _error_floor(view, name)
  return {
    "Speed": relative(values(timing_number)),
    "Order awareness": {m: threshold_stars(order[m], (0.1, 0.25, 0.5)) for m in models},
    "Long-term context": relative(values(long_number, lambda acc: max(1.0 - acc, floor))),
    "Training stability": {
      m: None if stab[m] is None else 1 + math.floor(3 * stab[m] + 1e-9) for m in models
    },
    "Production scalability": {m: None for m in models},
    "Gradient issues": {
      m: None if grad[m] is None else threshold_stars(-abs(grad[m]), (-4, -2, -1)) for m in models
    },
    "Memory requirement": relative(
      values(lambda v, m, n: timing_number(v, m, n, "peak_bytes_per_example"))
    ),
  }


def real_rows(view: Records, name: str) -> list[Row]:
  """The verdict rows of dataset `name`: the pair's stars, the numbers behind them, the verdict."""
  pair = view.pair
  stars = real_stars(view, name)

  def numbers(fn, *args):
    return [fn(view, m, name, *args) for m in pair]

  def text(ns, kind):
    return " vs ".join(fmt(n and n.value, kind) for n in ns)

  train, infer = numbers(timing_number), numbers(timing_number, "infer_s_per_example")
  memory = numbers(timing_number, "peak_bytes_per_example")
  order, long, grad = numbers(order_number), numbers(long_number), numbers(gradient_number)
  stab, clipped = numbers(stability_number), numbers(stability_number, True)
  acc = numbers(accuracy_number)
  timed = _timing(view, pair[0], name, "train_s_per_example")
  shape = f" at L={timed['result'].get('seq_len')}" if timed else ""
  texts = {
    "Speed": (
      f"train {text(train, 'us')}/example, inference {text(infer, 'us')}/example{shape}",
      train + infer,
    ),
    "Order awareness": (
      f"share of learnt accuracy lost, whole-input shuffle {text(order, '')}; "
      f"accuracy {text(acc, 'pct')}",
      order + acc,
    ),
    "Long-term context": (
      f"accuracy on the longest quarter of inputs {text(long, 'pct')}"
      if any(long)
      else "one input length: not measurable",
      long,
    ),
    "Training stability": (
      f"fraction converged without clipping {text(stab, '')}, with clipping {text(clipped, '')}",
      stab + clipped,
    ),
    "Production scalability": ("not measured on real data", []),
    "Gradient issues": (f"log10(far/near gradient) at init {text(grad, '')}", grad),
    "Memory requirement": (f"train-step peak {text(memory, 'kb')}/example{shape}", memory),
  }
  return [pair_row(criterion, stars, pair, *texts[criterion]) for criterion in FOLKLORE]


def synthetic_rows(view: Records) -> list[Row] | None:
  """The verdict rows of the default-preset run in cfg.real.compare_with (None: not given)."""
  path = view.cfg.real.get("compare_with")
  if not path:
    return None
  from cnnrnn_jax.configs import compare  # here: configs import the package

  return verdict_rows(Records(compare.get_config("default"), suite.load_records(path)))


def _cell(row: Row) -> str:
  return f"{star_text(row.cnn)} vs {star_text(row.rnn)} **{row.verdict}**"


def summary_table(view: Records) -> Table:
  """Per criterion: the folklore, the synthetic verdict (when given) and each dataset's."""
  synthetic = synthetic_rows(view)
  per_set = {name: real_rows(view, name) for name in datasets(view)}
  c, r = view.pair
  header = (
    ["criterion", f"folklore ({c} vs {r})"] + (["synthetic"] if synthetic else []) + list(per_set)
  )
  body = []
  for i, (criterion, (folk_c, folk_r, _)) in enumerate(FOLKLORE.items()):
    line = [criterion, f"{star_text(folk_c)} vs {star_text(folk_r)}"]
    line += [_cell(synthetic[i])] if synthetic else []
    body.append(line + [_cell(rows[i]) for rows in per_set.values()])
  return header, body


def disagreements(view: Records) -> str:
  """Where a dataset's verdict differs from the synthetic one (or, without it, from the other
  datasets')."""
  synthetic = synthetic_rows(view)
  per_set = {name: real_rows(view, name) for name in datasets(view)}
  lines = []
  for i, criterion in enumerate(FOLKLORE):
    verdicts = {name: rows[i].verdict for name, rows in per_set.items()}
    if synthetic:
      base = synthetic[i].verdict
      differ = {n: v for n, v in verdicts.items() if v != base and v != "n/a" and base != "n/a"}
      if differ:
        lines.append(
          f"{criterion}: synthetic **{base}**, "
          + ", ".join(f"{n} **{v}**" for n, v in differ.items())
        )
    elif len(set(verdicts.values()) - {"n/a"}) > 1:
      lines.append(f"{criterion}: " + ", ".join(f"{n} **{v}**" for n, v in verdicts.items()))
  against = (
    "the synthetic verdict"
    if synthetic
    else "each other (no synthetic run given: set real.compare_with)"
  )
  if not lines:
    return f"The datasets agree with {against} on every row measured on both."
  return f"Where the datasets disagree with {against}: " + "; ".join(lines) + "."


def rules_text(view: Records) -> str:
  c, r = view.pair
  rules = [f"- **{name}**: {REAL_RULES[name]}" for name in RULES]
  return (
    f"How numbers become stars on real data (the folklore's CNN column is `{c}`, its RNN column "
    f"`{r}`):\n" + "\n".join(rules) + "\n\nVerdict: " + VERDICT_RULE
  )


# ---------------------------------------------------------------------------------------------
# detail tables and the figure


def dataset_table(view: Records, name: str) -> Table:
  """The full verdict table of one dataset."""
  return verdict_table(real_rows(view, name), *view.pair)


def _mean_std(values: list[float]) -> str:
  """Accuracies as 'mean ± sample std' in percent, one decimal."""
  if not values:
    return "—"
  if len(values) == 1:
    return f"{100 * values[0]:.1f}%"
  return f"{100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f}%"


def accuracy_table(view: Records) -> Table:
  """Accuracy per model and dataset, mean ± sample std over seeds, with parameter counts."""
  names = datasets(view)
  header = ["model"] + [f"{n} accuracy" for n in names] + [f"{n} params" for n in names]
  rows = []
  for m in view.models:
    runs = {n: _runs(view, "train", m, n) for n in names}
    acc = [_mean_std([r["result"]["accuracy"] for r in runs[n]]) for n in names]
    params = [fmt(runs[n][0]["params"], "k") if runs[n] else "—" for n in names]
    rows.append([m] + acc + params)
  return header, rows


def order_table(view: Records, name: str) -> Table:
  """Accuracy with the steps shuffled inside blocks of each window, mean over seeds."""
  windows = list(view.cfg.real.shuffle_windows)
  label = lambda w: "whole" if w == 0 else f"w={w}"
  header = ["model", "accuracy"] + [f"shuffled {label(w)}" for w in windows] + ["share lost, whole"]
  rows = []
  for m in view.models:
    runs = _runs(view, "train", m, name)
    cells = [_mean_std([r["result"]["accuracy"] for r in runs])]
    for w in windows:
      cells.append(
        _mean_std(
          [
            _get(r, f"result.shuffle_within.{w}.accuracy")
            for r in runs
            if _get(r, f"result.shuffle_within.{w}.accuracy") is not None
          ]
        )
      )
    share = order_number(view, m, name)
    rows.append([m] + cells + [fmt(share and share.value, "")])
  return header, rows


def length_table(view: Records, name: str) -> Table:
  """Accuracy per input-length group (the first seed's groups), mean over seeds."""
  first = next((r for m in view.models for r in _runs(view, "train", m, name)), None)
  edges = (_get(first, "result.by_length.max_length") or []) if first else []
  counts = (_get(first, "result.by_length.count") or []) if first else []
  header = ["model"] + [f"length ≤ {e} ({n} inputs)" for e, n in zip(edges, counts)]
  rows = []
  for m in view.models:
    runs = [
      r for r in _runs(view, "train", m, name) if _get(r, "result.by_length.max_length") == edges
    ]
    rows.append(
      [m]
      + [
        _mean_std([r["result"]["by_length"]["accuracy"][i] for r in runs])
        for i in range(len(edges))
      ]
    )
  return header, rows


def cost_table(view: Records) -> Table:
  """Per dataset and model: the shape timed, train and inference time per example (fastest
  implementation), peak train-step memory per example, gradient decay at initialisation,
  and the stability grid's converged runs."""
  header = [
    "dataset", "model", "L", "train µs/ex", "infer µs/ex", "peak KB/ex",
    "log10 far/near grad at init", "converged (unclipped)", "converged (clipped)",
  ]  # fmt: skip
  rows = []
  for name in datasets(view):
    for m in view.models:
      best = _timing(view, m, name, "train_s_per_example")
      cells = [
        name,
        m,
        str(_get(best, "result.seq_len")) if best else "—",
        fmt(_get(best, "result.train_s_per_example") if best else None, "us"),
        fmt((n := timing_number(view, m, name, "infer_s_per_example")) and n.value, "us"),
        fmt((n := timing_number(view, m, name, "peak_bytes_per_example")) and n.value, "kb"),
        fmt((n := gradient_number(view, m, name)) and n.value, ""),
      ]
      for clipped in (False, True):
        n = stability_number(view, m, name, clipped)
        cells.append(f"{round(n.value * len(n.sources))}/{len(n.sources)}" if n else "—")
      rows.append(cells)
  return header, rows


def plot_order(view: Records) -> bytes | None:
  """Accuracy against the shuffle window, one panel per dataset, one line per model."""
  names = datasets(view)
  windows = list(view.cfg.real.shuffle_windows)
  fig, axes = row_of_axes(len(names), width=4.2)
  drawn = False
  for ax, name in zip(axes, names):
    for m in view.models:
      runs = _runs(view, "train", m, name)
      if not runs:
        continue
      xs = ["none"] + ["whole" if w == 0 else str(w) for w in windows]
      ys = [np.mean([r["result"]["accuracy"] for r in runs])]
      ys += [
        np.mean([_get(r, f"result.shuffle_within.{w}.accuracy") for r in runs]) for w in windows
      ]
      ax.plot(xs, [100 * y for y in ys], label=m, **model_style(m, view.models))
      drawn = True
    ax.set_title(name)
    ax.set_xlabel("steps shuffled inside blocks of")
    ax.set_ylabel("accuracy, %")
  if not drawn:
    return None
  axes[-1].legend(fontsize=7)
  return png_bytes(fig)
