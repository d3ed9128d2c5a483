"""cnnrnn_jax: the "CNN vs RNN" folklore table as reproducible JAX/Flax experiments.

Where to start reading:
  conv.py        PARALLEL   -- a convolution is `jax.vmap` over output positions.
  recurrent.py   SEQUENTIAL -- a recurrence is `jax.lax.scan` over time
                 (recurrent_fused.py: its fast twin; linear_scan.py: the parallel scan).
  encoders.py    thin Flax Linen modules over those cores; models.py: the model registry.
  tasks/         the task registry (synthetic generators first).
  train.py       one trainer for every model and task (metrics.py, optim.py, sharding.py).
  measure/       what a model costs and what it learned; suite/: the comparison grid.
"""

__version__ = "0.2.0"
