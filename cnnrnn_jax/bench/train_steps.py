"""Seconds per training step of whole training configs, compiled once, timed in turn.

  step_times({name: config})   median seconds per step of each config
  keras_imdb_step_times()      the Keras IMDB pair (configs/keras_imdb.py) at IMDB's shapes
  video_step_costs(configs)    per video config: train step per clip, compiled memory, and
                               the clip generator's time per batch next to the step's
  reference_configs()          the reference configs of the train_steps suite, each at the
                               shapes users train it at (SST-2 sentences, copy memory T=200,
                               MNIST-1D, sequential MNIST)
  end_to_end(...)              the train_steps suite: each reference config's jitted train
                               step against its torch twin (bench.peers.twin_module, same
                               parameter count, timed in a separate process with 1 and 2
                               threads), its compile time (cold, and loaded from JAX's
                               persistent compilation cache), and the trainer's own steps/s
                               from a short real run next to the isolated step's rate

The suite's numbers are medians after compilation; "cached" compile seconds are those of a
program JAX's persistent compilation cache (`jax_compilation_cache_dir`) already holds, as
on a repeat run with the same model and shapes (measure.compilation_cache).

Per-step training time does not depend on what the tokens say, so a config can be timed
on synthetic data of the same batch, length and vocabulary (keras_imdb.timing_config).
Measured results are in configs/keras_imdb.py's docstring and docs/performance.md.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections
import numpy as np

from cnnrnn_jax import measure, models, tasks, train
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.bench import cost, peers
from cnnrnn_jax.configs import copy_memory, default, keras_imdb, mnist1d, seq_mnist
from cnnrnn_jax.tasks.arrays import DenseTask
from cnnrnn_jax.tasks.base import Batch, TaskSpec
from cnnrnn_jax.timing import median_seconds, time_interleaved


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


# ---------------------------------------------------------------------------------------------
# The train_steps suite: whole models against their torch twins

# GLUE SST-2's training file as `text_files` reads it: the longest sentence in tokens, and
# the vocabulary (words seen at least twice, with PAD and OOV).
SST2_SEQ_LEN = 56
SST2_VOCAB = 13_398


def _sst2_shaped(model: str, **arch: Any) -> ml_collections.ConfigDict:
  """`default.py:MODEL` (its default sizes) on `motif` sequences of SST-2's shapes."""
  config = default.get_config(f"{model},motif")
  config.data.seq_len = SST2_SEQ_LEN
  config.data.vocab_size = SST2_VOCAB - 1  # motif adds the PAD id
  config.arch.update(arch)
  return config


def reference_configs() -> dict[str, ml_collections.ConfigDict]:
  """The configs users train, at their shapes: text models at SST-2's (batch 64 x 56
  tokens, 13,398 words), tcn on copy memory T=200, the MNIST-1D GRU, the seq-MNIST TCN."""
  copy = copy_memory.get_config("tcn")
  copy.data.distance = 200
  return {
    "tcn_copy": copy,
    "kim_cnn": _sst2_shaped("cnn"),
    "lstm": _sst2_shaped("lstm"),
    "bilstm": _sst2_shaped("lstm", bidirectional=True),
    "gru": _sst2_shaped("gru"),
    "transformer": _sst2_shaped("transformer"),
    "gru_mnist1d": mnist1d.get_config("gru"),
    "tcn_seq_mnist": seq_mnist.get_config("tcn"),
  }


# What each reference config is, in the tables.
REFERENCE_LABELS = {
  "tcn_copy": "tcn, copy memory T=200 (configs/copy_memory.py:tcn)",
  "kim_cnn": "Kim CNN, default sizes, SST-2 shapes",
  "lstm": "LSTM, default sizes (hidden 128), SST-2 shapes",
  "bilstm": "bi-LSTM, same",
  "gru": "GRU, same",
  "transformer": "transformer, default sizes, SST-2 shapes",
  "gru_mnist1d": "GRU, MNIST-1D (configs/mnist1d.py:gru)",
  "tcn_seq_mnist": "tcn, seq-MNIST (configs/seq_mnist.py:tcn, random data)",
}


