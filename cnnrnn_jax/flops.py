"""FLOPs of a jitted call, and how close a run comes to the hardware: achieved FLOP/s, peak.

Shared by the benchmark (bench/) and the trainer's log lines (train.py).

  scan_aware_flops(fn, *args)  XLA's cost analysis with every `lax.scan` counted as many
                               times as it runs (XLA counts a loop body once)
  lowered_flops(jaxpr, lowered)  the same, of a program already traced and lowered
  step_flops(traced, lowered, compiled)  its FLOPs, or None where it cannot count (nested scans)
  gflops_per_s(flops, s)       achieved GFLOP/s
  StepCost                     a train step's FLOPs and peak: GFLOP/s and utilisation for
                               each log line at a measured steps/s
  peak_flops(dtype)            the device's peak FLOP/s in a compute dtype: the PEAKS table for
                               TPU / GPU generations (dense matmul units), and on CPU the
                               measured ceiling of an N x N matmul (measured once per process)

Utilisation = achieved / peak. On CPU the ceiling is what XLA's own best kernel reaches on
this machine, so utilisation there says how far a model is from the fastest op, not from a
datasheet. Measured while other work holds the CPU, that ceiling comes out low; a step that
beats it gets a warning and no utilisation (`config.peak_flops` gives the ceiling instead).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------------------------------
# FLOPs: XLA's HloCostAnalysis visits a while loop's body once, so a scan of length L
# is under-counted L-fold. We count each scan's body on its own (its jaxpr lowered alone,
# a small program) and add the (L - u) copies XLA left out (a scan unrolled u times holds
# u copies in its loop body). The scans are found in the function's jaxpr (inside jit,
# custom_vjp, remat, ... calls), so Flax's nn.RNN is counted like our own scans.


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


_KEYS = ("flops", "transcendentals")


def _analysed(
  lowered: jax.stages.Lowered, compiled: jax.stages.Compiled | None = None
) -> dict[str, float]:
  cost = lowered.cost_analysis()
  if cost is None:  # some backends (GPU) analyse only the compiled program
    cost = (compiled or lowered.compile()).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return {k: float(cost.get(k, 0.0)) for k in _KEYS}


def _body_cost(body: jex.ClosedJaxpr) -> dict[str, float]:
  """XLA's count of one step of a scan: its body alone, lowered (not compiled)."""
  shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in body.in_avals]
  return _analysed(jax.jit(jex.jaxpr_as_fun(body)).lower(*shapes))


def lowered_flops(
  jaxpr: jex.ClosedJaxpr,
  lowered: jax.stages.Lowered,
  compiled: jax.stages.Compiled | None = None,
) -> dict[str, float]:
  """{'flops', 'transcendentals'} of the program `lowered` from `jaxpr` (e.g. a
  `jax.jit(fn).trace(...)`'s jaxpr and its `lower()`), every scan body counted once per
  step. Costs one small lowering per scan; nothing is compiled (on backends that analyse
  only compiled programs, `compiled`, the program already compiled from `lowered`, is used,
  else it is compiled here)."""
  total = _analysed(lowered, compiled)
  for eqn in _scans(jaxpr.jaxpr):
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
    body = _body_cost(eqn.params["jaxpr"])
    for key in total:
      total[key] += (length - unroll) * body[key]
  return total


def scan_aware_flops(fn: Callable, *args: Any) -> dict[str, float]:
  """{'flops', 'transcendentals'} of one call of `fn(*args)`, every scan body counted
  once per step. Costs one trace and one lowering of `fn` (no compile) plus one small
  lowering per scan."""
  traced = jax.jit(fn).trace(*args)
  return lowered_flops(traced.jaxpr, traced.lower())


def gflops_per_s(flops: float | None, seconds: float) -> float | None:
  """Achieved GFLOP/s of `flops` done in `seconds` (None when the FLOPs are unknown)."""
  return None if flops is None or seconds <= 0 else flops / seconds / 1e9


def step_flops(
  traced: jax.stages.Traced, lowered: jax.stages.Lowered, compiled: jax.stages.Compiled
) -> float | None:
  """FLOPs of one call of the program `traced`, `lowered` and `compiled` (lowered_flops: the
  trainer counts the step it compiles, tracing and compiling nothing twice), or None (logged)
  where they cannot be counted: a scan inside a scan, or an unroll that leaves a remainder
  loop."""
  try:
    return lowered_flops(traced.jaxpr, lowered, compiled)["flops"]
  except NotImplementedError as e:
    logging.warning("no FLOP/s in the logs: %s", e)
    return None


