"""Sampling text from a trained language model (`lm` task kind).

Shape key: L window (the task's seq_len), V vocabulary.

The models are whole-sequence functions (conv stacks and scans alike), so the sampler is a
sliding window: each new token is drawn from the model's output at the last position of
the most recent L tokens (left-aligned, padded, with its length). That is exact for every
causal model whose context fits in L, and it needs no per-model state API. One jitted call
per token; PAD and OOV are never drawn.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnrnn_jax import train
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import text
from cnnrnn_jax.tasks.base import Task


@functools.partial(jax.jit, static_argnames=("apply_fn",))
def _next_token(params, ids_1xL, length_1, key, temperature, *, apply_fn):
  logits_1xLxV, _ = apply_fn({"params": params}, ids_1xL, length_1, train=False)
  logits_V = logits_1xLxV[0, length_1[0] - 1].astype(jnp.float32)
  logits_V = logits_V.at[jnp.array([text.PAD_ID, text.OOV_ID])].set(-jnp.inf)
  greedy = jnp.argmax(logits_V)
  drawn = jax.random.categorical(key, logits_V / jnp.maximum(temperature, 1e-6))
  return jnp.where(temperature > 0, drawn, greedy)


def sample(
  apply_fn: Callable,
  params: Any,
  vocab: text.Vocabulary,
  prompt: str,
  length: int,
  window: int,
  temperature: float = 0.8,
  seed: int = 0,
) -> str:
  """`prompt` followed by `length` sampled tokens (temperature 0 = always the argmax)."""
  if length < 0 or temperature < 0:
    raise ConfigError(f"length={length} and temperature={temperature} must be >= 0")
  ids = list(vocab.encode(prompt))
  if not ids:
    newline = vocab.encode("\n")
    if not len(newline) or newline[0] == text.OOV_ID:
      raise ConfigError("the prompt is empty after tokenization; pass a --prompt")
    ids = [int(newline[0])]
  key = jax.random.PRNGKey(seed)
  for _ in range(length):
    context = ids[-window:]
    ids_1xL = np.zeros((1, window), np.int32)
    ids_1xL[0, : len(context)] = context
    key, sub = jax.random.split(key)
    ids.append(
      int(
        _next_token(
          params,
          ids_1xL,
          np.array([len(context)], np.int32),
          sub,
          jnp.float32(temperature),
          apply_fn=apply_fn,
        )
      )
    )
  return vocab.decode(ids)


def _check_data_still_there(workdir: str) -> None:
  """A ConfigError naming the run's own data file when it is gone (the task is rebuilt from
  it; the user cannot fix that with a flag of the generator)."""
  try:
    with open(os.path.join(workdir, "config.json")) as f:
      data = json.load(f).get("data", {})
  except (OSError, ValueError, AttributeError):
    return  # restore() reports a workdir without a readable run
  for key in ("train_path", "eval_path"):
    path = data.get(key)
    if path and not os.path.exists(path):
      raise ConfigError(
        f"the run in {workdir} was trained on {key} {path}, which is gone; generating rebuilds "
        "the run's task from it: put the file back there (see its config.json)"
      )


def load_lm_run(
  workdir: str,
) -> tuple[ml_collections.ConfigDict, Task, nn.Module, Any]:
  """(config, task, model, params) of the lm run in `workdir`: the newest good checkpoint
  (`train.restore`) and the run's vocab.json (through config.data.vocab_path)."""
  _check_data_still_there(workdir)
  try:
    config, state = train.restore(workdir)
  except FileNotFoundError:
    raise ConfigError(
      f"no readable checkpoint in {workdir}; pass the --workdir of a training "
      "run with config.checkpoint_every > 0 (the default)"
    ) from None
  task, model = train.setup(text.with_saved_assets(config, workdir))
  if task.spec.kind != "lm":
    raise ConfigError(
      f"task {config.task!r} is {task.spec.kind}, not a language model; "
      "generate from an lm run (text_corpus, shakespeare)"
    )
  return config, task, model, state.params