def stand_in_task(config: ml_collections.ConfigDict) -> DenseTask | None:
  """Random data of the shapes of a task that reads files (seq_mnist: 784 steps x 1
  channel, 10 classes), so its step is timed without the files; None for other tasks."""
  if config.task not in seq_mnist.TASKS:
    return None
  spec = TaskSpec(kind="classify", num_outputs=10, seq_len=784, input_dim=1)
  rng = np.random.default_rng(config.seed)
  x = rng.random((2 * config.batch_size, 784, 1), np.float32)
  y = rng.integers(0, 10, 2 * config.batch_size)
  return DenseTask(spec, config.seed, x, y, x, y)


def _features(config: ml_collections.ConfigDict) -> int:
  """The width of what the head reads."""
  arch = config.arch
  if config.model == "cnn":
    return arch.num_filters * len(arch.kernel_sizes)
  return arch.hidden * (2 if arch.get("bidirectional") and config.model != "tcn" else 1)


def twin_of(config: ml_collections.ConfigDict, spec: TaskSpec, seq_len: int) -> dict[str, Any]:
  """What bench.peers.twin_module needs to build `config`'s model in torch."""
  if config.model not in peers.TWIN_MODELS:
    raise ValueError(f"no torch twin of model {config.model!r}; twins: {peers.TWIN_MODELS}")
  a, o = config.arch, config.opt
  return {
    "model": config.model,
    "batch_size": config.batch_size,
    "seq_len": seq_len,
    "vocab_size": spec.vocab_size,
    "input_dim": spec.input_dim,
    "num_outputs": spec.num_outputs,
    "per_step": bool(spec.per_step),
    "features": _features(config),
    "embed_dim": a.embed_dim,
    "hidden": a.hidden,
    "bidirectional": bool(a.bidirectional),
    "kernel_sizes": list(a.kernel_sizes),
    "num_filters": a.num_filters,
    "levels": a.tcn_levels,
    "kernel_size": a.tcn_kernel_size,
    "weight_norm": bool(a.tcn_weight_norm),
    "num_layers": a.num_layers,
    "num_heads": a.num_heads,
    "mlp_dim": a.mlp_ratio * a.hidden,
    "dropout": a.dropout if config.model in ("tcn", "transformer") else 0.0,
    "head_dropout": a.dropout,
    "learning_rate": o.learning_rate,
    "weight_decay": o.weight_decay,
    "clip_norm": o.clip_norm,
  }


def _cached_compile_s(step: Callable, args: tuple) -> float:
  """Seconds to trace, lower and compile `step` when JAX's persistent compilation cache
  already holds it (compiled once into a fresh cache directory first, untimed): compare
  with lower + compile seconds without it."""
  with tempfile.TemporaryDirectory() as cache:
    with measure.compilation_cache(cache):
      jax.jit(step).lower(*args).compile()
      jax.clear_caches()  # else the in-memory cache answers, not the directory
      start = time.perf_counter()
      jax.jit(step).lower(*args).compile()
      return time.perf_counter() - start


def trainer_steps_per_s(config: ml_collections.ConfigDict, steps: int, windows: int) -> float:
  """Median steps/s the trainer logs (metrics.jsonl) over `windows` logging windows of a
  short real run of `config` (train.train_and_evaluate, no checkpoints; the first window,
  which holds the compile, is left out)."""
  config = config.copy_and_resolve_references()
  config.train_steps = steps * (windows + 1)
  config.log_every = steps
  config.eval_every = config.train_steps
  config.checkpoint_every = 0
  config.opt.warmup_steps = 1  # the schedule does not change a step's time
  config.data.eval_size = config.batch_size
  with tempfile.TemporaryDirectory() as workdir:
    train.train_and_evaluate(config, workdir)
    records = workdir_module.read_records(os.path.join(workdir, workdir_module.METRICS_FILE))
  return float(np.median(workdir_module.step_rates(records)))


Profiles = dict[str, list[tuple[str, float]]]


