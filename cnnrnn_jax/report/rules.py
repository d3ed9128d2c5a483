"""The written rules: the folklore's stars, numbers -> stars -> verdicts, traced numbers.

Every number of the verdict table is a `Number` that knows the records and fields it
comes from and how it follows from them (`Number.compute`), so it can be traced back
and recomputed from records.jsonl alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnnrnn_jax import measure
from cnnrnn_jax.report.records import Records, get_path, gradient_length

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
  arg: float | None = None  # the threshold of 'longest_solved'
  value: Any = None

  def compute(self, records: dict[str, dict]) -> Any:
    """The value recomputed from `records` (id -> record) by the reducer `how`."""
    pairs = [(key, get_path(records[rid], path)) for rid, path, key in self.sources]
    return REDUCERS[self.how](pairs, self.arg) if pairs else None


def traced(label, sources, how="value", records=None, arg=None) -> Number:
  """A `Number` with its value computed from `records` (id -> record)."""
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
  """x rounded to the nearest integer, halves up (1.5 -> 2, 2.5 -> 3)."""
  return int(math.floor(x + 0.5))


def verdict(folk_cnn: int, folk_rnn: int, cnn: int | None, rnn: int | None) -> str:
  """holds / partly / breaks, from the gaps CNN - RNN in stars (see VERDICT_RULE)."""
  if cnn is None or rnn is None:
    return "n/a"
  folk, measured = folk_cnn - folk_rnn, cnn - rnn
  if measured * folk < 0:
    return "breaks"
  if measured == 0 or abs(measured - folk) > 1:
    return "partly"
  return "holds"


def star_text(n: int | None) -> str:
  """'★★☆☆' for 2 stars, 'n/a' for none."""
  return "n/a" if n is None else "★" * n + "☆" * (4 - n)


RULES = {  # criterion -> how its numbers become stars ({...}: the preset's values)
  "Speed": (
    "train-step time per example, geometric mean over the lengths (each model at its fastest "
    "tested implementation); the faster of the pair gets ★★★★, the other one star less per "
    "factor 2 slower, to the nearest star (×1.41 costs one, ×2.83 two, ×5.66 three)"
  ),
  "Order awareness": (
    "the mean height of the model's `{order}` curve (accuracy at each eval distance, mean "
    "over seeds) over the distances that are not leaky: ★ below 60%, ★★ from 60%, ★★★ from "
    "75%, ★★★★ from 90%. A distance is leaky when a control that cannot relate two tokens "
    "({judges}) beats chance there by more than {margin:.0%}; leaky distances count nowhere"
  ),
  "Long-term context": (
    "per sweep (the `{order}` curve and each trained sweep), f = D / the longest distance "
    "tested, where D ends the first unbroken run of solved distances, shortest first (solved: "
    "accuracy ≥ {threshold:.0%}; leaky distances skipped): ★★★★ f = 1, ★★★ f ≥ 1/4, "
    "★★ f > 0, ★ none solved; the row is the mean over sweeps, rounded half up. A sweep that "
    "no model solves at any distance, or every model at every distance, cannot tell models "
    "apart: it is shown but not counted"
  ),
  "Training stability": (
    "fraction of the `{stability}` runs without gradient clipping (SGD with momentum and "
    "AdamW, each learning rate and length of the grid) that converge (loss always finite, "
    "final eval loss ≤ {fraction} × chance loss): stars = 1 + ⌊3 × fraction⌋; the clipped "
    "runs are reported beside them"
  ),
  "Production scalability": (
    "mean, rounded half up, of: inference throughput at the largest batch (fastest "
    "implementation; relative, like speed, higher is better); growth of the critical path "
    "with length, depth ∝ L^p: ★★★★ p < 0.1, ★★★ p < 0.5, ★★ otherwise; and, with more than "
    "one device, data-parallel efficiency ★★★★ ≥ 0.8, ★★★ ≥ 0.6, ★★ ≥ 0.4, ★"
  ),
  "Gradient issues": (
    "at initialisation, k = |log10(‖∂loss/∂x_t‖ far / near)| over a length-{length} sequence "
    "(far: the farther half of the distances, near: the nearest eighth): ★★★★ k ≤ 1, "
    "★★★ k ≤ 2, ★★ k ≤ 4, ★ beyond"
  ),
  "Memory requirement": (
    "compiled peak memory of a train step per example at the longest length; the lower of the "
    "pair gets ★★★★, the other one star less per factor 2 more, to the nearest star"
  ),
}

VERDICT_RULE = (
  "gap = CNN stars − RNN stars. **holds**: the measured gap has the folklore's "
  "sign and is within one star of it; **partly**: same sign but more than one "
  "star off, or a tie; **breaks**: the opposite sign (the other model is better)."
)


def rules_text(view: Records) -> str:
  """The paragraph under the verdict table: every rule with this preset's thresholds."""
  cfg = view.cfg
  c, r = view.pair
  rules = [
    f"- **{name}**: {text}".format(
      threshold=cfg.solved_threshold,
      fraction=cfg.stability.loss_fraction,
      length=gradient_length(view),
      order=cfg.order.task,
      stability=cfg.stability.task,
      judges=", ".join(f"`{m}`" for m in view.judges) or "none configured",
      margin=cfg.controls.margin if "controls" in cfg else 0.0,
    )
    for name, text in RULES.items()
  ]
  return (
    "How numbers become stars (the folklore's CNN column is "
    f"`{c}`, its RNN column `{r}`; the folklore states gradient issues and "
    "memory in words, which we read as ★★★★ for the favourable word and ★★ "
    "for the other):\n" + "\n".join(rules) + "\n\nVerdict: " + VERDICT_RULE
  )
