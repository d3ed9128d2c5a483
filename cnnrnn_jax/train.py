"""One trainer for every model and task.

A task is data + a head kind + a metric (tasks/base.py); the model is built from the
registry (models.py). `train_step` and `eval_step` are pure functions of arrays,
jitted once by `train_and_evaluate`. Metrics leave the device as sums and counts and
are divided on the host only when a line is logged (no per-step host sync).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state

from cnnrnn_jax import models, tasks
from cnnrnn_jax.tasks.base import ConfigError, TaskSpec

TrainState = train_state.TrainState
Metrics = dict[str, jax.Array]
NO_BAD_STEP = np.iinfo(np.int32).max


def make_optimizer(opt, train_steps: int) -> optax.GradientTransformation:
  """AdamW with linear warmup, cosine (or constant) decay and global-norm clipping."""
  warmup = min(opt.warmup_steps, max(train_steps - 1, 0))
  if opt.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(0.0, opt.learning_rate, warmup, train_steps,
                                            end_value=0.1 * opt.learning_rate)
  elif opt.schedule == "constant":
    lr = optax.join_schedules([optax.linear_schedule(0.0, opt.learning_rate, warmup),
                               optax.constant_schedule(opt.learning_rate)], [warmup])
  else:
    raise ConfigError(f"config.opt.schedule={opt.schedule!r} is not one of cosine, constant")
  return optax.chain(optax.clip_by_global_norm(opt.clip_norm),
                     optax.adamw(lr, weight_decay=opt.weight_decay))


def loss_and_sums(spec: TaskSpec, outputs, batch) -> tuple[jax.Array, Metrics]:
  """The weighted mean loss (what gradients follow) and the metric sums behind it."""
  weights = batch["weights"]
  if spec.kind == "regress":
    err = outputs - batch["targets"]
    per_item = err * err
    sums = {"mse": jnp.sum(per_item * weights), "mae": jnp.sum(jnp.abs(err) * weights)}
  else:
    per_item = optax.softmax_cross_entropy_with_integer_labels(outputs, batch["targets"])
    correct = (jnp.argmax(outputs, -1) == batch["targets"]).astype(jnp.float32)
    sums = {"accuracy": jnp.sum(correct * weights)}
  count = jnp.sum(weights)
  loss_sum = jnp.sum(per_item * weights)
  return loss_sum / jnp.maximum(count, 1.0), {"loss": loss_sum, "count": count, **sums}


def summarize(spec: TaskSpec, sums: dict[str, Any]) -> dict[str, float]:
  """Host side: sums -> means, plus the task's derived headline metric."""
  sums = jax.device_get(sums)
  count = max(float(sums["count"]), 1.0)
  out = {k: float(v) / count for k, v in sums.items()
         if k not in ("count", "first_nonfinite_step")}
  if spec.kind == "lm":
    out["bits_per_token"] = out["loss"] / math.log(2.0)
    out["perplexity"] = math.exp(min(out["loss"], 50.0))
  if spec.baseline is not None:
    out["baseline_loss"] = spec.baseline
  return out


