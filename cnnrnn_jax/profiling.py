"""A jax.profiler trace of chosen training steps (config.profile_steps = 'START,END').

The trace of steps START..END (1-based, inclusive) goes to WORKDIR/profile: an .xplane.pb
that TensorBoard's profile plugin opens (`tensorboard --logdir WORKDIR/profile`) and a
perfetto_trace.json.gz that https://ui.perfetto.dev opens, both under
profile/plugins/profile/<run>/. With profile_steps empty nothing is traced and the loop only
compares two integers per step.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax

from cnnrnn_jax.errors import ConfigError

SUBDIR = "profile"


def parse_steps(value: Any) -> tuple[int, int] | None:
  """(START, END) of config.profile_steps 'START,END' (1 <= START <= END), None when empty;
  a one-line ConfigError for anything else."""
  if value is None or value == "":
    return None
  parts = str(value).split(",") if isinstance(value, str) else []
  try:
    start, end = (int(p) for p in parts) if len(parts) == 2 else (0, -1)
  except ValueError:
    start, end = 0, -1
  if not 1 <= start <= end:
    raise ConfigError(
      f"config.profile_steps={value!r} must be 'START,END' with 1 <= START <= END (steps to "
      "trace, e.g. '10,15'); set --config.profile_steps=10,15 or leave it empty"
    )
  return start, end


class StepTrace:
  """Starts a jax.profiler trace before step START and stops it after step END finished."""

  def __init__(self, steps: tuple[int, int] | None, workdir: str, active: bool = True):
    self.steps, self.active, self.on = steps, active and steps is not None, False
    self.logdir = os.path.join(workdir, SUBDIR)

  def before(self, step: int) -> None:
    """Call before running `step` (1-based)."""
    if self.active and step == self.steps[0]:
      jax.profiler.start_trace(self.logdir, create_perfetto_trace=True)
      self.on = True

  def after(self, step: int, out: Any) -> None:
    """Call after dispatching `step` with its outputs `out` (waited for when the trace ends)."""
    if self.on and step >= self.steps[1]:
      jax.block_until_ready(out)
      self.stop()
      logging.info("profiler trace of steps %d..%d in %s", *self.steps, self.logdir)

  def stop(self) -> None:
    """Ends a running trace (a run that stops early still leaves its trace)."""
    if self.on:
      jax.profiler.stop_trace()
      self.on = False
