"""Stand-in until Orbax checkpoints (issue 8) land: the trained parameters of a run.

`train_and_evaluate` writes WORKDIR/final_params.msgpack (flax.serialization) after the last
step; `experiments/generate.py` reads it. Once the trainer keeps Orbax checkpoints, readers
should restore the latest checkpoint instead and this module can go.
"""

from __future__ import annotations

import os

from flax import serialization

from cnnrnn_jax.tasks.base import ConfigError

FILE = "final_params.msgpack"


def save(workdir: str, params) -> str:
  path = os.path.join(workdir, FILE)
  with open(path, "wb") as f:
    f.write(serialization.to_bytes(params))
  return path


def load(workdir: str, template):
  """The saved parameters, in the structure (and dtypes) of `template` (e.g. model.init)."""
  path = os.path.join(workdir, FILE)
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError:
    raise ConfigError(f"no trained parameters at {path}; train into that --workdir first "
                      "(python -m experiments.train --workdir=...)") from None
  return serialization.from_bytes(template, data)
