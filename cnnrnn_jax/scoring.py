"""Scoring a finished run on other data without training it again (`experiments/score.py`,
the Kim table's accuracy by sentence length): a new speaker's recordings, a new test file,
other task settings."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import jax

from cnnrnn_jax import metrics, models, tasks, train
from cnnrnn_jax.checkpoint import BEST_SUBDIR
from cnnrnn_jax.errors import ConfigError

CHECKPOINTS = ("result", "best", "newest")  # which parameters of a run `score` reads


def scorer(
  workdir: str, checkpoint: str = "result"
) -> Callable[[str | None, Sequence[str]], dict[str, float]]:
  """Restores WORKDIR's parameters once and returns `score_on(eval_path, settings=())`: the
  eval metrics on the task's data at `eval_path` (None: the run's own eval data), with
  `settings` ('KEY=VALUE') replacing config.data fields. Scoring several files this way
  restores the run once and compiles its eval step once per task shape.

  `checkpoint`: 'result' (the default) scores a run that selected its step on a dev split
  (`config.select_on`) with that step's parameters (WORKDIR/best_checkpoint: the run's
  reported result), any other run with its newest; 'best' or 'newest' choose explicitly. The
  task is rebuilt from the run's config, so the run's training data must still be at its
  train_path (labels and normalisation statistics come from it)."""
  if checkpoint not in CHECKPOINTS:
    raise ValueError(f"checkpoint={checkpoint!r} is not one of {CHECKPOINTS}")
  selected = os.path.isdir(os.path.join(workdir, BEST_SUBDIR))  # written by select_on runs only
  best = checkpoint == "best" or (checkpoint == "result" and selected)
  config, state = train.restore(workdir, best=best)
  steps = {}  # TaskSpec -> its jitted eval step

  def score_on(eval_path: str | None, settings: Sequence[str] = ()) -> dict[str, float]:
    data = config.data.copy_and_resolve_references()
    if eval_path:
      data.eval_path = eval_path
    for setting in settings:
      key, _, value = setting.partition("=")
      if key not in data:
        raise ConfigError(f"--data={setting}: config.data has no field {key!r}")
      old = data[key]
      if isinstance(old, bool):
        data[key] = value.lower() in ("true", "1")
      else:
        data[key] = type(old)(value) if isinstance(old, (int, float)) else value
    task = tasks.build(config.task, data, config.seed)
    if task.spec not in steps:
      model = models.build_model(config.model, config.arch, task.spec)
      steps[task.spec] = jax.jit(
        functools.partial(train.eval_step, apply_fn=model.apply, spec=task.spec)
      )
    step = steps[task.spec]
    sums = metrics.sum_over_batches(
      lambda total, batch: metrics.accumulate(total, step(state.params, batch)),
      task.eval_batches(config.batch_size),
    )
    return metrics.summarize(task.spec, sums)

  return score_on


def score(
  workdir: str, eval_path: str | None, settings: Sequence[str] = (), checkpoint: str = "result"
) -> dict[str, float]:
  """`scorer(workdir, checkpoint)(eval_path, settings)`: one run scored on one data set."""
  return scorer(workdir, checkpoint)(eval_path, settings)
