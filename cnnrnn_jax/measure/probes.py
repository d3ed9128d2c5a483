"""Probes: what a model learned, each row of the folklore table turned into a measurement.

Shape key: B batch, L length, E encoder input width (embedding or input channels).

  order        accuracy, and its drop when blocks of `window` steps are shuffled,
               `block_shuffle` / `shuffle_drop`, or steps inside such blocks (real data:
               `within_block_shuffle` / `within_shuffle_drops`)
  length       accuracy by input length on real data, `accuracy_by_length`
  distance     accuracy against dependency distance and the longest distance solved,
               `accuracy_by_distance` / `longest_solved`
  gradient     ||dloss/dx_t|| against the distance of step t from the output,
               `make_input_gradient_fn` / `gradient_by_distance` / `decay_orders`
  stability    whether a run converged, `converged`

Every probe takes a training config (configs/default.py) or the trainer's pieces, so any
registered model or task can be measured. Probes return plain dicts of numbers, which
suite/ stores as records.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnrnn_jax import metrics, models, tasks, train
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.measure.cost import predict
from cnnrnn_jax.tasks.base import Batch, Task, TaskSpec
from cnnrnn_jax.tasks.long_memory import COPY_RECALL

EvalFn = Callable[[Any, Batch], metrics.Metrics]  # (params, batch) -> metric sums

# ---------------------------------------------------------------------------------------------
# accuracy: scored steps, shuffles, distance sweeps


def make_eval_fn(model: nn.Module, spec: TaskSpec) -> EvalFn:
  """The trainer's own eval step, jitted: (params, batch) -> metric sums."""
  return jax.jit(functools.partial(train.eval_step, apply_fn=model.apply, spec=spec))


def _copy_memory_recall(batch: Batch) -> Batch:
  """Copy memory is scored on the recalled digits only (its blanks are free accuracy)."""
  weights = np.zeros_like(batch["weights"])
  weights[:, -COPY_RECALL:] = batch["weights"][:, -COPY_RECALL:]
  return {**batch, "weights": weights}


# task name -> batch -> the same batch weighted on the steps a probe's accuracy counts
SCORED_STEPS: dict[str, Callable[[Batch], Batch]] = {"copy_memory": _copy_memory_recall}


def accuracy(eval_fn: EvalFn, params: Any, batches: Iterable[Batch], spec: TaskSpec) -> float:
  """Weighted accuracy over `batches` (metric sums added on device, divided once)."""
  total = metrics.sum_over_batches(
    lambda total, batch: metrics.accumulate(total, eval_fn(params, batch)), batches
  )
  return metrics.summarize(spec, total)["accuracy"]


def scored_batches(task: Task, task_name: str, batch_size: int) -> Iterator[Batch]:
  """The eval batches, weighted on the steps a probe's accuracy counts (SCORED_STEPS)."""
  score = SCORED_STEPS.get(task_name, lambda batch: batch)
  return (score(batch) for batch in task.eval_batches(batch_size))


def task_accuracy(
  eval_fn: EvalFn, params: Any, task: Task, task_name: str, batch_size: int
) -> float:
  """Eval-set accuracy on the steps that matter for the task (copy memory: the recall)."""
  return accuracy(eval_fn, params, scored_batches(task, task_name, batch_size), task.spec)


def block_shuffle(
  inputs: np.ndarray, lengths_B: np.ndarray, window: int, rng: np.random.Generator
) -> np.ndarray:
  """Cuts each row's valid steps into blocks of `window` consecutive steps and puts the
  blocks in a random order. Order inside a block (anything a width-`window` filter
  sees) survives; order between blocks is gone; padding stays where it is."""
  if window < 1:
    raise ConfigError(f"shuffle window={window} must be >= 1")
  inputs = np.asarray(inputs)
  out = inputs.copy()
  for row, length in enumerate(np.asarray(lengths_B)):
    blocks = [inputs[row, s : min(s + window, length)] for s in range(0, int(length), window)]
    if blocks:
      out[row, :length] = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
  return out


