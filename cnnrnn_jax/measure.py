"""Probes: each row of the folklore table turned into a measurement.

Shape key: B batch, L length, E encoder input width (embedding or input channels),
N devices.

  speed        train-step and inference seconds per example after compilation (compile
               time apart), `speed`
  memory       XLA's compiled memory analysis of a train step, per example, `memory_stats`
  order        accuracy, and its drop when blocks of `window` steps are shuffled,
               `block_shuffle` / `shuffle_drop`
  distance     accuracy against dependency distance and the longest distance solved,
               `accuracy_by_distance` / `longest_solved`
  gradient     ||dloss/dx_t|| against the distance of step t from the output,
               `make_input_gradient_fn` / `gradient_by_distance` / `decay_orders`
  stability    whether a run converged, `converged`
  scalability  inference throughput against batch size, the critical path of the
               computation (`critical_path`, `sequential_depth`), and data-parallel
               scaling over the devices present (`data_parallel`)

Every probe takes a training config (configs/default.py) and builds task and model
through `train.setup`, so any registered model or task can be measured. Probes return
plain dicts of numbers, which suite.py stores as records.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import flax.linen as nn
import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np

from cnnrnn_jax import models, tasks, train
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import Batch, Task, TaskSpec

WIDTH_KNOBS = ("hidden", "num_filters")


# ---------------------------------------------------------------------------------------------
# parameter budgets

def param_shapes(config):
  """The parameter tree of `config.model` on `config.task` as shapes (nothing computed)."""
  task, model = train.setup(config)
  batch = task.train_batch(0, 1)
  return jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"],
                        batch["lengths"])["params"]


def param_count(config) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(param_shapes(config)))


def _with_width(config, knob: str, width: int):
  config = config.copy_and_resolve_references()
  config.arch[knob] = int(width)
  return config


def match_param_budget(config, budget: int, knobs: Sequence[str] = WIDTH_KNOBS):
  """Scales one width knob of `config.arch` so the model has about `budget` parameters.

  The knob is the first of `knobs` that changes the parameter count of this model
  (`hidden` for recurrent models and the bag, `num_filters` for the CNN). Widths the
  model rejects (e.g. a transformer's hidden size not divisible by its heads) are
  skipped. Returns (config, info) with info = {knob, width, params, budget}.
  """
  base = param_count(config)
  for knob in knobs:
    wider = knob in config.arch and _with_width(config, knob, 2 * config.arch[knob])
    if wider and param_count(wider) != base:
      break
  else:
    raise ConfigError(f"model {config.model!r}: none of config.arch.{{{', '.join(knobs)}}} changes "
                      "its parameter count; add its width knob to the compare config's width_knobs")
  counts: dict[int, int | None] = {}

  def count(width: int) -> int | None:
    """Parameters at `width`, None when the model rejects that width."""
    if width not in counts:
      try:
        counts[width] = param_count(_with_width(config, knob, width))
      except ConfigError:
        counts[width] = None
    return counts[width]

  # Parameter counts of dense layers are quadratic in the width: fit three points, solve,
  # then walk from the estimate to the valid width whose count is closest to the budget.
  xs = [16, 64, 256]
  a, b, c = np.polyfit(xs, [count(x) for x in xs], 2)
  roots = np.roots([a, b, c - budget]) if abs(a) > 1e-9 else np.array([(budget - c) / b])
  guesses = [int(round(r.real)) for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
  estimate = max(1, min(guesses, default=1))

  def nearest_valid(width: int, step: int) -> int | None:
    while 1 <= width < 1 << 16:
      if count(width) is not None:
        return width
      width += step
    return None

  miss = lambda w: abs(count(w) - budget)
  width = None
  while True:  # counts grow with the width: move to a valid neighbour while it is closer
    around = (estimate, estimate + 1) if width is None else (width - 1, width + 1)
    candidates = [w for w in (nearest_valid(around[0], -1), nearest_valid(around[1], 1))
                  if w is not None]
    if width is not None:
      candidates = [w for w in candidates if miss(w) < miss(width)]
    if not candidates:
      break
    width = min(candidates, key=lambda w: (miss(w), w))
  if width is None:
    raise ConfigError(f"model {config.model!r}: no valid config.arch.{knob} found near "
                      f"{estimate} for a budget of {budget} parameters")
  return _with_width(config, knob, width), {"knob": knob, "width": width,
                                            "params": count(width), "budget": int(budget)}


# ---------------------------------------------------------------------------------------------
# speed and memory

@contextlib.contextmanager
def compilation_cache(path: str | None) -> Iterator[None]:
  """JAX's persistent compilation cache in directory `path` (None: off) for the duration.

  With it, a program compiled once (same model, shapes and constants: e.g. another
  seed) is loaded instead of compiled again. Timed compiles run with it off.
  """
  from jax.experimental.compilation_cache import compilation_cache as cc
  previous = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs)
  if path == previous[0]:
    yield
    return
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  cc.reset_cache()
  try:
    yield
  finally:
    jax.config.update("jax_compilation_cache_dir", previous[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", previous[1])
    cc.reset_cache()

def median_seconds(fn: Callable, args: Sequence[Any], repeats: int) -> float:
  """Median wall time of `fn(*args)` over `repeats` calls, after one warm-up call."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(max(repeats, 1)):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def _forward(params, inputs, lengths, *, apply_fn):
  return apply_fn({"params": params}, inputs, lengths, train=False)[0]


def memory_stats(compiled, batch_size: int) -> dict[str, float]:
  """XLA's memory analysis of a compiled computation; peak = arguments + outputs +
  temporaries - aliased (donated) bytes, also divided by the batch size."""
  analysis = compiled.memory_analysis()
  if analysis is None:  # some backends do not report it
    return {}
  stats = {name: int(getattr(analysis, f"{name}_size_in_bytes"))
           for name in ("argument", "output", "temp", "alias", "generated_code")}
  peak = stats["argument"] + stats["output"] + stats["temp"] - stats["alias"]
  return {**{f"{k}_bytes": v for k, v in stats.items()}, "peak_bytes": peak,
          "peak_bytes_per_example": peak / batch_size,
          "temp_bytes_per_example": stats["temp"] / batch_size}


def timing_params(model, batch, seed: int = 0):
  """Parameters of the model's shapes filled with N(0, 0.1^2) numbers drawn by numpy.

  Time and compiled memory do not depend on parameter values, and this skips
  compiling the model's init (a whole forward pass) for each length and batch size.
  """
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(0.1 * rng.standard_normal(s.shape), s.dtype),
                      shapes["params"])


