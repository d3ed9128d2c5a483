"""What a model costs: parameters, time, memory, depth and scaling, each a measurement.

Shape key: B batch, L length, N devices.

  parameters   `param_count`, and `match_param_budget`: the width at which a model has
               about a given number of parameters (comparisons are at equal budgets)
  speed        train-step and inference seconds per example after compilation (compile
               time apart), `speed`
  memory       XLA's compiled memory analysis of a train step, per example, `memory_stats`
  throughput   inference examples per second at a batch size, `inference_throughput`
  depth        the critical path of the computation (`critical_path`, `sequential_depth`):
               its time on unlimited parallel hardware
  scaling      data-parallel throughput over the devices present, `data_parallel`

Every measurement takes a training config (configs/default.py) and builds task and model
through `train.setup`, so any registered model or task can be measured; times are medians
after compilation (timing.py). probes.py has the probes of what a model learned.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.extend.core as jex
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cnnrnn_jax import models, train
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.optim import make_optimizer
from cnnrnn_jax.sharding import DATA_AXIS, data_mesh
from cnnrnn_jax.tasks.base import Batch
from cnnrnn_jax.timing import median_seconds

WIDTH_KNOBS = ("hidden", "num_filters")


# ---------------------------------------------------------------------------------------------
# parameter budgets


def param_shapes(config: ml_collections.ConfigDict) -> Any:
  """The parameter tree of `config.model` on `config.task` as shapes (nothing computed)."""
  return models.abstract_params(train.setup(config)[1])


def param_count(config: ml_collections.ConfigDict) -> int:
  """Parameters of `config.model` on `config.task` (from shapes: nothing is computed)."""
  return models.count_params(param_shapes(config))


def _with_width(
  config: ml_collections.ConfigDict, knob: str, width: int
) -> ml_collections.ConfigDict:
  config = config.copy_and_resolve_references()
  config.arch[knob] = int(width)
  return config


def match_param_budget(
  config: ml_collections.ConfigDict, budget: int, knobs: Sequence[str] = WIDTH_KNOBS
) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
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
    raise ConfigError(
      f"model {config.model!r}: none of config.arch.{{{', '.join(knobs)}}} changes "
      "its parameter count; add its width knob to the compare config's width_knobs"
    )
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
    candidates = [
      w for w in (nearest_valid(around[0], -1), nearest_valid(around[1], 1)) if w is not None
    ]
    if width is not None:
      candidates = [w for w in candidates if miss(w) < miss(width)]
    if not candidates:
      break
    width = min(candidates, key=lambda w: (miss(w), w))
  if width is None:
    raise ConfigError(
      f"model {config.model!r}: no valid config.arch.{knob} found near "
      f"{estimate} for a budget of {budget} parameters"
    )
  return _with_width(config, knob, width), {
    "knob": knob,
    "width": width,
    "params": count(width),
    "budget": int(budget),
  }


# ---------------------------------------------------------------------------------------------
# speed and memory


@contextlib.contextmanager
def compilation_cache(path: str | None) -> Iterator[None]:
  """JAX's persistent compilation cache in directory `path` (None: off) for the duration.

  With it, a program compiled once (same model, shapes and constants: e.g. another
  seed) is loaded instead of compiled again. Timed compiles run with it off.
  """
  from jax.experimental.compilation_cache import compilation_cache as cc

  previous = (
    jax.config.jax_compilation_cache_dir,
    jax.config.jax_persistent_cache_min_compile_time_secs,
  )
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


def predict(
  params: Any, inputs: jax.Array, lengths_B: jax.Array, *, apply_fn: Callable
) -> jax.Array:
  """The model's outputs in inference mode (no dropout, aux dropped)."""
  return apply_fn({"params": params}, inputs, lengths_B, train=False)[0]