# Dense (no sparsity) peak FLOP/s per chip from the vendors' datasheets, keyed by a lower-case
# substring of `jax.Device.device_kind`: (float32, bfloat16). Float32 matmuls run as bfloat16
# passes on TPU (JAX's default precision) and as TF32 on Ampere and later GPUs, so their
# float32 entry is that unit's peak.
PEAKS: dict[str, tuple[float, float]] = {
  "tpu v2": (45e12, 45e12),
  "tpu v3": (123e12, 123e12),
  "tpu v4": (275e12, 275e12),
  "tpu v5 lite": (197e12, 197e12),  # v5e
  "tpu v5e": (197e12, 197e12),
  "tpu v5p": (459e12, 459e12),
  "tpu v5": (459e12, 459e12),
  "tpu v6": (918e12, 918e12),  # v6e (Trillium)
  "v100": (15.7e12, 125e12),  # no bf16 tensor cores: fp16's figure
  "t4": (8.1e12, 65e12),
  "a100": (156e12, 312e12),
  "a10": (62.5e12, 125e12),
  "l4": (60e12, 121e12),
  "h100": (495e12, 989e12),
  "h200": (495e12, 989e12),
  "b200": (1100e12, 2250e12),
}


def table_peak(device_kind: str, dtype: str) -> float | None:
  """The PEAKS entry for `device_kind` (longest matching key), or None when it has none."""
  kind = device_kind.lower()
  keys = sorted((k for k in PEAKS if k in kind), key=len, reverse=True)
  if not keys:
    return None
  return PEAKS[keys[0]][0 if dtype == "float32" else 1]


@functools.cache
def measured_matmul_peak(dtype: str = "float32", n: int = 1024, repeats: int = 3) -> float:
  """FLOP/s of the fastest of `repeats` N x N matmuls in `dtype` on the default device,
  after one warm-up: this machine's practical ceiling. Measured once per process; the
  operands come from NumPy (their values do not matter, and drawing them with jax.random
  would compile and run a PRNG program that costs more than the measurement)."""
  rng = np.random.default_rng(0)
  a, b = (jnp.asarray(rng.standard_normal((n, n), np.float32), dtype) for _ in range(2))
  matmul = jax.jit(jnp.matmul)
  matmul(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * n**3 / best


MEASURED = "measured matmul ceiling"  # peak_flops' source on a CPU


def peak_flops(dtype: str = "float32", given: float | None = None) -> tuple[float | None, str]:
  """(peak FLOP/s, where it came from) for the default device computing in `dtype`:
  `given` (a config's value) if set, else the PEAKS table, else on CPU the measured matmul
  ceiling; (None, 'unknown') for an accelerator the table lacks."""
  if given:
    return float(given), "config"
  device = jax.devices()[0]
  found = table_peak(device.device_kind, dtype)
  if found is not None:
    return found, f"table ({device.device_kind})"
  if device.platform == "cpu":
    return measured_matmul_peak(dtype), MEASURED
  return None, "unknown"


_BEATEN_CEILINGS: set[float] = set()


def _warn_ceiling_beaten(peak: float, achieved_gflops: float) -> None:
  """A step faster than the measured ceiling means the ceiling was measured while other work
  held the CPU: say so once per ceiling, and leave utilisation out rather than log it above
  100%."""
  if peak in _BEATEN_CEILINGS:
    return
  _BEATEN_CEILINGS.add(peak)
  logging.warning(
    "a train step reached %.1f GFLOP/s, above the %.1f GFLOP/s matmul ceiling measured at "
    "the start (the CPU was busy then); utilisation is left out of the logs: give the "
    "ceiling with --config.peak_flops",
    achieved_gflops,
    peak / 1e9,
  )


@dataclasses.dataclass(frozen=True)
class StepCost:
  """FLOPs of one training step and the peak they are measured against: what a log line
  needs to turn steps/s into achieved GFLOP/s and utilisation."""

  flops: float | None
  peak: float | None = None
  peak_source: str = "unknown"

  @classmethod
  def of(
    cls, step_flops: float | None, dtype: str = "float32", given_peak: float | None = None
  ) -> StepCost:
    """A step of `step_flops` FLOPs against peak_flops(dtype, given_peak)."""
    return cls(step_flops, *peak_flops(dtype, given_peak))

  def describe(self) -> str:
    """'1.230 GFLOP per step; peak 52.6 GFLOP/s (measured matmul ceiling)'."""
    step = "?" if self.flops is None else f"{self.flops / 1e9:.3f}"
    peak = "?" if self.peak is None else f"{self.peak / 1e9:.1f}"
    return f"{step} GFLOP per step; peak {peak} GFLOP/s ({self.peak_source})"

  def record(self, steps_per_sec: float) -> dict[str, float]:
    """{'gflops_per_sec', 'utilisation' (a fraction of the peak, when known)}; {} when the
    step's FLOPs are unknown."""
    if self.flops is None:
      return {}
    out = {"gflops_per_sec": self.flops * steps_per_sec / 1e9}
    if self.peak:
      utilisation = self.flops * steps_per_sec / self.peak
      if utilisation <= 1 or self.peak_source != MEASURED:
        out["utilisation"] = utilisation
      else:
        _warn_ceiling_beaten(self.peak, out["gflops_per_sec"])
    return out

  @staticmethod
  def text(record: dict[str, float]) -> str:
    """'  7.75 GFLOP/s (14.7% of peak)' for a log line ('' without FLOPs)."""
    text = f"  {record['gflops_per_sec']:.2f} GFLOP/s" if "gflops_per_sec" in record else ""
    if "utilisation" in record:
      text += f" ({100 * record['utilisation']:.1f}% of peak)"
    return text