def _train_step_parts(config):
  task, model = train.setup(config)
  batch = task.train_batch(0, config.batch_size)
  state = train.TrainState.create(apply_fn=model.apply, params=timing_params(model, batch),
                                  tx=train.make_optimizer(config.opt, config.train_steps))
  return task, model, state, batch, jax.random.PRNGKey(config.seed)


def compile_train_step(config):
  """(compiled train step, its arguments, lower seconds, compile seconds)."""
  task, _, state, batch, rng = _train_step_parts(config)
  step = jax.jit(functools.partial(train.train_step, spec=task.spec))
  start = time.perf_counter()
  lowered = step.lower(state, batch, rng)
  lowered_at = time.perf_counter()
  with compilation_cache(None):  # a compile time must be a real compile
    compiled = lowered.compile()
  return compiled, (state, batch, rng), lowered_at - start, time.perf_counter() - lowered_at


def memory(config) -> dict[str, float]:
  """Compiled memory of one train step of `config` (no step is run)."""
  compiled, *_ = compile_train_step(config)
  return memory_stats(compiled, config.batch_size)


def speed(config, repeats: int = 10) -> dict[str, float]:
  """Train-step and inference time per example after compilation, compile times apart,
  and the train step's compiled memory, at `config`'s batch size and sequence length."""
  compiled, (state, batch, rng), lower_s, compile_s = compile_train_step(config)
  train_s = median_seconds(compiled, (state, batch, rng), repeats)
  forward = jax.jit(functools.partial(_forward, apply_fn=state.apply_fn))
  start = time.perf_counter()
  with compilation_cache(None):
    forward_compiled = forward.lower(state.params, batch["inputs"], batch["lengths"]).compile()
  infer_compile_s = time.perf_counter() - start
  infer_s = median_seconds(forward_compiled, (state.params, batch["inputs"], batch["lengths"]),
                           repeats)
  B = config.batch_size
  return {"batch_size": B, "seq_len": int(batch["inputs"].shape[1]),
          "train_s_per_step": train_s, "train_s_per_example": train_s / B,
          "infer_s_per_step": infer_s, "infer_s_per_example": infer_s / B,
          "train_lower_s": lower_s, "train_compile_s": compile_s,
          "infer_compile_s": infer_compile_s, **memory_stats(compiled, B)}