def train_step(state: TrainState, batch, rng, *, spec: TaskSpec):
  """One AdamW step. A non-finite loss leaves the state untouched and is counted."""
  rng = jax.random.fold_in(rng, state.step)

  def loss_fn(params):
    outputs, _ = state.apply_fn({"params": params}, batch["inputs"], batch["lengths"],
                                train=True, rngs={"dropout": rng})
    return loss_and_sums(spec, outputs, batch)

  (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  finite = jnp.isfinite(loss)
  first_bad = jnp.where(finite, NO_BAD_STEP, state.step + 1)   # 1-based step number
  new_state = state.apply_gradients(grads=grads)
  state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
  return state, {**sums, "first_nonfinite_step": first_bad}


def accumulate(total: Metrics | None, sums: Metrics) -> Metrics:
  """Adds metric sums on device; keeps the earliest non-finite step."""
  if total is None:
    return sums
  return {k: jnp.minimum(total[k], v) if k == "first_nonfinite_step" else total[k] + v
          for k, v in sums.items()}


def eval_step(params, batch, *, apply_fn, spec: TaskSpec) -> Metrics:
  outputs, _ = apply_fn({"params": params}, batch["inputs"], batch["lengths"], train=False)
  return loss_and_sums(spec, outputs, batch)[1]


def evaluate(eval_fn, params, task, batch_size: int) -> dict[str, Any]:
  """Sums over the fixed eval set (device-side adds, one transfer at the end)."""
  total = None
  for batch in task.eval_batches(batch_size):
    sums = eval_fn(params, batch)
    total = sums if total is None else jax.tree.map(jnp.add, total, sums)
  return total


def _check_positive(config, *keys):
  for key in keys:
    if config[key] <= 0:
      raise ConfigError(f"config.{key}={config[key]} must be positive")


def setup(config):
  """Builds task and model from the config, validating everything before any compile."""
  _check_positive(config, "batch_size", "train_steps", "log_every", "eval_every")
  if config.opt.learning_rate <= 0 or config.opt.clip_norm <= 0:
    raise ConfigError("config.opt.learning_rate and config.opt.clip_norm must be positive")
  task = tasks.build(config.task, config.data, config.seed)
  model = models.build_model(config.model, config.arch, task.spec)
  return task, model


def init_state(config, task, model) -> TrainState:
  batch = task.train_batch(0, config.batch_size)
  # jitted: one compile instead of one per eager op (the recurrent init alone is dozens)
  params = jax.jit(model.init)(jax.random.PRNGKey(config.seed), batch["inputs"],
                               batch["lengths"])["params"]
  return TrainState.create(apply_fn=model.apply, params=params,
                           tx=make_optimizer(config.opt, config.train_steps))


def count_params(params) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def make_workdir(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ConfigError(f"cannot create workdir {workdir!r} ({e.strerror}); "
                      "pass a writable --workdir") from None


class MetricWriter:
  """Appends one JSON object per line to metrics.jsonl and mirrors scalars to TensorBoard."""

  def __init__(self, workdir: str, seed: int):
    from tensorboardX import SummaryWriter  # light, and keeps TensorFlow out of training
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    self._seed = seed

  def write(self, step: int, split: str, values: dict[str, float]) -> None:
    record = {"step": step, "split": split, "seed": self._seed, **values}
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    for key, value in values.items():
      self._tb.add_scalar(f"{split}/{key}", value, step)

  def close(self):
    self._jsonl.close()
    self._tb.close()


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  """Trains `config.model` on `config.task`; returns the final eval metrics."""
  return train_and_return_state(config, workdir)[1]


def train_and_return_state(config, workdir: str) -> tuple[TrainState, dict[str, float]]:
  """Trains `config.model` on `config.task`; returns (final state, final eval metrics).

  Writes config.json, metrics.jsonl and TensorBoard scalars into `workdir`.
  Raises ConfigError for bad settings (before compiling anything) and
  FloatingPointError naming the step when the loss stops being finite.
  """
  task, model = setup(config)
  make_workdir(workdir)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json(indent=2))

  spec = task.spec
  state = init_state(config, task, model)
  logging.info("model %s on task %s: %s parameters; %s", config.model, config.task,
               f"{count_params(state.params):,}", spec)
  step_fn = jax.jit(functools.partial(train_step, spec=spec), donate_argnums=0)
  eval_fn = jax.jit(functools.partial(eval_step, apply_fn=model.apply, spec=spec))
  rng = jax.random.PRNGKey(config.seed + 1)
  writer = MetricWriter(workdir, config.seed)
  try:
    state, eval_metrics = _loop(config, task, state, step_fn, eval_fn, rng, writer)
  finally:
    writer.close()
  return state, eval_metrics


def _loop(config, task, state, step_fn, eval_fn, rng, writer):
  spec, total = task.spec, config.train_steps
  acc, t_start, t_last, last_logged = None, time.perf_counter(), time.perf_counter(), 0
  eval_metrics = {}
  for step in range(1, total + 1):
    state, sums = step_fn(state, task.train_batch(step - 1, config.batch_size), rng)
    acc = accumulate(acc, sums)
    if step % config.log_every == 0 or step == total:
      if (bad_step := int(acc["first_nonfinite_step"])) != NO_BAD_STEP:
        raise FloatingPointError(
            f"loss is not finite at step {bad_step} of {config.model} on "
            f"{config.task}; lower config.opt.learning_rate or config.opt.clip_norm")
      train_metrics = summarize(spec, acc)
      now = time.perf_counter()
      rate = (step - last_logged) / max(now - t_last, 1e-9)
      writer.write(step, "train", {**train_metrics, "steps_per_sec": rate})
      logging.info("step %d/%d  loss %.4f  %s %.4f  %.1f steps/s  ETA %.0fs", step, total,
                   train_metrics["loss"], _headline(spec),
                   train_metrics.get(_headline(spec), float("nan")), rate,
                   (total - step) / max(rate, 1e-9))
      acc, t_last, last_logged = None, now, step
    if step % config.eval_every == 0 or step == total:
      eval_metrics = summarize(spec, evaluate(eval_fn, state.params, task, config.batch_size))
      writer.write(step, "eval", eval_metrics)
      logging.info("eval at step %d: %s", step,
                   "  ".join(f"{k} {v:.4f}" for k, v in eval_metrics.items()))
  logging.info("trained %d steps in %.1fs", total, time.perf_counter() - t_start)
  return state, eval_metrics


def _headline(spec: TaskSpec) -> str:
  return {"regress": "mse", "lm": "bits_per_token"}.get(spec.kind, "accuracy")