def memory_stats(compiled: jax.stages.Compiled, batch_size: int) -> dict[str, float]:
  """XLA's memory analysis of a compiled computation; peak = arguments + outputs +
  temporaries - aliased (donated) bytes, also divided by the batch size."""
  analysis = compiled.memory_analysis()
  if analysis is None:  # some backends do not report it
    return {}
  stats = {
    name: int(getattr(analysis, f"{name}_size_in_bytes"))
    for name in ("argument", "output", "temp", "alias", "generated_code")
  }
  peak = stats["argument"] + stats["output"] + stats["temp"] - stats["alias"]
  return {
    **{f"{k}_bytes": v for k, v in stats.items()},
    "peak_bytes": peak,
    "peak_bytes_per_example": peak / batch_size,
    "temp_bytes_per_example": stats["temp"] / batch_size,
  }


def timing_params(model: nn.Module, batch: Batch, seed: int = 0) -> Any:
  """Parameters of the model's shapes filled with N(0, 0.1^2) numbers drawn by numpy.

  Time and compiled memory do not depend on parameter values, and this skips
  compiling the model's init (a whole forward pass) for each length and batch size.
  """
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  rng = np.random.default_rng(seed)
  return jax.tree.map(
    lambda s: jnp.asarray(0.1 * rng.standard_normal(s.shape), s.dtype), shapes["params"]
  )


def _train_step_parts(config, task=None):
  if task is None:
    task, model = train.setup(config)
  else:  # a stand-in of the config's task (same spec), e.g. random data of its shapes
    model = models.build_model(config.model, config.arch, task.spec)
  batch = task.train_batch(0, config.batch_size)
  state = train.TrainState.create(
    apply_fn=model.apply,
    params=timing_params(model, batch),
    tx=make_optimizer(config.opt, config.train_steps),
  )
  return task, model, state, batch, jax.random.PRNGKey(config.seed)


def compile_train_step(
  config: ml_collections.ConfigDict, task: Any = None
) -> tuple[jax.stages.Compiled, tuple[train.TrainState, Batch, jax.Array], float, float]:
  """(compiled train step, its arguments, lower seconds, compile seconds); `task` replaces
  the config's task (e.g. random data of the same spec) when given."""
  task, _, state, batch, rng = _train_step_parts(config, task)
  step = jax.jit(functools.partial(train.train_step, spec=task.spec))
  start = time.perf_counter()
  lowered = step.lower(state, batch, rng)
  lowered_at = time.perf_counter()
  with compilation_cache(None):  # a compile time must be a real compile
    compiled = lowered.compile()
  return compiled, (state, batch, rng), lowered_at - start, time.perf_counter() - lowered_at


def memory(config: ml_collections.ConfigDict) -> dict[str, float]:
  """Compiled memory of one train step of `config` (no step is run)."""
  compiled, *_ = compile_train_step(config)
  return memory_stats(compiled, config.batch_size)


def speed(
  config: ml_collections.ConfigDict, repeats: int = 10, max_peak_bytes: int = 0
) -> dict[str, Any]:
  """Train-step and inference time per example after compilation, compile times apart,
  and the train step's compiled memory, at `config`'s batch size and sequence length.

  With `max_peak_bytes` > 0, a train step whose compiled peak memory exceeds it is not run:
  the result is its memory analysis and {"skipped": why}."""
  compiled, (state, batch, rng), lower_s, compile_s = compile_train_step(config)
  memory_used = memory_stats(compiled, config.batch_size)
  if max_peak_bytes and memory_used.get("peak_bytes", 0) > max_peak_bytes:
    return {
      "skipped": f"compiled train step needs {memory_used['peak_bytes'] / 2**30:.1f} GiB, "
      f"over the limit of {max_peak_bytes / 2**30:.1f} GiB",
      **memory_used,
    }
  train_s = median_seconds(compiled, (state, batch, rng), repeats)
  forward = jax.jit(functools.partial(predict, apply_fn=state.apply_fn))
  start = time.perf_counter()
  with compilation_cache(None):
    forward_compiled = forward.lower(state.params, batch["inputs"], batch["lengths"]).compile()
  infer_compile_s = time.perf_counter() - start
  infer_s = median_seconds(
    forward_compiled, (state.params, batch["inputs"], batch["lengths"]), repeats
  )
  B = config.batch_size
  return {
    "batch_size": B,
    "seq_len": int(batch["inputs"].shape[1]),
    "train_s_per_step": train_s,
    "train_s_per_example": train_s / B,
    "infer_s_per_step": infer_s,
    "infer_s_per_example": infer_s / B,
    "train_lower_s": lower_s,
    "train_compile_s": compile_s,
    "infer_compile_s": infer_compile_s,
    **memory_used,
  }


