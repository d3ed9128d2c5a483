"""Model selection on a held-out split: which step's parameters a run reports.

With `config.select_on` (e.g. 'validation'), the trainer scores that split at every
evaluation next to the eval split and writes both into metrics.jsonl; the run's result
is then the eval split's metrics at the step whose selection score was best, not the last
step's. Everything here reads those lines, so a resumed run selects over all of its steps.
`BestCheckpoint` keeps that step's parameters in WORKDIR/best_checkpoint (checkpoint.py),
its meta marked `best` with the step and the score; `train.restore(workdir, best=True)`
reads them back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import ml_collections

from cnnrnn_jax import checkpoint, tasks
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
  selected = select_best(workdir_module.read_records(metrics_path), select_split, "eval", spec)
  if selected is not None:
    metric = headline(spec)
    logging.info(
      "selected on %s: step %d (%s %s %.4f); eval %s %.4f at that step",
      select_split,
      selected["selected_step"],
      select_split,
      metric,
      selected[f"{select_split}_{metric}"],
      metric,
      selected[metric],
    )
  return selected


class BestCheckpoint:
  """Saves the parameters of each evaluation that beats every earlier one on the selection
  split (ties keep the earlier step, as `select_best` does) into WORKDIR/best_checkpoint.

  The best score so far is read back from metrics.jsonl (already cut to the resumed step), so
  a resumed run replays the same decisions; a step saved before a kill is not saved twice.
  """

  def __init__(
    self, workdir: str, config: ml_collections.ConfigDict, spec: TaskSpec, metrics_path: str
  ):
    self.config, self.split, self.metric = config, config.select_on, headline(spec)
    self.sign = 1.0 if higher_is_better(spec) else -1.0
    prior = select_best(workdir_module.read_records(metrics_path), self.split, "eval", spec)
    self.best = None if prior is None else prior[f"{self.split}_{self.metric}"]
    self.ckpts = checkpoint.Checkpoints(workdir, keep=1, subdir=checkpoint.BEST_SUBDIR)

  def offer(self, step: int, params: Any, scores: dict[str, float]) -> bool:
    """Saves `params` when `scores` (the selection split's at `step`) beat the best so far."""
    score = float(scores[self.metric])
    if self.best is not None and self.sign * score <= self.sign * self.best:
      return False
    self.best = score
    for later in [s for s in self.ckpts.steps() if s > step]:  # a killed attempt's, replayed
      self.ckpts.delete(later)
    if step not in self.ckpts.steps():
      extra = {"best": True, "split": self.split, self.metric: score}
      self.ckpts.save(step, {"params": params}, self.config, extra)
    return True

  def close(self, quiet: bool = False) -> None:
    """Waits for the last save (see `checkpoint.Checkpoints.close`)."""
    self.ckpts.close(quiet)


@contextlib.contextmanager
def closing(best: BestCheckpoint | None) -> Iterator[None]:
  """Closes `best` (if any) after the block: quietly when the block raised (that error wins)."""
  try:
    yield
  except BaseException:
    if best is not None:
      best.close(quiet=True)
    raise
  if best is not None:
    best.close()
