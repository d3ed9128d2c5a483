"""What a compiled call costs, apart from its wall time: compile seconds, memory, FLOPs, ops.

Shape key: N matrix side of the matmul ceiling.

  compile_timed(fn, *args)   jit + lower + compile, timed apart from running; the
                             compiled executable and XLA's memory analysis of it
  scan_aware_flops(fn, *args)
                             XLA's cost analysis with every `lax.scan` counted as many
                             times as it runs (XLA counts a loop body once)
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
import jax.extend.core as jex
import jax.numpy as jnp

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
  if cost is None:  # some backends (GPU) analyse only the compiled program
    cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return {k: float(cost.get(k, 0.0)) for k in ("flops", "transcendentals")}


def scan_aware_flops(fn: Callable, *args: Any) -> dict[str, float]:
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
      raise NotImplementedError(
        f"a scan of length {length} with unroll={unroll} has a "
        "remainder loop; use an unroll that divides the length"
      )
    more = 2 * unroll if length % (2 * unroll) == 0 else length
    unrolled = _cost(
      jex.ClosedJaxpr(_with_unroll(closed.jaxpr, eqn, more), closed.consts), flat_args
    )
    for key in total:
      body = (unrolled[key] - base[key]) / (more - unroll)
      total[key] += (length - unroll) * body
  return total


def matmul_ceiling_case(
  n: int = 2048, seed: int = 0
) -> tuple[Compiled, tuple[jax.Array, jax.Array], float]:
  """(compiled, args, flops) for an N x N float32 matmul: the practical peak."""
  k_a, k_b = jax.random.split(jax.random.PRNGKey(seed))
  args = (jax.random.normal(k_a, (n, n), jnp.float32), jax.random.normal(k_b, (n, n), jnp.float32))
  return compile_timed(jnp.matmul, *args), args, 2.0 * n**3


def gflops_per_s(flops: float | None, seconds: float) -> float | None:
  """Achieved GFLOP/s of `flops` done in `seconds` (None when the FLOPs are unknown)."""
  return None if flops is None or seconds <= 0 else flops / seconds / 1e9


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


def time_by_kind(profile: Sequence[tuple[str, float, int]], steps: int) -> list[tuple[str, float]]:
  """[(kind, ms per call)] of an `op_profile` (every op: top=None), the kinds of a scan:
  ops run once per time step or more (inside the loops of a recurrence of `steps` steps)
  as matmuls, copies into the stacked outputs and elementwise; ops run once per call as
  matmuls, zero-filled buffers (broadcasts: the stacked outputs, the embedding gradient)
  and the rest; and waits on the thread pool. Loops themselves are left out (their time
  is their bodies'). Largest first."""
  kinds: collections.Counter = collections.Counter()
  for name, ms, runs in profile:
    if name.startswith("while"):
      continue
    matmul = "ynn" in name or "dot" in name or "xnn" in name
    if "Await" in name or name.startswith("end:"):
      kind = "waits on the thread pool"
    elif runs >= steps:
      copies = ("dynamic-update-slice", "concatenate", "copy", "slice_fusion", "dynamic-slice")
      kind = "per step: " + (
        "matmul"
        if matmul
        else "copies, slices"
        if any(c in name for c in copies)
        else "elementwise"
      )
    else:
      kind = "once: " + ("matmul" if matmul else "zero fill" if "broadcast" in name else "other")
    kinds[kind] += ms
  return kinds.most_common()
