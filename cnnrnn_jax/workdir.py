"""One writer per workdir: a lock file that names its holder, and atomic small writes; and
the one reader of a run's metrics.jsonl (`read_records`, `step_rates`, `train_seconds`).

A run (`experiments.train`, `experiments.compare`, `train.train_and_evaluate`, ...) holds
`WORKDIR/run.lock` while it writes there. A second run on the same workdir is refused at once
with one line naming the holder's host and PID. The lock is `flock(2)` on that file, so the
kernel releases it when its process dies in any way (SIGKILL included); the file keeps the
holder's host, PID and start time, and a run that finds it filled in but unlocked logs that
it takes over a lock left by a killed run.

Where the filesystem has no `flock` (some network and FUSE mounts, e.g. a bucket mounted with
gcsfuse), the lock is the file's exclusive creation instead, removed on exit: a file left by a
dead process of the same host is taken over; one from another host cannot be checked from
here, so the refusal names the file to delete once that run is known to be gone.

A non-local workdir (`gs://bucket/run` and any other `scheme://` etils.epath reads) goes
through epath: an object store has neither file locks nor exclusive creation, so there the
lock is the file alone, written at the start and deleted at the end; a run finding one of a
live process (or of another host) is refused with the file to delete once that run is gone.

This module imports only the standard library for local workdirs (epath only for non-local
ones): entry points take the lock before importing JAX, so a busy workdir is refused in well
under a second.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator

from cnnrnn_jax.errors import ConfigError, writing

LOCK_FILE = "run.lock"
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_held: dict[str, list] = {}  # real path of a lock this process holds -> [fd, depth, flocked]


class WorkdirBusy(ConfigError):
  """Another live run holds the workdir's lock."""


def is_remote(path: str | os.PathLike) -> bool:
  """True for a `scheme://` path (a bucket), which the os module cannot read or write."""
  return "://" in os.fspath(path)


def epath(path: str | os.PathLike):
  """`path` as an etils.epath.Path: the one way to read and write a remote workdir."""
  from etils import epath as epath_module  # only for non-local paths (see the module doc)

  return epath_module.Path(path)


def make(workdir: str) -> None:
  """Creates `workdir`; a ConfigError naming the flag when it cannot."""
  try:
    if is_remote(workdir):
      epath(workdir).mkdir(parents=True, exist_ok=True)
    else:
      os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ConfigError(
      f"cannot create workdir {workdir!r} ({e.strerror}); pass a writable --workdir"
    ) from None


def _holder_text(info: dict) -> str:
  started = info.get("started")
  since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if started else ""
  return f"PID {info.get('pid', '?')} on host {info.get('host', '?')}{since}"


def _read(fd: int) -> dict:
  try:
    data = os.pread(fd, 4096, 0)
    info = json.loads(data) if data.strip() else {}  # empty: released cleanly
  except (OSError, ValueError):
    return {"pid": "?", "host": "?"}  # torn by a kill mid-write: a holder of unknown identity
  return info if isinstance(info, dict) else {"pid": "?", "host": "?"}


def _alive_here(info: dict) -> bool:
  """False only when `info` names a process of this host that no longer exists."""
  if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
    return True
  try:
    os.kill(info["pid"], 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _claim(fd: int, path: str) -> None:
  me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
  me["command"] = " ".join(sys.argv)[:500]
  with writing(path):
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode() + b"\n", 0)


def _exclusive_create(path: str, workdir: str) -> int:
  """The lock without flock: create the file exclusively (retried once over a stale one)."""
  for _ in range(2):
    try:
      return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
      with open(path, "rb") as f:
        fd = f.fileno()
        info = _read(fd)
      if info and _alive_here(info):
        raise WorkdirBusy(
          f"workdir {workdir} is in use by {_holder_text(info)} (this filesystem has no file "
          f"locks: if that run is gone, delete {path}); or pass another --workdir"
        ) from None
      if info:
        logging.warning("taking over the lock %s left by %s (gone)", path, _holder_text(info))
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)
  raise WorkdirBusy(f"workdir {workdir} is being claimed by another run; pass another --workdir")


def _claim_remote(path: str, workdir: str) -> None:
  """The lock of a remote workdir: its file, refused while it names a live holder."""
  lock = epath(path)
  if lock.exists():
    try:
      info = json.loads(lock.read_text() or "{}")
    except ValueError:
      info = {"pid": "?", "host": "?"}
    if info and _alive_here(info):
      raise WorkdirBusy(
        f"workdir {workdir} is in use by {_holder_text(info)} (a bucket has no file locks: "
        f"if that run is gone, delete {path}); or pass another --workdir"
      )
    if info:
      logging.warning("taking over the lock %s left by %s (gone)", path, _holder_text(info))
  me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
  me["command"] = " ".join(sys.argv)[:500]
  with writing(path):
    lock.write_text(json.dumps(me) + "\n")


