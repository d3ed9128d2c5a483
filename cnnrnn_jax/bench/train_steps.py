"""Seconds per training step of whole training configs, compiled once, timed in turn.

  step_times({name: config})   median seconds per step of each config
  keras_imdb_step_times()      the Keras IMDB pair (configs/keras_imdb.py) at IMDB's shapes
  video_step_costs(configs)    per video config: train step per clip, compiled memory, and
                               the clip generator's time per batch next to the step's

Per-step training time does not depend on what the tokens say, so a config can be timed
on synthetic data of the same batch, length and vocabulary (keras_imdb.timing_config).
Measured results are in configs/keras_imdb.py's docstring.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import ml_collections
import numpy as np

from cnnrnn_jax import measure, tasks
from cnnrnn_jax.configs import keras_imdb
from cnnrnn_jax.tasks.base import Batch
from cnnrnn_jax.timing import median_seconds


def step_times(
  configs: dict[str, ml_collections.ConfigDict], rounds: int = 5, repeats: int = 5
) -> dict[str, float]:
  """{'<name>_s_per_step': median seconds} of each config's training step, after
  compilation, timed alternately in `rounds` rounds of `repeats` steps."""
  compiled = {name: measure.compile_train_step(config) for name, config in configs.items()}
  times: dict[str, list[float]] = {name: [] for name in configs}
  for _ in range(rounds):
    for name, (step, args, _, _) in compiled.items():
      times[name].append(median_seconds(step, args, repeats))
  return {f"{name}_s_per_step": float(np.median(t)) for name, t in times.items()}


def keras_imdb_step_times(rounds: int = 5, repeats: int = 5) -> dict[str, float]:
  """Seconds per step of both keras_imdb presets ('cnn', 'bilstm') on `motif` sequences of
  IMDB's shapes, and their ratio 'bilstm_over_cnn'."""
  configs = {name: keras_imdb.timing_config(name) for name in keras_imdb.PRESETS}
  out = step_times(configs, rounds, repeats)
  out["bilstm_over_cnn"] = out["bilstm_s_per_step"] / out["cnn_s_per_step"]
  return out


def _next_batch(task: tasks.Task, steps: Iterator[int], batch_size: int) -> Batch:
  return task.train_batch(next(steps), batch_size)


def video_step_costs(
  configs: dict[str, ml_collections.ConfigDict], repeats: int = 5
) -> list[dict[str, float | str]]:
  """One row per video config (configs/video.py): train-step seconds per step and per clip
  (after compilation), the step's compiled peak memory, and the median seconds the task
  takes to generate one training batch, as a fraction of the train step."""
  rows = []
  for name, config in configs.items():
    cost = measure.speed(config, repeats)
    task = tasks.build(config.task, config.data, config.seed)
    # a fresh batch per call (steps 1, 2, ...), as in training
    generate_s = median_seconds(_next_batch, (task, itertools.count(1), config.batch_size), repeats)
    rows.append(
      {
        "name": name,
        "seq_len": cost["seq_len"],
        "batch_size": cost["batch_size"],
        "train_s_per_step": cost["train_s_per_step"],
        "train_ms_per_clip": 1e3 * cost["train_s_per_example"],
        "peak_mb": cost.get("peak_bytes", float("nan")) / 2**20,
        "generate_s_per_batch": generate_s,
        "generate_over_train": generate_s / cost["train_s_per_step"],
      }
    )
  return rows