def inference_throughput(config, repeats: int = 5) -> dict[str, float]:
  """Examples per second of the jitted forward pass at `config`'s batch size and length."""
  task, model = train.setup(config)
  batch = task.train_batch(0, config.batch_size)
  params = timing_params(model, batch)
  forward = jax.jit(functools.partial(_forward, apply_fn=model.apply))
  seconds = median_seconds(forward, (params, batch["inputs"], batch["lengths"]), repeats)
  return {"batch_size": config.batch_size, "seq_len": int(batch["inputs"].shape[1]),
          "infer_s_per_step": seconds, "examples_per_s": config.batch_size / seconds}


# ---------------------------------------------------------------------------------------------
# scalability: the critical path, data parallelism

def critical_path(jaxpr) -> int:
  """Length of the longest chain of dependent operations in a (closed) jaxpr.

  Each primitive counts 1; a call counts its body's path; `scan` counts its length
  times its body's path (step t waits for step t-1); `while` counts its body once
  (its trip count is unknown); `cond` its longest branch. A `vmap` over positions or
  a batched matmul is one operation however wide it is: this is the depth of the
  computation, the time it needs with unlimited parallel hardware.
  """
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  depth: dict[Any, int] = {}
  for eqn in jaxpr.eqns:
    start = max((depth.get(v, 0) for v in eqn.invars if isinstance(v, jex.Var)), default=0)
    inner = [critical_path(sub) for sub in jex.jaxprs_in_params(eqn.params)]
    if not inner:
      cost = 1
    elif eqn.primitive.name == "scan":
      cost = int(eqn.params["length"]) * max(inner)
    else:
      cost = max(inner)
    for v in eqn.outvars:
      depth[v] = start + cost
  return max((depth.get(v, 0) for v in jaxpr.outvars if isinstance(v, jex.Var)), default=0)


def sequential_depth(config) -> int:
  """Critical path of the inference forward pass of `config` (traced, never compiled)."""
  task, model = train.setup(config)
  batch = task.train_batch(0, config.batch_size)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  forward = functools.partial(_forward, apply_fn=model.apply)
  return critical_path(jax.make_jaxpr(forward)(shapes["params"], batch["inputs"],
                                               batch["lengths"]))