def inference_throughput(config: ml_collections.ConfigDict, repeats: int = 5) -> dict[str, float]:
  """Examples per second of the jitted forward pass at `config`'s batch size and length."""
  task, model = train.setup(config)
  batch = task.train_batch(0, config.batch_size)
  params = timing_params(model, batch)
  forward = jax.jit(functools.partial(predict, apply_fn=model.apply))
  seconds = median_seconds(forward, (params, batch["inputs"], batch["lengths"]), repeats)
  return {
    "batch_size": config.batch_size,
    "seq_len": int(batch["inputs"].shape[1]),
    "infer_s_per_step": seconds,
    "examples_per_s": config.batch_size / seconds,
  }


# ---------------------------------------------------------------------------------------------
# scalability: the critical path, data parallelism


def critical_path(jaxpr: jex.ClosedJaxpr | jex.Jaxpr) -> int:
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


def sequential_depth(config: ml_collections.ConfigDict) -> int:
  """Critical path of the inference forward pass of `config` (traced, never compiled)."""
  task, model = train.setup(config)
  batch = task.train_batch(0, config.batch_size)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  forward = functools.partial(predict, apply_fn=model.apply)
  return critical_path(jax.make_jaxpr(forward)(shapes["params"], batch["inputs"], batch["lengths"]))


def data_parallel(
  config: ml_collections.ConfigDict, device_counts: Iterable[int] | None = None, repeats: int = 5
) -> dict[str, Any]:
  """Train-step throughput with the batch sharded over 1, 2, 4, ... of the devices present.

  Weak scaling: each device keeps `config.batch_size` examples, so the global batch is
  `batch_size * n`. Parameters and optimizer state are replicated (jax.sharding Mesh
  with one 'data' axis). Returns {devices: [...], examples_per_s: [...],
  efficiency: [...]} where efficiency = throughput(n) / (n * throughput(1)).
  """
  present = jax.device_count()
  if device_counts is None:
    device_counts = [n for n in (2**i for i in range(12)) if n <= present]
  device_counts = list(device_counts)
  if any(n > present for n in device_counts):
    raise ConfigError(
      f"data_parallel: asked for {max(device_counts)} devices but only {present} are present"
    )
  out = {"devices_present": present, "devices": [], "examples_per_s": [], "efficiency": []}
  for n in device_counts:
    global_config = config.copy_and_resolve_references()
    global_config.batch_size = config.batch_size * n
    task, _, state, batch, rng = _train_step_parts(global_config)
    mesh = data_mesh(num_devices=n)
    replicated = NamedSharding(mesh, P())
    sharded = NamedSharding(mesh, P(DATA_AXIS))
    step = jax.jit(
      functools.partial(train.train_step, spec=task.spec),
      in_shardings=(replicated, sharded, replicated),
      out_shardings=(replicated, replicated),
    )
    args = (
      jax.device_put(state, replicated),
      jax.device_put(batch, sharded),
      jax.device_put(rng, replicated),
    )
    seconds = median_seconds(step, args, repeats)
    out["devices"].append(n)
    out["examples_per_s"].append(global_config.batch_size / seconds)
    out["efficiency"].append(out["examples_per_s"][-1] / (n * out["examples_per_s"][0]))
  return out
