"""Model selection on a held-out split: which step's parameters a run reports.

With `config.select_on` (e.g. 'validation'), the trainer scores that split at every
evaluation next to the eval split and writes both into metrics.jsonl; the run's result
is then the eval split's metrics at the step whose selection score was best, not the last
step's. Everything here reads those lines, so a resumed run selects over all of its steps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import ml_collections

from cnnrnn_jax import tasks
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.metrics import headline
from cnnrnn_jax.tasks.base import Task, TaskSpec


def selection_task(config: ml_collections.ConfigDict) -> Task | None:
  """The task evaluated on `config.select_on` (its data.eval_split), or None when unset."""
  split = config.get("select_on")
  if not split:
    return None
  if split == config.data.get("eval_split"):
    raise ConfigError(
      f"config.select_on={split!r} is the eval split itself; select on another split "
      "(e.g. validation with --config.data.eval_split=test)"
    )
  data = ml_collections.ConfigDict(config.data.to_dict())
  data.eval_split = split
  return tasks.build(config.task, data, config.seed)


def higher_is_better(spec: TaskSpec) -> bool:
  """Whether the headline metric grows as a model improves (accuracy) or shrinks (mse)."""
  return headline(spec) == "accuracy"


def select_best(
  lines: Iterable[dict[str, Any]], select_split: str, eval_split: str, spec: TaskSpec
) -> dict[str, float] | None:
  """The eval metrics of the step whose `select_split` headline metric is best (the earliest
  on ties), with `selected_step` and the selection score; None when nothing was selected."""
  metric, sign = headline(spec), (-1.0 if higher_is_better(spec) else 1.0)
  scored = {l["step"]: l[metric] for l in lines if l["split"] == select_split}
  evals = {l["step"]: l for l in lines if l["split"] == eval_split}
  steps = [step for step in sorted(scored) if step in evals]
  if not steps:
    return None
  best = min(steps, key=lambda step: sign * scored[step])
  values = {k: v for k, v in evals[best].items() if k not in ("step", "split", "seed")}
  return {**values, "selected_step": float(best), f"{select_split}_{metric}": scored[best]}


def selected_metrics(
  metrics_path: str, select_split: str, spec: TaskSpec
) -> dict[str, float] | None:
  """`select_best` over every line of `metrics_path` (a resumed run's earlier steps too)."""
  if not workdir_module.exists(metrics_path):
    return None
  text = workdir_module.read_text(metrics_path)
  lines = [json.loads(line) for line in text.splitlines() if line.strip()]
  selected = select_best(lines, select_split, "eval", spec)
  if selected is not None:
    logging.info("selected on %s: step %d", select_split, selected["selected_step"])
  return selected