def data_parallel(config, device_counts: Iterable[int] | None = None, repeats: int = 5):
  """Train-step throughput with the batch sharded over 1, 2, 4, ... of the devices present.

  Weak scaling: each device keeps `config.batch_size` examples, so the global batch is
  `batch_size * n`. Parameters and optimizer state are replicated (jax.sharding Mesh
  with one 'data' axis). Returns {devices: [...], examples_per_s: [...],
  efficiency: [...]} where efficiency = throughput(n) / (n * throughput(1)).
  """
  from jax.sharding import AxisType, NamedSharding, PartitionSpec
  present = jax.device_count()
  if device_counts is None:
    device_counts = [n for n in (2 ** i for i in range(12)) if n <= present]
  device_counts = list(device_counts)
  if any(n > present for n in device_counts):
    raise ConfigError(f"data_parallel: asked for {max(device_counts)} devices but only "
                      f"{present} are present")
  out = {"devices_present": present, "devices": [], "examples_per_s": [], "efficiency": []}
  for n in device_counts:
    global_config = config.copy_and_resolve_references()
    global_config.batch_size = config.batch_size * n
    task, _, state, batch, rng = _train_step_parts(global_config)
    mesh = jax.make_mesh((n,), ("data",), axis_types=(AxisType.Auto,),
                         devices=jax.devices()[:n])
    replicated = NamedSharding(mesh, PartitionSpec())
    sharded = NamedSharding(mesh, PartitionSpec("data"))
    step = jax.jit(functools.partial(train.train_step, spec=task.spec),
                   in_shardings=(replicated, sharded, replicated),
                   out_shardings=(replicated, replicated))
    args = (jax.device_put(state, replicated), jax.device_put(batch, sharded),
            jax.device_put(rng, replicated))
    seconds = median_seconds(step, args, repeats)
    out["devices"].append(n)
    out["examples_per_s"].append(global_config.batch_size / seconds)
    out["efficiency"].append(out["examples_per_s"][-1] / (n * out["examples_per_s"][0]))
  return out


# ---------------------------------------------------------------------------------------------
# accuracy: scored steps, shuffles, distance sweeps

def make_eval_fn(model, spec: TaskSpec):
  """The trainer's own eval step, jitted: (params, batch) -> metric sums."""
  return jax.jit(functools.partial(train.eval_step, apply_fn=model.apply, spec=spec))


def _copy_memory_recall(batch: Batch) -> Batch:
  """Copy memory is scored on the recalled digits only (its blanks are free accuracy)."""
  from cnnrnn_jax.tasks.synthetic import COPY_RECALL
  weights = np.zeros_like(batch["weights"])
  weights[:, -COPY_RECALL:] = batch["weights"][:, -COPY_RECALL:]
  return {**batch, "weights": weights}


# task name -> batch -> the same batch weighted on the steps a probe's accuracy counts
SCORED_STEPS: dict[str, Callable[[Batch], Batch]] = {"copy_memory": _copy_memory_recall}


def accuracy(eval_fn, params, batches: Iterable[Batch], spec: TaskSpec) -> float:
  """Weighted accuracy over `batches` (metric sums added on device, divided once)."""
  total = None
  for batch in batches:
    sums = eval_fn(params, batch)
    total = sums if total is None else jax.tree.map(jnp.add, total, sums)
  return train.summarize(spec, total)["accuracy"]


def scored_batches(task: Task, task_name: str, batch_size: int) -> Iterator[Batch]:
  score = SCORED_STEPS.get(task_name, lambda batch: batch)
  return (score(batch) for batch in task.eval_batches(batch_size))


def task_accuracy(eval_fn, params, task: Task, task_name: str, batch_size: int) -> float:
  """Eval-set accuracy on the steps that matter for the task (copy memory: the recall)."""
  return accuracy(eval_fn, params, scored_batches(task, task_name, batch_size), task.spec)


def block_shuffle(inputs, lengths_B, window: int, rng: np.random.Generator) -> np.ndarray:
  """Cuts each row's valid steps into blocks of `window` consecutive steps and puts the
  blocks in a random order. Order inside a block (anything a width-`window` filter
  sees) survives; order between blocks is gone; padding stays where it is."""
  if window < 1:
    raise ConfigError(f"shuffle window={window} must be >= 1")
  inputs = np.asarray(inputs)
  out = inputs.copy()
  for row, length in enumerate(np.asarray(lengths_B)):
    blocks = [inputs[row, s:min(s + window, length)] for s in range(0, int(length), window)]
    if blocks:
      out[row, :length] = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
  return out


