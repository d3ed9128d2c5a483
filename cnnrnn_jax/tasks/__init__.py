"""Task registry. Importing this package registers every built-in task."""

from cnnrnn_jax.errors import ConfigError

# Importing the task modules registers their tasks.
from cnnrnn_jax.tasks import (  # noqa: F401
  clean,
  files,
  forecast,
  mnist1d,
  synthetic,
  tfds_tasks,
  video,
)
from cnnrnn_jax.tasks.base import Batch, Task, TaskSpec, build, names, register
from cnnrnn_jax.tasks.text import with_saved_assets

__all__ = [
  "Batch",
  "ConfigError",
  "Task",
  "TaskSpec",
  "build",
  "names",
  "register",
  "with_saved_assets",
]