def end_to_end(
  configs: dict[str, ml_collections.ConfigDict],
  rounds: int,
  torch_threads: tuple[int, ...],
  trainer_steps: int,
  trainer_windows: int,
  progress: Callable[[str], None],
  profile: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], Profiles]:
  """One row per config: our train step (median of `rounds` interleaved rounds after
  compilation), its lower/compile seconds (cold and from the persistent cache), the
  trainer's logged steps/s over the isolated step's rate timed right after the trainer's
  run (and the milliseconds the task
  takes to make one training batch on the host, part of the difference), and, when
  `torch_threads` is not empty, the torch twin's step with each thread count (same
  parameter count, asserted) and ours over the fastest. Torch is timed after ours, in its
  own process.

  Also returns, for the configs named in `profile` (XLA:CPU only), where their step's
  time goes: `cost.time_by_kind` of its per-op profile."""
  rows, compiled, twins = [], {}, {}
  for name, config in configs.items():
    progress(f"compiling the train step of {name}")
    task = stand_in_task(config)
    step, args, lower_s, compile_s = measure.compile_train_step(config, task)
    state, batch, _ = args
    task = task or tasks.build(config.task, config.data, config.seed)
    spec = task.spec
    # the host's share of a training step: one fresh batch per call, as in training
    batch_s = median_seconds(_next_batch, (task, itertools.count(1), config.batch_size), 5)
    compiled[name] = (step, args)
    params = models.count_params(state.params)
    B, L = batch["inputs"].shape[:2]
    rows.append(
      {
        "model": name,
        "config": f"{config.model} on {config.task}",
        "params": params,
        "batch": f"{B} x {L}",
        "batch_ms": 1e3 * batch_s,
        "lower_s": lower_s,
        "compile_s": compile_s,
        "cached_compile_s": _cached_compile_s(
          lambda *a, config=config, spec=spec: train.train_step(*a, spec=spec), args
        ),
      }
    )
    if config.model in peers.TWIN_MODELS:
      twins[name] = twin_of(config, spec, L)
  progress(f"timing {len(compiled)} train steps, {rounds} interleaved rounds")
  times = time_interleaved(compiled, rounds)
  for row in rows:
    row["ours_ms"] = 1e3 * float(np.median(times[row["model"]]))
  profiles = {}
  for name in profile if jax.default_backend() == "cpu" else ():
    if name in compiled:
      progress(f"profiling the train step of {name} per XLA op")
      step, args = compiled[name]
      steps = args[1]["inputs"].shape[1]
      profiles[name] = cost.time_by_kind(cost.op_profile(step, args, top=None), steps)
  for row in rows:
    config = configs[row["model"]]
    step, args = compiled[row["model"]]
    if stand_in_task(config) is not None:  # its task reads files: no real run
      row["trainer_steps_per_s"] = row["trainer_over_step"] = float("nan")
      row["isolated_steps_per_s"] = 1e3 / row["ours_ms"]
      continue
    progress(f"a short real run of {row['model']} ({trainer_steps * (trainer_windows + 1)} steps)")
    rate = trainer_steps_per_s(config, trainer_steps, trainer_windows)
    # the isolated step again, right after the run: both under the same load
    isolated = 1.0 / median_seconds(step, args, trainer_steps)
    row["trainer_steps_per_s"], row["isolated_steps_per_s"] = rate, isolated
    row["trainer_over_step"] = rate / isolated
  for threads in torch_threads:
    progress(f"timing {len(twins)} torch twins with {threads} thread(s) in a separate process")
    found = peers.twin_times(twins, threads, rounds)
    for row in rows:
      if row["model"] in found:
        got = found[row["model"]]
        if got["params"] != row["params"]:
          raise AssertionError(
            f"the torch twin of {row['model']} has {got['params']} parameters, ours "
            f"{row['params']}: bench.peers.twin_module does not build the same model"
          )
        row[f"torch_{threads}t_ms"] = 1e3 * float(np.median(got["times"]))
  for row in rows:
    best = [row[f"torch_{n}t_ms"] for n in torch_threads if f"torch_{n}t_ms" in row]
    row["torch_ms"] = min(best) if best else float("nan")
    row["ours_over_torch"] = row["ours_ms"] / row["torch_ms"] if best else float("nan")
  return rows, profiles