def shuffle_drop(eval_fn, params, task: Task, batch_size: int, window: int,
                 seed: int = 0) -> dict[str, float]:
  """Accuracy on the eval set, and on the same inputs with blocks of `window` steps
  shuffled (scored against the original labels): drop = accuracy - shuffled accuracy.
  A model that ignores order has a drop of exactly 0."""
  rng = np.random.default_rng(seed)
  batches = list(task.eval_batches(batch_size))
  shuffled = [{**b, "inputs": block_shuffle(b["inputs"], b["lengths"], window, rng)}
              for b in batches]
  plain = accuracy(eval_fn, params, batches, task.spec)
  mixed = accuracy(eval_fn, params, shuffled, task.spec)
  return {"window": window, "accuracy": plain, "shuffled_accuracy": mixed,
          "drop": plain - mixed}


def accuracy_by_distance(eval_fn, params, config, distances: Sequence[int],
                         batch_size: int | None = None) -> dict[str, float]:
  """Accuracy of trained `params` on eval sets of `config.task` rebuilt at each fixed
  dependency distance (config.data.distance = d; the sequence length stays the same,
  so nothing recompiles). Keys are the distances as strings (JSON objects)."""
  batch_size = batch_size or config.batch_size
  out = {}
  for d in distances:
    data = config.data.copy_and_resolve_references()
    data.distance = int(d)
    task = tasks.build(config.task, data, config.seed)
    out[str(int(d))] = task_accuracy(eval_fn, params, task, config.task, batch_size)
  return out


def longest_solved(accuracy_at: dict, threshold: float = 0.9) -> int | None:
  """The end of the first unbroken run of solved distances (accuracy >= threshold),
  shortest first; None when no distance is solved. A model that solves 1..4, fails at
  8 and solves 31 again (a CNN reading the sequence boundaries) has solved up to 4."""
  longest = None
  for d in sorted(accuracy_at, key=int):
    solved = accuracy_at[d] is not None and accuracy_at[d] >= threshold
    if solved:
      longest = int(d)
    elif longest is not None:
      break
  return longest


# ---------------------------------------------------------------------------------------------
# gradients through time

def _is_encoder_call(context) -> bool:
  return (context.method_name == "__call__" and context.module.name == "encoder"
          and isinstance(context.module.parent, models.SequenceModel))


def make_input_gradient_fn(model, spec: TaskSpec):
  """A jitted `(params, batch) -> norms_BxL` with ||dloss/dx_t|| for every row and step,
  x_t = the encoder's input at step t (the masked embedding, or the raw inputs of
  continuous tasks), loss = the trainer's weighted task loss of `batch`.

  The gradient is read by adding a zero perturbation to the encoder's input through
  flax's method interceptor, so any registered encoder works unchanged.
  """
  forward = functools.partial(_forward, apply_fn=model.apply)

  def with_encoder_input(change):
    def interceptor(next_fun, args, kwargs, context):
      if _is_encoder_call(context):
        args = (change(args[0]),) + tuple(args[1:])
      return next_fun(*args, **kwargs)
    return nn.intercept_methods(interceptor)

  def norms_BxL(params, batch):
    shapes = []
    with with_encoder_input(lambda x: shapes.append(x) or x):
      jax.eval_shape(forward, params, batch["inputs"], batch["lengths"])

    def loss(delta_BxLxE):
      with with_encoder_input(lambda x_BxLxE: x_BxLxE + delta_BxLxE):
        outputs = forward(params, batch["inputs"], batch["lengths"])
      return train.loss_and_sums(spec, outputs, batch)[0]

    grads_BxLxE = jax.grad(loss)(jnp.zeros(shapes[0].shape, shapes[0].dtype))
    return jnp.linalg.norm(grads_BxLxE, axis=-1)

  return jax.jit(norms_BxL)


def at_output(batch: Batch, spec: TaskSpec, position_B=None) -> Batch:
  """The batch whose loss is the one of the model's output: unchanged for sequence heads;
  for per-step heads weighted only at `position_B` (default: each row's last valid step)."""
  if not spec.per_step:
    return batch
  position_B = batch["lengths"] - 1 if position_B is None else np.asarray(position_B)
  L = batch["inputs"].shape[1]
  weights = (np.arange(L)[None, :] == position_B[:, None]).astype(np.float32)
  return {**batch, "weights": weights}


