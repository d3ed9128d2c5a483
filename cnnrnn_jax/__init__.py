"""cnnrnn_jax: the "CNN vs RNN" folklore table as reproducible JAX/Flax experiments.

Where to start reading:
  conv.py        PARALLEL   -- a convolution is `jax.vmap` over output positions.
  recurrent.py   SEQUENTIAL -- a recurrence is `jax.lax.scan` over time.
  models.py      thin Flax Linen modules over those cores + the model registry.
  tasks/         the task registry (synthetic generators first).
  train.py       one trainer for every model and task.
"""

__version__ = "0.1.0"
