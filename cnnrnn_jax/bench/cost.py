"""What a compiled call costs, apart from its wall time: compile seconds, memory, FLOPs, ops.

Shape key: N matrix side of the matmul ceiling.

  compile_timed(fn, *args)   jit + lower + compile, timed apart from running; the
                             compiled executable and XLA's memory analysis of it
  scan_aware_flops(fn, *args)
                             XLA's cost analysis with every `lax.scan` counted as many
                             times as it runs (in flops.py, shared with the trainer)
  matmul_ceiling_case(n)     an N x N float32 matmul: the machine's practical peak,
                             timed in the same rounds as everything else
  hlo_op_counts(compiled)    how many convolution / dot / scatter / gather ops the
                             optimized HLO holds (the "why" behind a timing)
  op_profile(call, args)     wall time per XLA op (thunk) of a compiled call, from a
                             profiler trace: where the time goes
  time_by_kind(profile, L)   that time summed by kind: per-step matmuls, copies and
                             elementwise ops of a scan, once-per-call matmuls, zero fills

Wall time itself is measured by `cnnrnn_jax.timing`.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import gzip
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from cnnrnn_jax.flops import gflops_per_s, scan_aware_flops  # noqa: F401  (their home: flops.py)
from cnnrnn_jax.timing import block


@dataclasses.dataclass
class Compiled:
  """A compiled executable and what XLA says about it (bytes from memory_analysis)."""

  call: Callable
  compile_s: float
  temp_bytes: int | None = None
  argument_bytes: int | None = None
  output_bytes: int | None = None


def compile_timed(fn: Callable, *args: Any) -> Compiled:
  """Traces, lowers and compiles `fn` for `args`; the seconds this took are compile time."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  seconds = time.perf_counter() - start
  memory = compiled.memory_analysis()
  if memory is None:  # some backends do not report it
    return Compiled(compiled, seconds)
  return Compiled(
    compiled,
    seconds,
    int(memory.temp_size_in_bytes),
    int(memory.argument_size_in_bytes),
    int(memory.output_size_in_bytes),
  )


def matmul_ceiling_case(
  n: int = 2048, seed: int = 0
) -> tuple[Compiled, tuple[jax.Array, jax.Array], float]:
  """(compiled, args, flops) for an N x N float32 matmul: the practical peak."""
  k_a, k_b = jax.random.split(jax.random.PRNGKey(seed))
  args = (jax.random.normal(k_a, (n, n), jnp.float32), jax.random.normal(k_b, (n, n), jnp.float32))
  return compile_timed(jnp.matmul, *args), args, 2.0 * n**3


HLO_OPS = ("convolution", "dot", "scatter", "gather")


def hlo_op_counts(compiled: Any, ops: Sequence[str] = HLO_OPS) -> dict[str, int]:
  """Occurrences of each op in the optimized HLO (`compiled.as_text()`), fused or not."""
  found = collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", compiled.as_text()))
  return {op: found.get(op, 0) for op in ops}


def op_profile(
  call: Callable, args: Sequence[Any], repeats: int = 3, top: int | None = 12
) -> list[tuple[str, float, int]]:
  """[(op name, ms per call, executions per call)] of the `top` slowest ops (None: all;
  XLA:CPU thunks, loops included with their bodies), from a jax.profiler trace of
  `repeats` calls after a warm-up."""
  block(call(*args))
  with tempfile.TemporaryDirectory() as logdir:
    jax.profiler.start_trace(logdir, create_perfetto_trace=True)
    for _ in range(repeats):
      block(call(*args))
    jax.profiler.stop_trace()
    paths = glob.glob(os.path.join(logdir, "**", "perfetto_trace.json.gz"), recursive=True)
    with gzip.open(paths[0]) as f:
      trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  total, count = collections.Counter(), collections.Counter()
  skip = ("ThunkExecutor", "$", "PjitFunction", "CommonPjRt")  # runtime and Python frames
  for e in events:
    if e.get("ph") == "X" and not e["name"].startswith(skip):
      total[e["name"]] += e.get("dur", 0.0)
      count[e["name"]] += 1
  # Name each op with its result shape, as the optimized HLO declares it.
  shapes = (
    dict(re.findall(r"%([\w.-]+) = ([a-z]\w*\[[\d,]*\])", call.as_text()))
    if hasattr(call, "as_text")
    else {}
  )
  return [
    (f"{name} {shapes.get(name, '')}".strip(), us / repeats / 1e3, count[name] // repeats)
    for name, us in total.most_common(top)
  ]


_MATMUL = ("ynn", "dot", "xnn")  # anywhere in the op's name
_COPIES = ("dynamic-update-slice", "concatenate", "copy", "slice_fusion", "dynamic-slice")
_PER_STEP_KINDS = (("matmul", _MATMUL, False), ("copies, slices", _COPIES, False))
_ONCE_KINDS = (  # (kind, name parts, whether the name must start with one)
  ("matmul", _MATMUL, False),
  ("convolution", ("conv",), True),
  ("layout transposes", ("transpose",), True),
  ("zero fill", ("broadcast",), False),
)


def _first_kind(name: str, kinds, default: str) -> str:
  """The first of `kinds` whose name parts `name` holds (or starts with), else `default`."""
  for kind, parts, at_start in kinds:
    if any(name.startswith(p) if at_start else p in name for p in parts):
      return kind
  return default


def time_by_kind(profile: Sequence[tuple[str, float, int]], steps: int) -> list[tuple[str, float]]:
  """[(kind, ms per call)] of an `op_profile` (every op: top=None), the kinds of a scan:
  ops run once per time step or more (inside the loops of a recurrence of `steps` steps)
  as matmuls, copies into the stacked outputs and elementwise; ops run once per call as
  matmuls, convolutions (forward and the two gradient ones), layout transposes (the copies
  XLA puts around convolutions and matmuls to give them the operand layout they want),
  zero-filled buffers (broadcasts: the stacked outputs, the embedding gradient) and the
  rest; and waits on the thread pool. Loops themselves are left out (their time is their
  bodies'). Largest first."""
  kinds: collections.Counter = collections.Counter()
  for name, ms, runs in profile:
    if name.startswith("while"):
      continue
    if "Await" in name or name.startswith("end:"):
      kinds["waits on the thread pool"] += ms
    elif runs >= steps:
      kinds["per step: " + _first_kind(name, _PER_STEP_KINDS, "elementwise")] += ms
    else:
      kinds["once: " + _first_kind(name, _ONCE_KINDS, "other")] += ms
  return kinds.most_common()
