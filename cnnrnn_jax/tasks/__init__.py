"""Task registry. Importing this package registers every built-in task.

What a task author needs is exported here: `Task` and `TaskSpec` (any task), `GeneratedTask`
with `register_generated` (batches drawn from (seed, step)), `check_int` (a knob's one-line
validation), `rng_for` (independent numpy streams) and `split_into_batches` (a fixed eval set in
padded batches).
"""

from cnnrnn_jax.errors import ConfigError

# Importing the task modules registers their tasks.
from cnnrnn_jax.tasks import (  # noqa: F401
  audio,
  clean,
  digit_strings,
  files,
  forecast,
  mnist1d,
  seq2seq,
  synthetic,
  tfds_tasks,
  video,
)
from cnnrnn_jax.tasks.base import (
  KNOBS,
  Batch,
  GeneratedTask,
  Task,
  TaskSpec,
  build,
  check_int,
  names,
  register,
  register_generated,
  rng_for,
  split_into_batches,
)
from cnnrnn_jax.tasks.text import with_saved_assets

__all__ = [
  "KNOBS",
  "Batch",
  "ConfigError",
  "GeneratedTask",
  "Task",
  "TaskSpec",
  "build",
  "check_int",
  "names",
  "register",
  "register_generated",
  "rng_for",
  "split_into_batches",
  "with_saved_assets",
]
