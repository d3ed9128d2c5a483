"""One trainer for every model and task, on every device, surviving restarts.

A task is data + a head kind + a metric (tasks/base.py); the model is built from the
registry (models.py). `train_step` and `eval_step` are pure functions of arrays (steps.py,
with the jitted forms a run uses), jitted once by `train_and_evaluate`. The loss and the
metric sums are in metrics.py (divided on the host only when a line is logged: no per-step
host sync), the optimizer in optim.py.

Scale-out (sharding.py): one `Mesh` over all devices (of all processes), the batch sharded
along its 'data' axis, parameters and optimizer state replicated; the step is jitted once
with those in/out shardings, so XLA inserts the gradient all-reduce. The same code runs on
1 CPU, 8 simulated CPU devices, a multi-GPU host or a TPU pod slice (config.distributed).

Durability: Orbax checkpoints (checkpoint.py) every config.checkpoint_every steps and at
the end; a restart with the same workdir resumes from the newest good one. Batches are a
pure function of (seed, step) and dropout keys are fold_in(rng, step), so a resumed run
ends with bit-for-bit the parameters (and metrics.jsonl) of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.sharding import PartitionSpec as P

from cnnrnn_jax import (
  checkpoint,
  config_checks,
  flops,
  models,
  plugins,
  profiling,
  progress,
  selection,
  steps,
  stopping,
  tasks,
)
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError, Interrupted, WriteError
from cnnrnn_jax.metrics import (
  NO_BAD_STEP,
  Metrics,
  MetricWriter,
  headline,
  seed_summary,  # noqa: F401  (moved to metrics.py; re-exported)
  summarize,
)
from cnnrnn_jax.models import count_params
from cnnrnn_jax.optim import make_optimizer
from cnnrnn_jax.sharding import DATA_AXIS, InFlight, data_mesh, initialize_distributed, put_global
from cnnrnn_jax.steps import (  # noqa: F401  (the step functions: steps.py; re-exported)
  TrainState,
  eval_step,
  train_and_accumulate,
  train_step,
)
from cnnrnn_jax.tasks.base import Task, TaskSpec, model_args

logger = logging.getLogger(__name__)  # under progress.LOGGER: shown in a notebook too


def setup(config: ml_collections.ConfigDict) -> tuple[Task, nn.Module]:
  """Builds task and model from the config, validating everything before any compile.

  First imports the config's plugins (`config.plugins`), so a run restored from its
  config.json, or a job in a worker process, finds the models and tasks they register.
  """
  plugins.load(config.get("plugins"))
  config_checks.check(config)  # the optimizer's knobs included (optim.OPTIMIZERS)
  task = tasks.build(config.task, config.data, config.seed)
  dtype = config.get("dtype", "float32")  # configs saved before the knob: float32
  model = models.build_model(config.model, config.arch, task.spec, dtype)
  return task, model


def _completed(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config`, or a copy with the registered settings of its model and task that it lacks
  (a config built before its plugin was imported), so config.json records every one used."""
  arch = plugins.with_settings(config.arch, "arch", config.model)
  data = plugins.with_settings(config.data, "data", config.task)
  if arch is config.arch and data is config.data:
    return config
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.arch, config.data = arch, data
  return config


