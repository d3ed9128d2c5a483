"""Timing that holds up on a shared machine: compile apart, interleaved medians, true FLOPs.

Shape key: N matrix side of the matmul ceiling.

  compile_timed(fn, *args)   jit + lower + compile, timed apart from running; the
                             compiled executable and XLA's memory analysis of it
  scan_aware_flops(fn, *args)
                             XLA's cost analysis with every `lax.scan` counted as many
                             times as it runs (XLA counts a loop body once)
  time_interleaved(calls, repeats)
                             wall times after a warm-up call, implementations taken in
                             turn (rotated each round) so load spikes hit all of them
  matmul_ceiling_case(n)     an N x N float32 matmul: the machine's practical peak,
                             timed in the same rounds as everything else
  hlo_op_counts(compiled)    how many convolution / dot / scatter / gather ops the
                             optimized HLO holds (the "why" behind a timing)
  op_profile(call, args)     wall time per XLA op (thunk) of a compiled call, from a
                             profiler trace: where the time goes
  reuse_freed_memory()       keeps glibc from unmapping large freed buffers, so a
                             repeated call does not page-fault its temporaries in again

Benchmarks are scripts (`experiments/benchmark.py`); nothing here reads flags.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from typing import Any, Callable, Sequence

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass
class Compiled:
  """A compiled executable and what XLA says about it (bytes from memory_analysis)."""

  call: Callable
  compile_s: float
  temp_bytes: int | None = None
  argument_bytes: int | None = None
  output_bytes: int | None = None


def compile_timed(fn: Callable, *args) -> Compiled:
  """Traces, lowers and compiles `fn` for `args`; the seconds this took are compile time."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  seconds = time.perf_counter() - start
  memory = compiled.memory_analysis()
  if memory is None:   # some backends do not report it
    return Compiled(compiled, seconds)
  return Compiled(compiled, seconds, int(memory.temp_size_in_bytes),
                  int(memory.argument_size_in_bytes), int(memory.output_size_in_bytes))


# ---------------------------------------------------------------------------------------
# FLOPs: XLA's HloCostAnalysis visits a while loop's body once, so a scan of length L
# is under-counted L-fold. We count each scan's body by unrolling it once more
# (unroll u -> 2u puts one more copy of the body into the loop) and add the missing
# (L - u) copies. Works on any function: the scans are found in its jaxpr (inside
# jit, custom_vjp, remat, ... calls), so Flax's nn.RNN is counted like our own scans.


def _map_subjaxprs(params: dict, fn: Callable[[jex.Jaxpr], jex.Jaxpr]) -> dict:
  """`params` with `fn` applied to every jaxpr in it (call bodies, cond branches, ...)."""
  def one(v):
    if isinstance(v, jex.ClosedJaxpr):
      return jex.ClosedJaxpr(fn(v.jaxpr), v.consts)
    if isinstance(v, jex.Jaxpr):
      return fn(v)
    if isinstance(v, tuple) and v and all(isinstance(b, (jex.ClosedJaxpr, jex.Jaxpr)) for b in v):
      return tuple(one(b) for b in v)
    return v
  return {k: one(v) for k, v in params.items()}


def _scans(jaxpr: jex.Jaxpr, inside_scan: bool = False) -> list[jex.JaxprEqn]:
  """Scan equations in program order (depth first)."""
  found = []

  def visit(j: jex.Jaxpr) -> jex.Jaxpr:
    found.extend(_scans(j, inside_scan))
    return j

  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "scan":
      if inside_scan:
        raise NotImplementedError("scan_aware_flops does not count nested scans")
      found.append(eqn)
      _scans(eqn.params["jaxpr"].jaxpr, inside_scan=True)
    else:
      _map_subjaxprs(eqn.params, visit)
  return found


def _with_unroll(jaxpr: jex.Jaxpr, target: jex.JaxprEqn, unroll: int) -> jex.Jaxpr:
  def rewrite(j: jex.Jaxpr) -> jex.Jaxpr:
    eqns = []
    for eqn in j.eqns:
      if eqn is target:
        eqn = eqn.replace(params={**eqn.params, "unroll": unroll})
      elif eqn.primitive.name != "scan":
        eqn = eqn.replace(params=_map_subjaxprs(eqn.params, rewrite))
      eqns.append(eqn)
    return j.replace(eqns=eqns)
  return rewrite(jaxpr)


def _cost(closed: jex.ClosedJaxpr, flat_args) -> dict[str, float]:
  lowered = jax.jit(jex.jaxpr_as_fun(closed)).lower(*flat_args)
  cost = lowered.cost_analysis()
  if cost is None:   # some backends (GPU) analyse only the compiled program
    cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return {k: float(cost.get(k, 0.0)) for k in ("flops", "transcendentals")}


