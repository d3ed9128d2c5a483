"""Stopping cleanly on SIGTERM (a preemption, `kill`) and SIGINT (Ctrl-C).

While `on_signals()` is active, the first SIGTERM or SIGINT only records itself: the trainer
finishes the step it is on, saves a checkpoint and raises `errors.Interrupted`, and the
entry point exits with one line and `errors.EXIT_INTERRUPTED`. A second signal acts as it
would without us (SIGINT: KeyboardInterrupt; SIGTERM: the process ends at once), for a
user who does not want to wait for the save. Handlers can only be installed from the main
thread; elsewhere (a notebook's worker thread) the signals keep their usual meaning.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
  """`name` is the first signal received ('SIGTERM', 'SIGINT'), or None."""

  def __init__(self):
    self.name: str | None = None


@contextlib.contextmanager
def on_signals() -> Iterator[StopRequest]:
  """Records the first SIGTERM/SIGINT in the yielded StopRequest instead of dying."""
  request = StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield request
    return
  previous = {}

  def handler(signum, frame):
    del frame
    request.name = signal.Signals(signum).name
    for sig, old in previous.items():  # a second signal acts as it would without us
      signal.signal(sig, old)
    logging.warning(
      "%s received: finishing this step, saving a checkpoint, then stopping "
      "(send it again to stop at once, without saving)",
      request.name,
    )

  for sig in SIGNALS:
    previous[sig] = signal.signal(sig, handler)
  try:
    yield request
  finally:
    for sig, old in previous.items():
      signal.signal(sig, old)