def shuffle_drop(
  eval_fn: EvalFn, params: Any, task: Task, batch_size: int, window: int, seed: int = 0
) -> dict[str, float]:
  """Accuracy on the eval set, and on the same inputs with blocks of `window` steps
  shuffled (scored against the original labels): drop = accuracy - shuffled accuracy.
  A model that ignores order has a drop of exactly 0."""
  rng = np.random.default_rng(seed)
  batches = list(task.eval_batches(batch_size))
  shuffled = [
    {**b, "inputs": block_shuffle(b["inputs"], b["lengths"], window, rng)} for b in batches
  ]
  plain = accuracy(eval_fn, params, batches, task.spec)
  mixed = accuracy(eval_fn, params, shuffled, task.spec)
  return {"window": window, "accuracy": plain, "shuffled_accuracy": mixed, "drop": plain - mixed}


def within_block_shuffle(
  inputs: np.ndarray, lengths_B: np.ndarray, window: int, rng: np.random.Generator
) -> np.ndarray:
  """Shuffles the steps inside each block of `window` consecutive valid steps, the blocks
  staying where they are (window 0: one block, the whole row). The mirror of
  `block_shuffle`: order at scales up to `window` is gone, the order of blocks survives."""
  if window < 0:
    raise ConfigError(f"shuffle window={window} must be >= 0 (0: the whole sequence)")
  inputs = np.asarray(inputs)
  out = inputs.copy()
  for row, length in enumerate(np.asarray(lengths_B)):
    size = int(length) if window == 0 else window
    for start in range(0, int(length), max(size, 1)):
      stop = min(start + size, int(length))
      out[row, start:stop] = inputs[row, start + rng.permutation(stop - start)]
  return out


def within_shuffle_drops(
  eval_fn: EvalFn,
  params: Any,
  task: Task,
  batch_size: int,
  windows: Sequence[int],
  seed: int = 0,
) -> dict[str, Any]:
  """Accuracy on the eval set, and on the same inputs shuffled inside blocks of each of
  `windows` steps (0: the whole sequence; `within_block_shuffle`), scored against the
  original labels. Per window: the shuffled accuracy, drop = accuracy - shuffled, and
  drop_of_learnt = drop / (accuracy - chance), the share of what the model learnt above
  chance that depends on order at that scale (None when it learnt nothing)."""
  batches = list(task.eval_batches(batch_size))
  plain = accuracy(eval_fn, params, batches, task.spec)
  chance = 1.0 / task.spec.num_outputs
  out: dict[str, Any] = {"accuracy": plain, "chance": chance}
  for window in windows:
    rng = np.random.default_rng([seed, window])
    shuffled = [
      {**b, "inputs": within_block_shuffle(b["inputs"], b["lengths"], window, rng)} for b in batches
    ]
    mixed = accuracy(eval_fn, params, shuffled, task.spec)
    learnt = plain - chance
    out[str(window)] = {
      "accuracy": mixed,
      "drop": plain - mixed,
      "drop_of_learnt": (plain - mixed) / learnt if learnt > 0.01 else None,
    }
  return out


