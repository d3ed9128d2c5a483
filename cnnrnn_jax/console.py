"""What a command-line run prints: numbers for one line, and third-party noise kept off it.

`quiet_orbax` (a logging filter) drops Orbax's narration of every save and shortens its
warnings to one line; `skip_closed_loop_noise` drops the harmless tracebacks TensorStore's
callbacks print from background threads after a failed save. The run's own last line says
what failed and what was kept.
"""

from __future__ import annotations

import logging
import sys


def number(v: float) -> str:
  """4 decimals, or 4 significant digits for values below 0.01 (copy-memory losses)."""
  return f"{v:.4f}" if v == 0 or abs(v) >= 0.01 else f"{v:.4g}"


def metrics_line(metrics: dict[str, float]) -> str:
  """k=v pairs of `number`s, two spaces apart."""
  return "  ".join(f"{k}={number(v)}" for k, v in metrics.items())


def quiet_orbax(record: logging.LogRecord) -> bool:
  """Drops Orbax's INFO narration of every save; its warnings and errors stay, one line each
  (a failing save logs tracebacks from several threads; the run's own last line says what
  failed and what was kept)."""
  if "/orbax/" not in record.pathname:
    return True
  if record.levelno < logging.WARNING or quiet_orbax.after_error:
    return False
  record.msg, record.args = record.getMessage().splitlines()[0][:300], ()
  record.exc_info = record.exc_text = None
  return True


quiet_orbax.after_error = False  # set once the run's error is printed: it is the last line


def _closed_loop(kind: type, value: BaseException) -> bool:
  """The error of a TensorStore callback arriving after a failed Orbax save closed its event
  loop: harmless, and printed as a bare traceback from a background thread."""
  return kind is RuntimeError and str(value) == "Event loop is closed"


def skip_closed_loop_noise() -> None:
  """Installs sys.excepthook and sys.unraisablehook that drop `_closed_loop` errors."""
  excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

  def on_exception(kind, value, tb):
    if not _closed_loop(kind, value):
      excepthook(kind, value, tb)

  def on_unraisable(unraisable):
    if not _closed_loop(unraisable.exc_type, unraisable.exc_value):
      unraisablehook(unraisable)

  sys.excepthook, sys.unraisablehook = on_exception, on_unraisable


def only_results_and_errors() -> None:
  """For commands that print one result from a restored run (generate, score): no progress
  lines, and none of Orbax's narration of a read-only restore (its errors stay)."""
  from absl import logging as absl_logging  # absl is what the entry points log through

  absl_logging.set_verbosity(absl_logging.WARNING)
  logging.getLogger("absl").addFilter(
    lambda record: record.levelno >= logging.ERROR or "/orbax/" not in record.pathname
  )


def say(line: str) -> None:
  """`line` on stderr in one write: print() writes a text and its newline apart, and a log line
  from a thread still saving could land between them, gluing itself to the message."""
  sys.stderr.write(line + "\n")
  sys.stderr.flush()
