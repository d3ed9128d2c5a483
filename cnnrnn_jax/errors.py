"""The error types an entry point prints as one line, and the exit codes it leaves with.

A `ConfigError` carries a one-line message that names the problem and the fix; entry points
print it without a traceback. Raise it as early as the input is knowable (before anything
compiles), so a bad setting costs nothing.

A `WriteError` is an I/O failure on a path the run writes (metrics, TensorBoard, config,
vocabulary, checkpoints, reports): one line naming the path and the errno, plus what was kept
(the trainer adds the last good checkpoint). An `Interrupted` run stopped on SIGTERM or
SIGINT after saving; its line says where and how to resume.
"""

from __future__ import annotations

import contextlib
import errno as errno_module
from collections.abc import Iterator

# Exit codes of the entry points (sysexits.h): a bad setting, an I/O failure, and a run that
# stopped on a signal after saving (a scheduler may simply start the same command again).
EXIT_CONFIG = 1
EXIT_IO = 74  # EX_IOERR
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL

# Error texts of libraries that do not raise OSError (e.g. TensorStore under Orbax), mapped to
# the errno they stand for.
_ERRNO_TEXTS = {
  "no space left on device": errno_module.ENOSPC,
  "disk quota exceeded": errno_module.EDQUOT,
  "read-only file system": errno_module.EROFS,
  "permission denied": errno_module.EACCES,
  "input/output error": errno_module.EIO,
}


class ConfigError(ValueError):
  """A bad user-facing setting; its message is one line naming the problem and the fix."""


class WriteError(RuntimeError):
  """Writing `path` failed with `errno`; the message is one line (see `note`)."""

  def __init__(self, path: str, errno: int | None, detail: str, note: str = ""):
    self.path, self.errno, self.detail, self.note = path, errno, detail, note
    code = f"{errno_module.errorcode.get(errno, errno)}, " if errno else ""
    super().__init__(f"cannot write {path} ({code}{detail}){note}")

  def with_note(self, note: str) -> WriteError:
    """The same failure with `note` (e.g. '; the last good checkpoint is ...') appended."""
    return WriteError(self.path, self.errno, self.detail, self.note + note)


class Interrupted(Exception):
  """The run stopped on a signal after finishing its step and saving; one-line message."""

  def __init__(self, message: str, signal_name: str):
    self.signal_name = signal_name
    super().__init__(message)


def os_error_in(error: BaseException) -> tuple[int | None, str] | None:
  """(errno, text) of the I/O failure behind `error` (its causes, contexts and groups
  included), or None when it is not one."""
  seen, todo = set(), [error]
  while todo:
    e = todo.pop()
    if e is None or id(e) in seen:
      continue
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno:
      return e.errno, e.strerror or str(e)
    lower = str(e).lower()
    for text, code in _ERRNO_TEXTS.items():
      if text in lower:
        return code, text.capitalize()
    todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
  return None


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
  """Turns an I/O failure inside the block into a one-line WriteError naming `path`."""
  try:
    yield
  except WriteError:
    raise
  except Exception as e:  # noqa: BLE001 -- only I/O failures are translated, the rest re-raised
    found = os_error_in(e)
    if found is None:
      raise
    raise WriteError(path, *found) from None
