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
  """Writes records below WARNING as `HH:MM:SS message` to sys.stderr as it is at each
  record (a Jupyter kernel replaces sys.stderr per cell, so a stream fixed at creation would
  print elsewhere), and passes the others on to the root logger."""

  def __init__(self) -> None:
    super().__init__()
    self.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))

  def emit(self, record: logging.LogRecord) -> None:
    if record.levelno >= logging.WARNING:  # shown the way the caller shows warnings
      logging.getLogger().handle(record)
      return
    self.stream = sys.stderr
    super().emit(record)


@contextlib.contextmanager
def shown(level: int = logging.INFO) -> Iterator[None]:
  """While open, the `cnnrnn_jax` logger's records from `level` up to (not including)
  WARNING are printed, when nothing would print them otherwise (its effective level is
  above `level`).

  Records of the package's loggers then stop at the `cnnrnn_jax` logger: a
  `ProgressHandler` prints the progress lines, and hands warnings and errors to the root
  logger, which shows them as it would have without this (the caller's handlers, or
  Python's last-resort stderr): none is printed twice or hidden from a caller that
  captures them. The logger is restored on exit.
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