def gradient_by_distance(norms_BxL: np.ndarray, lengths_B, position_B=None) -> dict[str, list]:
  """Mean gradient norm against distance d = position - t over valid steps (d >= 0 looks
  back; d < 0 is the future, which a causal model must not see). position defaults to
  each row's last valid step."""
  norms_BxL = np.asarray(norms_BxL, np.float64)
  lengths_B = np.asarray(lengths_B)
  position_B = lengths_B - 1 if position_B is None else np.asarray(position_B)
  t_L = np.arange(norms_BxL.shape[1])
  valid_BxL = t_L[None, :] < lengths_B[:, None]
  distance_BxL = position_B[:, None] - t_L[None, :]
  ds = np.unique(distance_BxL[valid_BxL])
  means, counts = [], []
  for d in ds:
    pick = valid_BxL & (distance_BxL == d)
    means.append(float(norms_BxL[pick].mean()))
    counts.append(int(pick.sum()))
  return {"distance": [int(d) for d in ds], "mean_norm": means, "count": counts}


def decay_orders(profile: dict[str, list]) -> float:
  """log10 of the mean gradient norm over the far half of the distances looked back
  (d >= D/2) over that of the nearest eighth (d <= D/8): about -k when the gradient
  vanishes by 10^k across the sequence, about 0 when every step is reached alike."""
  d = np.asarray(profile["distance"])
  norm = np.asarray(profile["mean_norm"])
  count = np.asarray(profile["count"])
  back = d >= 0
  if back.sum() < 2:
    raise ValueError("decay_orders needs at least two distances looking back")
  far_d = d[back].max()
  near = back & (d <= max(far_d // 8, 0))
  far = back & (d >= far_d / 2)
  mean = lambda pick: float(np.sum(norm[pick] * count[pick]) / np.sum(count[pick]))
  tiny = np.finfo(np.float32).tiny
  return math.log10(max(mean(far), tiny) / max(mean(near), tiny))


def gradient_profile(config, params=None, num_batches: int = 4) -> dict[str, Any]:
  """Gradient norm against distance from the output on the first `num_batches` eval
  batches of `config.task`, for `params` (default: the initial parameters of `config`)."""
  task, model = train.setup(config)
  if params is None:
    params = train.init_state(config, task, model).params
  norms_fn = make_input_gradient_fn(model, task.spec)
  norms, lengths = [], []
  for i, batch in enumerate(task.eval_batches(config.batch_size)):
    if i == num_batches:
      break
    real_B = batch["weights"] > 0 if batch["weights"].ndim == 1 else batch["weights"].max(1) > 0
    norms.append(np.asarray(norms_fn(params, at_output(batch, task.spec)))[real_B])
    lengths.append(batch["lengths"][real_B])
  profile = gradient_by_distance(np.concatenate(norms), np.concatenate(lengths))
  return {**profile, "decay_orders": decay_orders(profile), "seq_len": task.spec.seq_len}


# ---------------------------------------------------------------------------------------------
# stability

def chance_loss(spec: TaskSpec) -> float | None:
  """The loss of a predictor that learned nothing: the task's baseline when it has one,
  else ln(classes) (uniform guessing); None for a regression without a baseline."""
  if spec.baseline is not None:
    return float(spec.baseline)
  if spec.kind == "regress":
    return None
  return math.log(spec.num_outputs)


def converged(final_loss: float | None, spec: TaskSpec, fraction: float = 0.5) -> bool:
  """A run converged when its loss stayed finite and its final eval loss is at most
  `fraction` of the chance loss (it learned most of what there is to learn)."""
  reference = chance_loss(spec)
  if final_loss is None or not math.isfinite(final_loss) or reference is None:
    return False
  return final_loss <= fraction * reference