def init_state(config: ml_collections.ConfigDict, task: Task, model: nn.Module) -> TrainState:
  """Initial parameters (from config.seed) and optimizer state."""
  batch = task.train_batch(0, config.batch_size)
  tx = make_optimizer(config.opt, config.train_steps)

  def create(key, *args):
    params = model.init(key, *args)["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  # jitted, parameters and optimizer state together: one compile instead of one per eager op
  # (the recurrent init alone is dozens, the optimizer's zeros one per parameter shape)
  return jax.jit(create)(jax.random.PRNGKey(config.seed), *model_args(batch))


def make_workdir(workdir: str) -> None:
  """Creates `workdir`; a ConfigError naming the flag when it cannot."""
  workdir_module.make(workdir)


# ---------------------------------------------------------------------------------------------
# The run


def restore(
  workdir: str, best: bool = False, average: int = 1
) -> tuple[ml_collections.ConfigDict, TrainState]:
  """(config, TrainState) of the newest good checkpoint in `workdir` (for eval, probes, plots).

  The parameters come back replicated over this process's devices. Raises FileNotFoundError
  when `workdir/checkpoints` holds no readable checkpoint. `best`: the parameters are those
  of WORKDIR/best_checkpoint (the step config.select_on chose; FileNotFoundError if none).
  `average` > 1: the parameters are the mean of the newest `average` readable checkpoints'
  (checkpoint averaging; a ConfigError when fewer are kept).
  """
  if average < 1 or (best and average > 1):
    raise ConfigError(f"restore: average={average} must be >= 1, and 1 with best=True")
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  try:
    steps = ckpts.steps()
    config = None
    for step in reversed(steps):  # the config of the newest readable checkpoint
      try:
        config = ml_collections.ConfigDict(ckpts.read_meta(step)["config"])
        break
      except Exception:  # noqa: BLE001 -- restore_latest below reports and sets it aside
        continue
    if config is None:
      raise FileNotFoundError(f"no readable checkpoint in {ckpts.directory}")
    task, model = setup(tasks.with_saved_assets(config, workdir))
    mesh = data_mesh()
    abstract = _abstract_tree(config, task, model, jax.sharding.NamedSharding(mesh, P()))
    newest = ckpts.restore_newest(abstract, config, count=average)
    found = newest[0] if newest else None
    if 0 < len(newest) < average:
      raise ConfigError(
        f"{ckpts.directory} holds {len(newest)} readable checkpoints, fewer than the "
        f"{average} to average; average at most {len(newest)}, or train with "
        f"--config.keep_checkpoints={average}"
      )
    if average > 1:
      params = jax.tree.map(
        lambda *xs: sum(xs) / average, *(t["state"].params for _, t, _ in newest)
      )
      found[1]["state"] = found[1]["state"].replace(params=params)
    if best and found is not None:
      kept = checkpoint.Checkpoints(workdir, read_only=True, subdir=checkpoint.BEST_SUBDIR)
      try:
        chosen = kept.restore_latest({"params": abstract["state"].params})
      finally:
        kept.close()
      if chosen is None:
        raise FileNotFoundError(f"no readable checkpoint in {kept.directory}")
      found[1]["state"] = found[1]["state"].replace(params=chosen[1]["params"])
  finally:
    ckpts.close()
  if found is None:
    raise FileNotFoundError(f"no readable checkpoint in {ckpts.directory}")
  return config, found[1]["state"]


def _zero_sums(state, task, config):
  """The running sums of a logging window at its start: zeros shaped like train_step's sums
  (the metric sums of `loss_and_sums`, shaped by a forward pass alone, and the first
  non-finite step, shaped like the step counter)."""
  batch = task.train_batch(0, config.batch_size)
  shapes = jax.eval_shape(
    functools.partial(eval_step, apply_fn=state.apply_fn, spec=task.spec), state.params, batch
  )
  zeros = {k: np.zeros(v.shape, v.dtype) for k, v in shapes.items()}
  step_dtype = jax.numpy.asarray(state.step).dtype
  return {**zeros, "first_nonfinite_step": np.full((), NO_BAD_STEP, step_dtype)}


def _abstract_tree(config, task, model, replicated):
  """Shapes, dtypes and shardings of what a checkpoint holds, without initializing anything."""

  def tree():
    state = init_state(config, task, model)
    return {"state": state, "sums": _zero_sums(state, task, config)}

  return jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), jax.eval_shape(tree)
  )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains `config.model` on `config.task`; returns the final eval metrics."""
  return train_and_return_state(config, workdir)[1]


def train_over_seeds(
  config: ml_collections.ConfigDict, workdir: str, seeds: Iterable[int]
) -> dict[int, dict[str, float]]:
  """Runs `config` once per seed into workdir/seed_S; returns {seed: final eval metrics}.

  A seed whose run finished already is restored from its final checkpoint, not retrained.
  The mean and sample std of each final metric (`seed_summary`) go to workdir/seeds.json.
  """
  lock = workdir_module.locked(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
  with lock:
    return _train_seeds(config, workdir, seeds)


def _train_seeds(config, workdir, seeds):
  results = {}
  for seed in seeds:
    seeded = config.copy_and_resolve_references()
    with seeded.unlocked():
      seeded.seed = int(seed)
    results[int(seed)] = train_and_evaluate(seeded, os.path.join(workdir, f"seed_{seed}"))
  if jax.process_index() == 0:
    path = os.path.join(workdir, "seeds.json")
    workdir_module.write_atomic(path, json.dumps(seed_summary(results), indent=2))
  return results


def train_and_return_state(
  config: ml_collections.ConfigDict, workdir: str
) -> tuple[TrainState, dict[str, float]]:
  """Trains `config.model` on `config.task` over all devices; returns (state, eval metrics).

  With config.select_on (e.g. 'validation'), every evaluation also scores that split, and
  the returned metrics are the eval split's at the step that scored best on it (plus
  `selected_step`); the returned state is the last one.
  Writes config.json, metrics.jsonl, TensorBoard scalars, the task's assets (e.g.
  vocab.json) and (config.checkpoint_every > 0) checkpoints into `workdir`, and resumes from
  the newest good checkpoint found there.
  Holds the workdir's lock (workdir.py) while it runs. Raises ConfigError for bad settings
  (before compiling anything), WriteError (one line naming the path, the errno and the last
  good checkpoint) when a write fails, Interrupted after SIGTERM/SIGINT (the step finished
  and saved), and FloatingPointError naming the step when the loss stops being finite (the
  last checkpoint stays good).
  """
  with progress.shown():  # a notebook or a script with no logging setup sees the run too
    return _check_and_train(config, workdir)


def _check_and_train(config, workdir):
  plugins.load(config.get("plugins"))  # their settings are checked too
  config_checks.check(config)  # before joining a cluster with a bad setting
  initialize_distributed(config)
  task, model = setup(config)
  config = _completed(config)
  if config.opt.warmup_steps >= config.train_steps:
    logger.warning(
      "config.opt.warmup_steps=%d >= config.train_steps=%d: the whole run is warmup (the "
      "learning rate never reaches its peak); lower config.opt.warmup_steps",
      config.opt.warmup_steps,
      config.train_steps,
    )
  chooser = selection.selection_task(config)
  mesh = data_mesh(config.batch_size)
  primary = jax.process_index() == 0
  lock = workdir_module.locked(workdir) if primary else contextlib.nullcontext()
  with lock, stopping.on_signals() as stop:
    try:
      return _train(config, workdir, task, model, mesh, primary, stop, chooser)
    except WriteError as e:
      raise e.with_note(checkpoint.kept_note(config, workdir)) from None


def _train(config, workdir, task, model, mesh, primary, stop, chooser=None):
  checkpoint.check_workdir_config(config, workdir)
  if primary:
    task.save_assets(workdir)  # e.g. vocab.json, so evaluation and later runs reuse it
    workdir_module.write_atomic(os.path.join(workdir, "config.json"), config.to_json(indent=2))

  spec = task.spec
  replicated = jax.sharding.NamedSharding(mesh, P())
  batch_sharding = jax.sharding.NamedSharding(mesh, P(DATA_AXIS))
  ckpts = None
  if config.get("checkpoint_every", 0):
    ckpts = checkpoint.Checkpoints(workdir, config.keep_checkpoints)
  elif workdir_module.exists(os.path.join(workdir, checkpoint.SUBDIR)):
    logger.warning(
      "config.checkpoint_every=0: starting from scratch and ignoring the checkpoints in %s", workdir
    )
  try:
    result = _restore_and_loop(
      config, workdir, task, model, ckpts, spec, replicated, batch_sharding, primary, stop, chooser
    )
  except BaseException:
    if ckpts is not None:
      ckpts.close(quiet=True)  # an error is on its way already: do not replace it
    raise
  if ckpts is not None:
    ckpts.close()
  return result


def _restore_and_loop(
  config, workdir, task, model, ckpts, spec, replicated, batch_sharding, primary, stop, chooser
):
  found = None
  if ckpts is not None and ckpts.steps():
    found = ckpts.restore_latest(_abstract_tree(config, task, model, replicated), config)
  if found:
    start, state, sums = found[0], found[1]["state"], found[1]["sums"]
    checkpoint.check_resume(config, ckpts, start, found[2])
  else:
    start = 0
    state = put_global(jax.device_get(init_state(config, task, model)), replicated)
  zero_sums = put_global(_zero_sums(state, task, config), replicated)
  if not found:
    sums = zero_sums
  logger.info(
    "model %s on task %s: %s parameters; %s; %d devices (%d processes)",
    config.model,
    config.task,
    f"{count_params(state.params):,}",
    spec,
    jax.device_count(),
    jax.process_count(),
  )
  step_fn, step_flops = steps.compiled_train_step(
    state, sums, task, config, replicated, batch_sharding, start
  )
  run = _Run(
    config=config,
    task=task,
    select_spec=None if chooser is None else chooser.spec,
    select_fn=None
    if chooser is None
    else steps.sharded_evaluator(
      model, chooser, state.params, config.batch_size, replicated, batch_sharding
    ),
    metrics_path=os.path.join(workdir, workdir_module.METRICS_FILE),
    ckpts=ckpts,
    zero_sums=zero_sums,
    step_fn=step_fn,
    eval_fn=steps.sharded_evaluator(
      model, task, state.params, config.batch_size, replicated, batch_sharding
    ),
    batch_sharding=batch_sharding,
    rng=put_global(jax.random.PRNGKey(config.seed + 1), replicated),
    writer=MetricWriter(workdir, config.seed, start, active=primary),
    stop=stop,
    cost=flops.StepCost.of(step_flops, config.get("dtype", "float32"), config.get("peak_flops"))
    if config.get("log_flops", True)
    else flops.StepCost(None),
    trace=profiling.StepTrace(profiling.parse_steps(config.get("profile_steps")), workdir, primary),
  )
  logger.info("train step in %s: %s", config.get("dtype", "float32"), run.cost.describe())
  if chooser is not None and ckpts is not None:  # checkpoint_every=0: none kept
    run.best = selection.BestCheckpoint(workdir, config, chooser.spec, run.metrics_path)
  with selection.closing(run.best):
    try:
      return _loop(run, state, sums, start)
    finally:
      run.trace.stop()
      run.writer.close()


@dataclasses.dataclass
class _Run:
  config: Any
  task: Any
  ckpts: checkpoint.Checkpoints | None
  zero_sums: Metrics
  step_fn: Any
  eval_fn: Any
  batch_sharding: jax.sharding.Sharding
  rng: jax.Array
  writer: MetricWriter
  stop: stopping.StopRequest
  select_spec: TaskSpec | None = None  # the selection split's (its own naive baseline)
  select_fn: Any = None
  metrics_path: str = ""
  cost: flops.StepCost = flops.StepCost(None)  # FLOPs of a train step, the device's peak
  trace: profiling.StepTrace | None = None
  best: selection.BestCheckpoint | None = None


def _check_finite(run: _Run, sums: Metrics) -> None:
  first = int(sums["first_nonfinite_step"])
  if first != NO_BAD_STEP:
    config, last = run.config, run.ckpts and run.ckpts.steps()
    kept = f"; checkpoint {last[-1]} is the last good state" if last else ""
    raise FloatingPointError(
      f"loss is not finite at step {first} of {config.model} on {config.task}{kept}; "
      "lower config.opt.learning_rate or config.opt.clip_norm"
    )


def _stop(run: _Run, sums: Metrics, step: int, saved: bool, state=None) -> None:
  """Saves the state after `step` (unless saved already) and raises Interrupted."""
  config, name = run.config, run.stop.name
  where = f"stopped by {name} after step {step} of {config.train_steps}"
  if run.ckpts is None:
    raise Interrupted(
      f"{where}; nothing saved (config.checkpoint_every=0): a rerun starts from step 0", name
    )
  if not saved:
    _check_finite(run, sums)  # never save a state that went through a non-finite step
    run.ckpts.save(step, {"state": state, "sums": sums}, config)
  run.ckpts.wait_until_finished()
  if step == 0:
    raise Interrupted(f"{where}; nothing to save yet: rerun the same command to start", name)
  path = os.path.join(run.ckpts.directory, str(step))
  raise Interrupted(f"{where}; saved {path}: rerun the same command to resume from it", name)


def _loop(run: _Run, state, sums, start: int):
  config, task, writer = run.config, run.task, run.writer
  spec, total, every = task.spec, config.train_steps, config.get("checkpoint_every", 0)
  t_start = t_last = time.perf_counter()
  last_logged, eval_metrics, in_flight = start, None, InFlight()
  if run.stop.name and start < total:  # a signal during compile or restore
    _stop(run, sums, start, saved=True)
  for step in range(start + 1, total + 1):
    batch = put_global(task.train_batch(step - 1, config.batch_size), run.batch_sharding)
    run.trace.before(step)
    state, sums = run.step_fn(state, sums, batch, run.rng)
    run.trace.after(step, sums)
    in_flight.push(sums["count"])
    log = step % config.log_every == 0 or step == total
    evaluate_now = step % config.eval_every == 0 or step == total
    save = run.ckpts is not None and (step % every == 0 or step == total)
    if log or evaluate_now or save:
      _check_finite(run, sums)  # values come to the host only at these boundaries
    if log:
      train_metrics = summarize(spec, sums)
      now = time.perf_counter()
      rate = (step - last_logged) / max(now - t_last, 1e-9)
      efficiency = run.cost.record(rate)
      writer.write(step, "train", {**train_metrics, "steps_per_sec": rate, **efficiency})
      logger.info(
        "step %d/%d  loss %.4f  %s %.4f  %.1f steps/s%s  ETA %.0fs",
        step,
        total,
        train_metrics["loss"],
        headline(spec),
        train_metrics.get(headline(spec), float("nan")),
        rate,
        run.cost.text(efficiency),
        (total - step) / max(rate, 1e-9),
      )
      sums, t_last, last_logged = run.zero_sums, now, step
    if evaluate_now:
      if run.select_fn is not None:
        chosen = summarize(run.select_spec, run.select_fn(state.params))
        writer.write(step, config.select_on, chosen)
        if run.best is not None:
          run.best.offer(step, state.params, chosen)
      eval_metrics = summarize(spec, run.eval_fn(state.params))
      writer.write(step, "eval", eval_metrics)
      logger.info(
        "eval at step %d: %s", step, "  ".join(f"{k} {v:.4f}" for k, v in eval_metrics.items())
      )
    if save:  # after this step's lines are written: a resume keeps exactly those
      run.ckpts.save(step, {"state": state, "sums": sums}, config)
    if run.stop.name and step < total:
      _stop(run, sums, step, saved=save, state=state)
  if eval_metrics is None:  # restored at the last step: its lines are already written
    eval_metrics = summarize(spec, run.eval_fn(state.params))
  logger.info("trained steps %d..%d in %.1fs", start + 1, total, time.perf_counter() - t_start)
  if run.select_fn is not None:
    eval_metrics = (
      selection.selected_metrics(run.metrics_path, config.select_on, spec) or eval_metrics
    )
  return state, eval_metrics
