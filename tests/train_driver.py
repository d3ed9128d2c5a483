"""A training subprocess for the durability and scale-out tests (not collected by pytest).

  python tests/train_driver.py WORKDIR CONFIG_JSON [--kill-before-batch K | --kill-in-save K]
      [--signal-before-batch K --signal TERM|INT] [--fill-disk-before-batch K] [--cli]

CONFIG_JSON holds dotted overrides of `default.get_config()` ({"arch.hidden": 8, ...}).
The process SIGKILLs itself at a chosen moment, as a crash or preemption would:
  --kill-before-batch K  when the loop asks for train batch K (step K+1), once earlier
                         checkpoints are committed (so the test knows which one resumes),
                         while step K may still be running on the device;
  --kill-in-save K       inside Orbax's save of step K, after every file is written and
                         before the atomic rename that commits it (a half-written checkpoint).
Or it sends itself SIGTERM/SIGINT when the loop asks for batch K (--signal-before-batch), or
fills the workdir's filesystem then (--fill-disk-before-batch: every later write finds no
space). Otherwise it prints the final eval metrics as one JSON line prefixed with RESULT.
--cli runs the same config through `python -m experiments.train` (flags, messages and exit
codes as a user sees them) instead of calling the trainer.
"""

import argparse
import json
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cnnrnn_jax import checkpoint, tasks, train  # noqa: E402
from cnnrnn_jax.configs import default  # noqa: E402

# FLOP/s lines have their own tests (test_accelerators.py; the 8-device run of
# test_scale_out.py turns them on): elsewhere they would cost each run's process a second of
# CPU (the step's count and the process's matmul ceiling). Overrides may set it back.
DRIVER_DEFAULTS = {"log_flops": False}


def make_config(overrides: dict):
  config = default.get_config()
  for key, value in {**DRIVER_DEFAULTS, **overrides}.items():
    node, *path, leaf = [config] + key.split(".")
    for part in path:
      node = node[part]
    node[leaf] = tuple(value) if isinstance(value, list) else value
  return config


def die():
  sys.stdout.flush()
  os.kill(os.getpid(), signal.SIGKILL)


_MANAGERS = set()  # the Checkpoints objects that saved something


def remember_managers() -> None:
  save = checkpoint.Checkpoints.save

  def save_and_remember(self, *args, **kwargs):
    _MANAGERS.add(self)
    return save(self, *args, **kwargs)

  checkpoint.Checkpoints.save = save_and_remember


def at_batch(k: int, action) -> None:
  """Runs `action()` when the loop asks for train batch `k` (step k+1), once the earlier
  checkpoints are committed (so the test knows which one resumes), while step k may still
  be running on the device."""
  build = tasks.build
  remember_managers()

  def build_and_arm(*args, **kwargs):
    task = build(*args, **kwargs)
    train_batch = task.train_batch

    def batch(step, batch_size):
      if step == k:
        for manager in _MANAGERS:
          manager.wait_until_finished()
        action()
      return train_batch(step, batch_size)

    task.train_batch = batch
    return task

  tasks.build = build_and_arm


def fill_disk(workdir: str) -> None:
  """Takes every free byte of the filesystem holding `workdir`."""
  fd = os.open(os.path.join(workdir, "filler"), os.O_WRONLY | os.O_CREAT)
  try:
    stats = os.statvfs(workdir)
    if stats.f_bavail:
      os.posix_fallocate(fd, 0, stats.f_bavail * stats.f_frsize)
    while True:  # whatever fallocate left over
      os.write(fd, b"\0" * 4096)
  except OSError:
    pass
  finally:
    os.close(fd)


def cli_flags(overrides: dict) -> list[str]:
  """--config.KEY=VALUE flags for experiments.train (tuples as (3,))."""
  out = []
  for key, value in overrides.items():
    if isinstance(value, list):
      value = "(" + "".join(f"{v}," for v in value) + ")"
    out.append(f"--config.{key}={value}")
  return out


def kill_in_save(k: int) -> None:
  from orbax.checkpoint._src.path import atomicity

  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def finalize_or_die(self, *args, **kwargs):
    if self.get_final().name == str(k):
      die()
    return await finalize(self, *args, **kwargs)

  atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("config_json")
  parser.add_argument("--kill-before-batch", type=int)
  parser.add_argument("--kill-in-save", type=int)
  parser.add_argument("--signal-before-batch", type=int)
  parser.add_argument("--signal", choices=("TERM", "INT"), default="TERM")
  parser.add_argument("--fill-disk-before-batch", type=int)
  parser.add_argument("--cli", action="store_true")
  args = parser.parse_args()
  logging.getLogger().setLevel(logging.INFO)
  if args.kill_before_batch is not None:
    at_batch(args.kill_before_batch, die)
  if args.kill_in_save is not None:
    kill_in_save(args.kill_in_save)
  if args.signal_before_batch is not None:
    signum = getattr(signal, f"SIG{args.signal}")
    at_batch(args.signal_before_batch, lambda: os.kill(os.getpid(), signum))
  if args.fill_disk_before_batch is not None:
    at_batch(args.fill_disk_before_batch, lambda: fill_disk(args.workdir))
  overrides = json.loads(args.config_json)
  if args.cli:
    import runpy

    flags = cli_flags({**DRIVER_DEFAULTS, **overrides})
    sys.argv = ["experiments.train", f"--workdir={args.workdir}", *flags]
    runpy.run_module("experiments.train", run_name="__main__")
    return
  metrics = train.train_and_evaluate(make_config(overrides), args.workdir)
  print("RESULT " + json.dumps(metrics), flush=True)


if __name__ == "__main__":
  main()