def scan_aware_flops(fn: Callable, *args) -> dict[str, float]:
  """{'flops', 'transcendentals'} of one call of `fn(*args)`, every scan body counted
  once per step. Costs one lowering (no compile) plus one per scan."""
  closed = jax.make_jaxpr(fn)(*args)
  flat_args = jax.tree.leaves(args)
  base = _cost(closed, flat_args)
  total = dict(base)
  for eqn in _scans(closed.jaxpr):
    length = int(eqn.params["length"])
    unroll = eqn.params["unroll"]
    unroll = length if unroll is True else max(int(unroll), 1)
    if unroll >= length or length == 0:
      continue
    if length % unroll:
      raise NotImplementedError(f"a scan of length {length} with unroll={unroll} has a "
                                "remainder loop; use an unroll that divides the length")
    more = 2 * unroll if length % (2 * unroll) == 0 else length
    unrolled = _cost(jex.ClosedJaxpr(_with_unroll(closed.jaxpr, eqn, more), closed.consts),
                     flat_args)
    for key in total:
      body = (unrolled[key] - base[key]) / (more - unroll)
      total[key] += (length - unroll) * body
  return total


# ---------------------------------------------------------------------------------------
# Timing


def block(out: Any) -> Any:
  """Waits for every JAX array in `out` (anything else passes through)."""
  return jax.block_until_ready(out)


def time_interleaved(calls: dict[str, tuple[Callable, Sequence[Any]]], repeats: int,
                     pause_s: float = 0.0) -> dict[str, list[float]]:
  """Wall seconds of `call(*args)` for each entry, `repeats` rounds after one warm-up.

  Each round calls every entry once, starting one further along the list each round,
  so a burst of load from other processes lands on all implementations alike. A
  short, untimed pause between calls lets thread pools of other runtimes (torch's
  OpenMP spins after a parallel region) go quiet before the next timed call.
  """
  names = list(calls)
  if not names:
    return {}
  for name in names:
    fn, args = calls[name]
    block(fn(*args))
  times = {name: [] for name in names}
  for r in range(repeats):
    for name in names[r % len(names):] + names[:r % len(names)]:
      fn, args = calls[name]
      if pause_s:
        time.sleep(pause_s)
      start = time.perf_counter()
      block(fn(*args))
      times[name].append(time.perf_counter() - start)
  return times


def matmul_ceiling_case(n: int = 2048, seed: int = 0):
  """(compiled, args, flops) for an N x N float32 matmul: the practical peak."""
  k_a, k_b = jax.random.split(jax.random.PRNGKey(seed))
  args = (jax.random.normal(k_a, (n, n), jnp.float32), jax.random.normal(k_b, (n, n), jnp.float32))
  return compile_timed(jnp.matmul, *args), args, 2.0 * n ** 3


def gflops_per_s(flops: float | None, seconds: float) -> float | None:
  return None if flops is None or seconds <= 0 else flops / seconds / 1e9


def summarize_times(times: Sequence[float]) -> dict[str, float]:
  times = np.asarray(times, dtype=np.float64)
  return {"median_ms": float(np.median(times) * 1e3), "min_ms": float(times.min() * 1e3),
          "iqr_ms": float((np.percentile(times, 75) - np.percentile(times, 25)) * 1e3)}


HLO_OPS = ("convolution", "dot", "scatter", "gather")


def hlo_op_counts(compiled, ops: Sequence[str] = HLO_OPS) -> dict[str, int]:
  """Occurrences of each op in the optimized HLO (`compiled.as_text()`), fused or not."""
  found = collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", compiled.as_text()))
  return {op: found.get(op, 0) for op in ops}


def op_profile(call: Callable, args: Sequence[Any], repeats: int = 3,
               top: int = 12) -> list[tuple[str, float, int]]:
  """[(op name, ms per call, executions per call)] of the `top` slowest ops (XLA:CPU
  thunks, loops included with their bodies), from a jax.profiler trace of `repeats`
  calls after a warm-up."""
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
  skip = ("ThunkExecutor", "$", "PjitFunction", "CommonPjRt")   # runtime and Python frames
  for e in events:
    if e.get("ph") == "X" and not e["name"].startswith(skip):
      total[e["name"]] += e.get("dur", 0.0)
      count[e["name"]] += 1
  # Name each op with its result shape, as the optimized HLO declares it.
  shapes = dict(re.findall(r"%([\w.-]+) = ([a-z]\w*\[[\d,]*\])", call.as_text())) if hasattr(
      call, "as_text") else {}
  return [(f"{name} {shapes.get(name, '')}".strip(), us / repeats / 1e3, count[name] // repeats)
          for name, us in total.most_common(top)]


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
  trim_bytes = min(2 * threshold_bytes, 2 ** 31 - 1)      # mallopt takes a C int
  # One arena: a thread's own arena cannot hold a block over 64 MiB and maps it anyway.
  return bool(libc.mallopt(m_mmap_threshold, threshold_bytes)
              and libc.mallopt(m_trim_threshold, trim_bytes)
              and libc.mallopt(m_arena_max, 1))
