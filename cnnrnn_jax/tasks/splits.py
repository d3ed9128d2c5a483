"""Seeded splits of a training file: stratified k folds, and a dev part held out of train.

Both are functions of the labels (or the row count) and a seed alone, so every run, fold and
resume of a config sees the same rows on the same side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import base

DEV_STREAM, FOLD_STREAM = 5, 6


def fold_ids(labels: Sequence[str], folds: int, seed: int) -> np.ndarray:
  """The fold (0..folds-1) of each example: stratified (each class dealt round-robin over the
  folds in a seeded order), so fold sizes and class shares differ by at most one example."""
  labels = np.asarray(labels)
  out = np.empty(len(labels), np.int64)
  offset = 0
  rng = base.rng_for(seed, FOLD_STREAM)
  for label in sorted(set(labels.tolist())):
    rows = np.flatnonzero(labels == label)
    rows = rows[rng.permutation(len(rows))]
    out[rows] = (offset + np.arange(len(rows))) % folds
    offset += len(rows)  # the next class starts where this one stopped: balanced fold sizes
  return out


def dev_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train_rows, dev_rows): a seeded `fraction` of range(n) held out as the dev split."""
  if not 0.0 < fraction < 1.0:
    raise ConfigError(
      f"data.dev_fraction={fraction} must be in (0, 1); set --config.data.dev_fraction"
    )
  n_dev = int(round(n * fraction))
  if n_dev < 1 or n_dev >= n:
    raise ConfigError(
      f"data.dev_fraction={fraction} of {n} training examples leaves an empty train or dev "
      "part; give --config.data.dev_path or more data"
    )
  order = base.rng_for(seed, DEV_STREAM).permutation(n)
  return np.sort(order[n_dev:]), np.sort(order[:n_dev])


def cv_split(train: list, data_config: Any, name: str) -> tuple[list, list]:
  """(train part, eval part) of fold `cv_fold` of `cv_folds`."""
  folds, fold = data_config.get("cv_folds"), data_config.get("cv_fold")
  if data_config.get("eval_path"):
    raise ConfigError(
      f"{name}: cv_folds={folds} and eval_path are both set; cross-validation takes its eval "
      "folds from train_path: drop --config.data.eval_path"
    )
  if fold is None or not 0 <= fold < folds:
    raise ConfigError(
      f"{name}: cv_folds={folds} needs cv_fold in 0..{folds - 1} (got {fold}); run every fold "
      "with experiments.train (it sets cv_fold) or set --config.data.cv_fold"
    )
  ids = fold_ids([label for _, label, _ in train], folds, data_config.get("split_seed") or 0)
  return [e for e, k in zip(train, ids) if k != fold], [e for e, k in zip(train, ids) if k == fold]
