"""Devices: one mesh over every device of every process; the batch is split along 'data'.

Data parallelism: the batch is sharded along the mesh's one axis, parameters and optimizer
state are replicated, and a step jitted with those in/out shardings makes XLA insert the
gradient all-reduce. The same code runs on 1 CPU, 8 simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=8`), a multi-GPU host or a TPU pod slice.
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import ml_collections
import numpy as np

from cnnrnn_jax.errors import ConfigError

DATA_AXIS = "data"


def initialize_distributed(config: ml_collections.ConfigDict) -> None:
  """Multi-host (TPU pod slice, multi-node GPU): join the other processes before using JAX."""
  if config.get("distributed", False) and not jax.distributed.is_initialized():
    try:  # cluster, coordinator and process id come from the environment
      jax.distributed.initialize()
    except ValueError as e:  # nothing detected: e.g. 'coordinator_address should be defined'
      raise ConfigError(
        f"config.distributed=True but no cluster was detected ({e}); run on a TPU pod slice, "
        "SLURM, Open MPI or Kubernetes, or drop --config.distributed"
      ) from None


def data_mesh(batch_size: int | None = None, num_devices: int | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh with axis DATA_AXIS over the first `num_devices` devices (default: all devices
  of all processes). With `batch_size`: a ConfigError unless it splits evenly over them."""
  n = jax.device_count() if num_devices is None else num_devices
  if batch_size is not None and batch_size % n:
    raise ConfigError(
      f"config.batch_size={batch_size} does not split over {n} devices; use a multiple of {n}"
    )
  devices = None if num_devices is None else jax.devices()[:n]
  return jax.make_mesh(
    (n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
  )


def put_global(host_tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """Host arrays holding the same GLOBAL value on every process -> global jax.Arrays.

  Each process transfers only the slices its own devices hold under `sharding` (for the
  batch sharding: its rows of the global batch), so no process ever sends another's data.
  """

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, host_tree)


class InFlight:
  """Lets the host run at most `depth` programs ahead of the devices.

  Enough to overlap batch preparation with compute, while bounding the batches queued on
  the devices. (Unbounded, dozens of queued programs deadlocked in the gloo collectives of
  a multi-process CPU run.)
  """

  def __init__(self, depth: int = 4):
    self._queue, self._depth = collections.deque(), depth

  def push(self, output: jax.Array) -> None:
    """Queues `output`; waits for the oldest queued one once more than `depth` are queued."""
    self._queue.append(output)
    if len(self._queue) > self._depth:
      self._queue.popleft().block_until_ready()
