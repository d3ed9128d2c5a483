"""The machine a benchmark runs on: its allocator setting, its load, one line that names it.

reuse_freed_memory()       keeps glibc from unmapping large freed buffers, so a
                           repeated call does not page-fault its temporaries in again
load_average()             the 1, 5 and 15 minute load averages (NaN where unknown)
describe(...)              jax, device, CPU, torch, XLA_FLAGS, allocator and load in one line
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from types import ModuleType

import jax


def reuse_freed_memory(threshold_bytes: int = 1 << 30) -> bool:
  """Makes glibc malloc serve large blocks from its heap and keep freed memory.

  By default glibc maps every block above 32 MiB with mmap and unmaps it on free, so
  each call of a compiled function whose temporaries are that large (an im2col matrix,
  the saved activations of an LSTM) page-faults them in again: measured on a 2-core
  CPU, a 41 MB window copy took 25 ms instead of 6 ms. Applies to the whole process
  (JAX and torch alike); returns False where there is no glibc.
  """
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL("libc.so.6")
  except OSError:
    return False
  m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
  trim_bytes = min(2 * threshold_bytes, 2**31 - 1)  # mallopt takes a C int
  # One arena: a thread's own arena cannot hold a block over 64 MiB and maps it anyway.
  return bool(
    libc.mallopt(m_mmap_threshold, threshold_bytes)
    and libc.mallopt(m_trim_threshold, trim_bytes)
    and libc.mallopt(m_arena_max, 1)
  )


def load_average() -> tuple[float, float, float]:
  """The system's 1, 5 and 15 minute load averages (NaN where the OS does not say)."""
  try:
    return os.getloadavg()
  except OSError:
    return (float("nan"),) * 3


def format_load(load: tuple[float, float, float]) -> str:
  """'1.07 2.29 3.25'."""
  return " ".join(f"{v:.2f}" for v in load)


def describe(torch: ModuleType | None, reused_memory: bool, load: tuple[float, ...]) -> str:
  """One line naming what the timings ran on: jax and its device, the CPU, torch (or
  'not used'), XLA_FLAGS, whether malloc keeps freed memory, and the load at the start."""
  device = jax.devices()[0]
  torch_text = f"{torch.__version__} ({torch.get_num_threads()} threads)" if torch else "not used"
  return (
    f"jax {jax.__version__} on {device.platform} [{device.device_kind}] "
    f"({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}); "
    f"torch {torch_text}; "
    f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
    f"malloc keeps freed memory: {'yes' if reused_memory else 'no'}; "
    f"load average at start {format_load(load)}"
  )
