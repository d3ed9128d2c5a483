"""Measurements: each row of the folklore table turned into a number.

  cost.py     what a model costs: parameters (and matching a parameter budget), train-step and
              inference time, compiled memory, inference throughput, the critical path of
              the computation, data-parallel scaling over the devices present
  probes.py   what a model learned: accuracy on the scored steps, the drop when blocks of
              steps are shuffled (order), accuracy against dependency distance (long-term
              context), gradient norm against distance (vanishing gradients), convergence
              (stability)

Every measurement takes a training config (configs/default.py) or the trainer's pieces, so
any registered model or task can be measured; each returns plain numbers, which suite/
stores as records. Every public name of both files is importable from `cnnrnn_jax.measure`.
"""

from cnnrnn_jax.measure.cost import (
  WIDTH_KNOBS,
  compilation_cache,
  compile_train_step,
  critical_path,
  data_parallel,
  inference_throughput,
  match_param_budget,
  memory,
  memory_stats,
  param_count,
  param_shapes,
  predict,
  sequential_depth,
  speed,
  timing_params,
)
from cnnrnn_jax.measure.probes import (
  SCORED_STEPS,
  EvalFn,
  accuracy,
  accuracy_by_distance,
  accuracy_by_length,
  at_output,
  block_shuffle,
  chance_loss,
  converged,
  decay_orders,
  gradient_by_distance,
  gradient_profile,
  longest_solved,
  make_eval_fn,
  make_input_gradient_fn,
  scored_batches,
  shuffle_drop,
  task_accuracy,
  within_block_shuffle,
  within_shuffle_drops,
)
from cnnrnn_jax.timing import median_seconds  # re-exported for one release: timing.py has it

__all__ = [
  "SCORED_STEPS",
  "WIDTH_KNOBS",
  "EvalFn",
  "accuracy",
  "accuracy_by_distance",
  "accuracy_by_length",
  "at_output",
  "block_shuffle",
  "chance_loss",
  "compilation_cache",
  "compile_train_step",
  "converged",
  "critical_path",
  "data_parallel",
  "decay_orders",
  "gradient_by_distance",
  "gradient_profile",
  "inference_throughput",
  "longest_solved",
  "make_eval_fn",
  "make_input_gradient_fn",
  "match_param_budget",
  "median_seconds",
  "memory",
  "memory_stats",
  "param_count",
  "param_shapes",
  "predict",
  "scored_batches",
  "sequential_depth",
  "shuffle_drop",
  "speed",
  "task_accuracy",
  "timing_params",
  "within_block_shuffle",
  "within_shuffle_drops",
]