def acquire(workdir: str) -> None:
  """Takes `workdir`'s lock (creating the folder) or raises WorkdirBusy naming the holder.

  Re-entrant within a process: the entry point and the trainer may both take it.
  """
  make(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  key = path if is_remote(path) else os.path.realpath(path)
  if key in _held:
    _held[key][1] += 1
    return
  if is_remote(path):
    _claim_remote(path, workdir)
    _held[key] = [None, 1, False]
    return
  try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise ConfigError(
      f"cannot write in workdir {workdir} ({e.strerror}); pass a writable --workdir"
    ) from None
  flocked = True
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    info = _read(fd)
    os.close(fd)
    raise WorkdirBusy(
      f"workdir {workdir} is in use by {_holder_text(info)}; wait for that run to end "
      "or pass another --workdir"
    ) from None
  except OSError as e:
    os.close(fd)
    if e.errno not in _NO_FLOCK:
      raise
    logging.warning("%s has no file locks (%s); locking by exclusive file creation", workdir, e)
    flocked = False
    fd = _exclusive_create(path, workdir)
  if flocked:
    left = _read(fd)
    if left:
      logging.warning(
        "taking over the lock of workdir %s left by %s, which ended without releasing it (killed?)",
        workdir,
        _holder_text(left),
      )
  try:
    _claim(fd, path)
  except BaseException:
    os.close(fd)  # releases the flock; the exclusive file of the fallback stays for a retry
    raise
  _held[key] = [fd, 1, flocked]


def release(workdir: str) -> None:
  """Gives `workdir`'s lock back (the outermost release of this process empties the file)."""
  path = os.path.join(workdir, LOCK_FILE)
  key = path if is_remote(path) else os.path.realpath(path)
  entry = _held.get(key)
  if entry is None:
    return
  entry[1] -= 1
  if entry[1] > 0:
    return
  del _held[key]
  fd, _, flocked = entry
  if fd is None:  # a remote workdir's lock: deleting the file releases it
    with contextlib.suppress(OSError):
      epath(path).unlink(missing_ok=True)
    return
  with contextlib.suppress(OSError):  # an empty file tells the next run it was released
    os.ftruncate(fd, 0)
  if not flocked:
    with contextlib.suppress(OSError):
      os.remove(path)
  os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[str]:
  """`with locked(workdir):` holds the lock for the block (see `acquire`)."""
  acquire(workdir)
  try:
    yield workdir
  finally:
    release(workdir)


def read_text(path: str) -> str:
  """The text of a local or remote file (FileNotFoundError when there is none)."""
  if is_remote(path):
    return epath(path).read_text()
  with open(path, encoding="utf-8") as f:
    return f.read()


def exists(path: str) -> bool:
  """Whether a local or remote file or folder is there."""
  return epath(path).exists() if is_remote(path) else os.path.exists(path)


METRICS_FILE = "metrics.jsonl"


def read_records(path: str) -> list[dict]:
  """The records of a run's metrics.jsonl (local or remote; one JSON object per line), none
  when the file is not there."""
  if not exists(path):
    return []
  return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]


def step_rates(records: list[dict]) -> list[float]:
  """The steps/s of each logged training window but the first, which holds the compiles
  (unless it is the only one)."""
  rates = [r["steps_per_sec"] for r in records if r["split"] == "train"]
  return rates[1:] or rates


def train_seconds(records: list[dict]) -> float:
  """A run's training wall time: the sum over its logged windows of steps / (steps/s), which
  covers the compiles, the evaluations and the checkpoints inside the loop (every attempt of a
  resumed run, once)."""
  total, last = 0.0, 0
  for r in records:
    if r["split"] == "train":
      total += (r["step"] - last) / r["steps_per_sec"]
      last = r["step"]
  return total


def write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to a local or remote `path` (an image); a one-line WriteError on failure."""
  with writing(path):
    if is_remote(path):
      epath(path).write_bytes(data)
    else:
      with open(path, "wb") as f:
        f.write(data)


def write_atomic(path: str, text: str) -> None:
  """Writes `text` to `path` through a temporary file and a rename (a reader never sees half
  of it); an I/O failure is a one-line WriteError naming `path`."""
  if is_remote(path):  # an object is replaced whole by its upload: never half-written
    with writing(path):
      epath(path).write_text(text)
    return
  tmp = f"{path}.tmp"
  with writing(path):
    try:
      with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
      os.replace(tmp, path)
    finally:
      with contextlib.suppress(OSError):
        os.remove(tmp)
