"""k-fold cross-validation: one training run per fold, and the mean ± std over the folds.

`config.data.cv_folds=K` (text_files: tasks/files.py deals the examples of train_path into K
seeded, stratified folds) runs fold k = 0..K-1 into WORKDIR/fold_k with data.cv_fold=k: that
fold is the eval part, the others are trained on (with config.select_on='dev', each fold's
dev split is a seeded data.dev_fraction of its own training part). WORKDIR/folds.json holds,
per metric, the mean, the sample std and the K values, as seeds.json does for seeds. A fold
whose run finished is restored from its final checkpoint, so a killed cross-validation
resumes fold by fold (and inside the unfinished fold from its newest checkpoint).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import jax
import ml_collections

from cnnrnn_jax import train
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.metrics import seed_summary

FOLDS_FILE = "folds.json"


def fold_summary(results: dict[int, dict[str, float]]) -> dict[str, dict[str, Any]]:
  """Per metric over the folds: mean, sample std (ddof=1), the values and the `folds`."""
  summary = seed_summary(results)
  for entry in summary.values():
    entry["folds"] = entry.pop("seeds")
  return summary


def train_over_folds(
  config: ml_collections.ConfigDict, workdir: str
) -> dict[int, dict[str, float]]:
  """Trains `config` once per fold of config.data.cv_folds into workdir/fold_k; returns
  {fold: final eval metrics} and writes `fold_summary` of them to workdir/folds.json."""
  folds = int(config.data.cv_folds)
  primary = jax.process_index() == 0
  lock = workdir_module.locked(workdir) if primary else contextlib.nullcontext()
  results = {}
  with lock:
    for fold in range(folds):
      one = config.copy_and_resolve_references()
      with one.unlocked():
        one.data.cv_fold = fold
      results[fold] = train.train_and_evaluate(one, os.path.join(workdir, f"fold_{fold}"))
    if primary:
      text = json.dumps(fold_summary(results), indent=2)
      workdir_module.write_atomic(os.path.join(workdir, FOLDS_FILE), text)
  return results
