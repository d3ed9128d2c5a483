"""The jitted programs of a run: the train step, its accumulating form, the sharded evaluator.

`train_step` and `eval_step` are pure functions of arrays; `compiled_train_step` jits the
accumulating step with the run's shardings and compiles it ahead of the loop (its compile
time logged apart); `sharded_evaluator` sums the metrics of a whole eval set, one jitted
program per batch. train.py runs them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax.training import train_state

from cnnrnn_jax import flops
from cnnrnn_jax.metrics import NO_BAD_STEP, Metrics, accumulate, loss_and_sums, sum_over_batches
from cnnrnn_jax.sharding import InFlight, put_global
from cnnrnn_jax.tasks.base import Batch, Task, TaskSpec, model_args

TrainState = train_state.TrainState
logger = logging.getLogger("cnnrnn_jax.train")  # the trainer's lines (progress.LOGGER below)


def train_step(
  state: TrainState, batch: Batch, rng: jax.Array, *, spec: TaskSpec
) -> tuple[TrainState, Metrics]:
  """One AdamW step. A non-finite loss leaves the state untouched and is counted."""
  rng = jax.random.fold_in(rng, state.step)

  def loss_fn(params):
    outputs, _ = state.apply_fn(
      {"params": params}, *model_args(batch), train=True, rngs={"dropout": rng}
    )
    return loss_and_sums(spec, outputs, batch)

  (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  finite = jnp.isfinite(loss)
  first_bad = jnp.where(finite, NO_BAD_STEP, state.step + 1)  # 1-based step number
  new_state = state.apply_gradients(grads=grads)
  state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
  return state, {**sums, "first_nonfinite_step": first_bad}


def eval_step(params: Any, batch: Batch, *, apply_fn: Any, spec: TaskSpec) -> Metrics:
  """The metric sums of `params` on one batch (no dropout)."""
  outputs, _ = apply_fn({"params": params}, *model_args(batch), train=False)
  return loss_and_sums(spec, outputs, batch)[1]


def train_and_accumulate(
  state: TrainState, acc: Metrics, batch: Batch, rng: jax.Array, *, spec: TaskSpec
) -> tuple[TrainState, Metrics]:
  """`train_step`, then `accumulate` its sums into the logging window's running sums."""
  state, sums = train_step(state, batch, rng, spec=spec)
  return state, accumulate(acc, sums)


def compiled_train_step(
  state: TrainState,
  sums: Metrics,
  task: Task,
  config: ml_collections.ConfigDict,
  replicated: jax.sharding.Sharding,
  batch_sharding: jax.sharding.Sharding,
  start: int,
) -> tuple[Any, float | None]:
  """(the jitted train step, its FLOPs per call or None). The step is compiled ahead of the
  loop for the first batch's shapes and its compile time logged apart, so the first logging
  window's steps/s and ETA count training steps only. A batch of other shapes (text's length
  buckets) goes through the jitted function, which compiles once per new shape on first use.
  With `config.log_flops` the FLOPs are counted from the same trace and lowering that the
  compile uses (flops.step_flops), so counting costs only the scans' bodies."""
  jitted = jax.jit(
    functools.partial(train_and_accumulate, spec=task.spec),
    in_shardings=(replicated, replicated, batch_sharding, replicated),
    out_shardings=(replicated, replicated),
    donate_argnums=0,
  )
  if start >= config.train_steps:
    return jitted, None  # restored at the last step: nothing to train, nothing to compile
  t = time.perf_counter()
  batch = put_global(task.train_batch(start, config.batch_size), batch_sharding)
  rng = put_global(jax.random.PRNGKey(0), replicated)
  traced = jitted.trace(state, sums, batch, rng)
  lowered = traced.lower()
  compiled = lowered.compile()
  logger.info(
    "compiled the train step in %.1fs (not counted in steps/s or ETA)", time.perf_counter() - t
  )
  step_flops = (
    flops.step_flops(traced, lowered, compiled) if config.get("log_flops", True) else None
  )
  compiled_for = _shapes(batch)

  def step(state: TrainState, sums: Metrics, batch: Batch, rng: jax.Array):
    if _shapes(batch) == compiled_for:
      return compiled(state, sums, batch, rng)
    return jitted(state, sums, batch, rng)

  return step, step_flops


def _shapes(batch: Batch) -> list[tuple[tuple[int, ...], Any]]:
  """The shape and dtype of each array of `batch`: what a compiled program is specialised to."""
  return [(x.shape, x.dtype) for x in jax.tree.leaves(batch)]


def sharded_evaluator(
  model: Any,
  task: Task,
  params: Any,
  batch_size: int,
  replicated: jax.sharding.Sharding,
  batch_sharding: jax.sharding.Sharding,
) -> Callable[[Any], Metrics]:
  """params -> eval-set sums: one jitted program per batch, the running total added in it."""
  spec = task.spec

  def add_batch(params, total, batch):
    return accumulate(total, eval_step(params, batch, apply_fn=model.apply, spec=spec))

  jitted = jax.jit(
    add_batch, in_shardings=(replicated, replicated, batch_sharding), out_shardings=replicated
  )
  shapes = jax.eval_shape(
    functools.partial(eval_step, apply_fn=model.apply, spec=spec),
    params,
    task.train_batch(0, batch_size),
  )
  zeros = put_global({k: np.zeros(v.shape, v.dtype) for k, v in shapes.items()}, replicated)

  def evaluate_all(params):
    in_flight = InFlight()

    def add(total, batch):
      total = jitted(params, total, put_global(batch, batch_sharding))
      in_flight.push(total["count"])
      return total

    return sum_over_batches(add, task.eval_batches(batch_size), zeros)

  return evaluate_all
