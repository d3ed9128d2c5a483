"""Training progress for a caller who configured no logging (a notebook, a plain script).

The trainer logs through the `cnnrnn_jax` logger: one line per logging window with the
loss, steps/s and ETA, one per evaluation, and the compile time apart. Under a command
(absl sets the INFO level) or a caller's own logging setup those lines go where the caller
sends them. In a fresh Python session or Jupyter kernel the root level is WARNING and they
would be dropped: `shown()` then prints them itself, on the stderr of the moment (which
Jupyter shows under the running cell), and changes nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

LOGGER = "cnnrnn_jax"


class ProgressHandler(logging.StreamHandler):
  """Writes records as `HH:MM:SS message` to sys.stderr as it is at each record (a Jupyter
  kernel replaces sys.stderr per cell, so a stream fixed at creation would print elsewhere)."""

  def __init__(self) -> None:
    super().__init__()
    self.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))

  def emit(self, record: logging.LogRecord) -> None:
    self.stream = sys.stderr
    super().emit(record)


@contextlib.contextmanager
def shown(level: int = logging.INFO) -> Iterator[None]:
  """While open, the `cnnrnn_jax` logger's records at `level` and above are printed, when
  nothing would print them otherwise (its effective level is above `level`).

  Those records then go to a `ProgressHandler` only (not also to the root logger's handlers,
  which would print the warnings twice); the logger is restored on exit.
  """
  logger = logging.getLogger(LOGGER)
  if logger.isEnabledFor(level):
    yield
    return
  handler, old_level, old_propagate = ProgressHandler(), logger.level, logger.propagate
  logger.addHandler(handler)
  logger.setLevel(level)
  logger.propagate = False
  try:
    yield
  finally:
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    logger.propagate = old_propagate