def accuracy_by_length(
  model: nn.Module, params: Any, task: Task, batch_size: int, num_buckets: int = 4
) -> dict[str, list]:
  """Accuracy of a sequence classifier on its eval examples grouped by input length, shortest
  first, into at most `num_buckets` groups of about equal size (examples of one length stay in
  one group, so data of a single length gives one group): per group the longest length in it,
  the accuracy and the number of examples."""
  if task.spec.kind != "classify":
    raise ConfigError(
      f"accuracy by length needs a sequence classifier; this task is {task.spec.kind}"
    )
  forward = jax.jit(functools.partial(predict, apply_fn=model.apply))
  lengths, correct = [], []
  for batch in task.eval_batches(batch_size):
    logits = forward(params, batch["inputs"], batch["lengths"])
    real_B = np.asarray(batch["weights"]) > 0
    hit_B = np.argmax(np.asarray(logits), axis=-1) == np.asarray(batch["targets"])
    correct.append(hit_B[real_B])
    lengths.append(np.asarray(batch["lengths"])[real_B])
  length_N, hit_N = np.concatenate(lengths), np.concatenate(correct)
  # the upper edge of each group: length quantiles, so a length never straddles two groups
  edges = np.unique(
    np.quantile(length_N, np.arange(1, num_buckets + 1) / num_buckets, method="lower")
  )
  group_N = np.searchsorted(edges, length_N)
  out: dict[str, list] = {"max_length": [], "accuracy": [], "count": []}
  for g, edge in enumerate(edges):
    pick = group_N == g
    if pick.any():
      out["max_length"].append(int(edge))
      out["accuracy"].append(float(hit_N[pick].mean()))
      out["count"].append(int(pick.sum()))
  return out


def accuracy_by_distance(
  eval_fn: EvalFn,
  params: Any,
  config: ml_collections.ConfigDict,
  distances: Sequence[int],
  batch_size: int | None = None,
) -> dict[str, float]:
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


def longest_solved(accuracy_at: dict[str, float | None], threshold: float = 0.9) -> int | None:
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
  return (
    context.method_name == "__call__"
    and context.module.name == "encoder"
    and isinstance(context.module.parent, models.SequenceModel)
  )


def make_input_gradient_fn(model: nn.Module, spec: TaskSpec) -> Callable[[Any, Batch], jax.Array]:
  """A jitted `(params, batch) -> norms_BxL` with ||dloss/dx_t|| for every row and step,
  x_t = the encoder's input at step t (the masked embedding, or the raw inputs of
  continuous tasks), loss = the trainer's weighted task loss of `batch`.

  The gradient is read by adding a zero perturbation to the encoder's input through
  flax's method interceptor, so any registered encoder works unchanged.
  """
  forward = functools.partial(predict, apply_fn=model.apply)

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
      return metrics.loss_and_sums(spec, outputs, batch)[0]

    grads_BxLxE = jax.grad(loss)(jnp.zeros(shapes[0].shape, shapes[0].dtype))
    return jnp.linalg.norm(grads_BxLxE, axis=-1)

  return jax.jit(norms_BxL)


def at_output(batch: Batch, spec: TaskSpec, position_B: np.ndarray | None = None) -> Batch:
  """The batch whose loss is the one of the model's output: unchanged for sequence heads;
  for per-step heads weighted only at `position_B` (default: each row's last valid step)."""
  if not spec.per_step:
    return batch
  position_B = batch["lengths"] - 1 if position_B is None else np.asarray(position_B)
  L = batch["inputs"].shape[1]
  weights = (np.arange(L)[None, :] == position_B[:, None]).astype(np.float32)
  return {**batch, "weights": weights}


def gradient_by_distance(
  norms_BxL: np.ndarray, lengths_B: np.ndarray, position_B: np.ndarray | None = None
) -> dict[str, list]:
  """Mean gradient norm against distance d = position - t over valid steps (d >= 0 looks
  back; d < 0 is the future, which a causal model must not see). position defaults to
  each row's last valid step."""
  norms_BxL = np.asarray(norms_BxL, np.float64)
  lengths_B = np.asarray(lengths_B)
  position_B = lengths_B - 1 if position_B is None else np.asarray(position_B)
  t_L = np.arange(norms_BxL.shape[1])
  valid_BxL = mask_BxL(lengths_B, len(t_L), np)
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


def gradient_profile(
  config: ml_collections.ConfigDict, params: Any = None, num_batches: int = 4
) -> dict[str, Any]:
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
  # bucketed data (text, audio) gives batches of several lengths: pad to the widest
  width = max(n.shape[1] for n in norms)
  norms = [np.pad(n, ((0, 0), (0, width - n.shape[1]))) for n in norms]
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
