"""Small models trained on the `contrast` task, saved and read back as the trainer saves them.

A trained model's folder is an ordinary trainer workdir (`train.train_and_return_state`):
config.json, metrics.jsonl, tensorboard/ and checkpoints/<step>/ (Orbax, see checkpoint.py;
the final step is always saved). `train_models` writes one such folder per model under a
directory, `directory/<model>/`; `load_models` reads them back with `train.restore`, the final
parameters from the newest good checkpoint and the final eval metrics from metrics.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import ml_collections

from cnnrnn_jax import checkpoint, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError

SHOWN_MODELS = ("cnn", "lstm", "cnn_lstm")
_HINT = (
  "point --checkpoint at the models/ folder an earlier visualize run wrote, or leave it out to "
  "train"
)


@dataclasses.dataclass
class Trained:
  """A model from the registry with its trained parameters and final eval metrics."""

  name: str
  config: ml_collections.ConfigDict
  model: Any
  params: Any
  metrics: dict[str, float]


def contrast_config(
  name: str, train_steps: int = 400, width: int = 32, seed: int = 0
) -> ml_collections.ConfigDict:
  """A small `name` model on `contrast`: width-32 embeddings, filters and hidden units
  (few enough to read in a heatmap); 400 steps reach 100% eval accuracy for all three."""
  config = default.get_config(f"{name},contrast")
  config.seed = seed
  config.train_steps = train_steps
  config.log_every = max(1, min(100, train_steps))
  config.eval_every = train_steps
  config.arch.embed_dim = config.arch.hidden = config.arch.num_filters = width
  config.data.eval_size = 512
  return config


def train_contrast_model(
  name: str, workdir: str, train_steps: int = 400, width: int = 32
) -> Trained:
  """Trains with the project's trainer into `workdir` (config, metrics, checkpoints)."""
  config = contrast_config(name, train_steps, width)
  state, metrics = train.train_and_return_state(config, workdir)
  _, model = train.setup(config)
  return Trained(name, config, model, state.params, metrics)


def final_eval_metrics(workdir: str) -> dict[str, float]:
  """The last eval line of workdir/metrics.jsonl without its step, split and seed ({} if none)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.isfile(path):
    return {}
  last = {}
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue  # a blank line, or the torn last line of a killed run
      if record.get("split") == "eval":
        last = record
  return {k: v for k, v in last.items() if k not in ("step", "split", "seed")}


def load_trained(directory: str, name: str | None = None) -> Trained:
  """The model trained into `directory` (a trainer workdir), from its newest good checkpoint.

  With `name`, a checkpoint of another model is a ConfigError.
  """
  if not os.path.isdir(os.path.join(directory, checkpoint.SUBDIR)):
    raise ConfigError(f"no {checkpoint.SUBDIR}/ folder in {directory}; {_HINT}")
  try:
    config, state = train.restore(directory)
  except FileNotFoundError as e:
    raise ConfigError(f"{e}; {_HINT}") from None
  if name is not None and config.model != name:
    raise ConfigError(f"checkpoint {directory} holds model {config.model!r}, expected {name!r}")
  _, model = train.setup(config)
  return Trained(config.model, config, model, state.params, final_eval_metrics(directory))


def train_models(
  directory: str, train_steps: int = 400, names: Sequence[str] = SHOWN_MODELS
) -> dict[str, Trained]:
  """Trains each of `names` into directory/<name>/ (a run already there resumes or is reused)."""
  trained = {}
  for name in names:
    start = time.perf_counter()
    trained[name] = train_contrast_model(name, os.path.join(directory, name), train_steps)
    logging.info(
      "trained %s in %.1fs: %s", name, time.perf_counter() - start, trained[name].metrics
    )
  return trained


def load_models(directory: str, names: Sequence[str] = SHOWN_MODELS) -> dict[str, Trained]:
  """Reads each of `names` from directory/<name>/, as `train_models` wrote them."""
  trained = {}
  for name in names:
    start = time.perf_counter()
    trained[name] = load_trained(os.path.join(directory, name), name)
    logging.info("loaded %s in %.1fs: %s", name, time.perf_counter() - start, trained[name].metrics)
  return trained
