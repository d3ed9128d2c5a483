r"""Speed, in ratios measured in one run: our cores against each other and against peers.

  python -m experiments.benchmark --outdir=/tmp/cnnrnn_bench                # <= 10 min, 2 CPU cores
  python -m experiments.benchmark --outdir=/tmp/cnnrnn_bench --with_torch   # + torch peers

Three suites (--suites):
  targets  B=64, input 128, hidden 256, T=256, float32: every implementation of every
           family -- recurrences (ours fused and scan, Flax nn.RNN cells, torch),
           convolution layer and Kim CNN (vmap forms, XLA, torch), linear recurrence
           (associative vs sequential scan) and self-attention when those modules
           exist -- plus an N x N float32 matmul: the machine's ceiling, timed in the
           same rounds. Ends with the issue's target ratios and whether they hold.
  lengths  the timed implementation of each family at T = --lengths (batch --sweep_batch):
           LSTM and GRU layers, convolution layer, Kim CNN, linear recurrence, attention.
  batch    the Kim CNN and the LSTM model (same embedding and head) at T=256 and batch
           sizes --batch_sizes.

Every row: forward and forward+backward wall time (median over rounds, after
compilation, implementations interleaved in each round), compile time, XLA's compiled
temporary memory, FLOPs from XLA's cost analysis with each scan body counted once per
step, achieved GFLOP/s and its share of the matmul ceiling. "fwd+bwd" is the gradient
of a fixed linear function of the outputs with respect to parameters and inputs (the
Kim CNN and LSTM *models*: a real train-mode loss). torch's FLOPs are those of our
fused twin of the same layer (the same arithmetic).

Writes into --outdir: results.csv (one row per case), tables.md (what is printed) and
benchmark.png (time against length; the target ratios; GFLOP/s against the ceiling).
Timings on a shared machine are noisy: read ratios from one run, and the load
average, printed at the start and end, says how shared it was.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import os
import platform
import sys
import time
from typing import Any, Callable

from absl import app, flags

_OUTDIR = flags.DEFINE_string("outdir", "/tmp/cnnrnn_bench", "Where results.csv, tables.md "
                              "and benchmark.png go.")
_WITH_TORCH = flags.DEFINE_bool("with_torch", False, "Also time torch nn.LSTM/GRU/RNN/Conv1d "
                                "(needs torch installed: pip install -e '.[bench]').")
_SUITES = flags.DEFINE_list("suites", ["targets", "lengths", "batch"], "Which suites to run.")
_FAMILIES = flags.DEFINE_list("families", [], "Only these families (default: all): lstm, gru, "
                              "rnn, conv, kim_cnn, lstm_model, linear, attention.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed rounds of the targets suite.")
_SWEEP_REPEATS = flags.DEFINE_integer("sweep_repeats", 3, "Timed rounds per sweep point.")
_BATCH = flags.DEFINE_integer("batch", 64, "Targets suite batch size.")
_LENGTH = flags.DEFINE_integer("length", 256, "Targets suite sequence length.")
_INPUT = flags.DEFINE_integer("input", 128, "Input channels (= embedding width of the models).")
_HIDDEN = flags.DEFINE_integer("hidden", 256, "Recurrent hidden units.")
_FILTERS = flags.DEFINE_integer("filters", 100, "Feature maps per convolution width.")
_LENGTHS = flags.DEFINE_list("lengths", ["32", "256", "1024", "4096"], "Lengths suite.")
_SWEEP_BATCH = flags.DEFINE_integer("sweep_batch", 16, "Batch size of the lengths suite.")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "16", "256"], "Batch suite.")
_SWEEP_IMPLS = flags.DEFINE_enum("sweep_impls", "timed", ["timed", "all"], "Sweeps time "
                                 "the implementation each family is timed with (timed) or "
                                 "every implementation of it (all: scan and fused recurrences, "
                                 "every convolution form, both linear recurrences).")
_CEILING_N = flags.DEFINE_integer("ceiling_n", 2048, "Side of the ceiling matmul.")
_REUSE_MEMORY = flags.DEFINE_bool("reuse_freed_memory", True, "Keep glibc from unmapping "
                                   "large freed buffers (bench.reuse_freed_memory); applies to "
                                   "JAX and torch alike. --noreuse_freed_memory to compare.")
_PROFILE = flags.DEFINE_bool("profile", True, "Print where the fwd+bwd time of our LSTM "
                              "and GRU goes, per XLA op (bench.op_profile; XLA:CPU only).")
_ATTENTION_MAX_MB = flags.DEFINE_integer("attention_max_mb", 512, "Skip attention where one "
                                         "B x heads x T x T float32 tensor exceeds this.")

# Imported in main(), after XLA_FLAGS may have been set.
jax = jnp = np = nn = None
bench = conv = models = recurrent = train = TaskSpec = None


@dataclasses.dataclass
class Case:
  """One implementation at one shape, compiled (or a torch closure) and ready to time."""

  suite: str
  family: str
  impl: str
  mode: str                    # fwd | fwd+bwd
  dims: dict[str, int]
  call: Callable
  args: tuple
  compile_s: float | None = None
  temp_mb: float | None = None
  flops: float | None = None
  note: str = ""
  times: list[float] = dataclasses.field(default_factory=list)
  hlo: dict[str, int] = dataclasses.field(default_factory=dict)   # op counts (conv families)


def _imports():
  global jax, jnp, np, nn, bench, conv, models, recurrent, train, TaskSpec
  import flax.linen as nn_
  import jax as jax_
  import jax.numpy as jnp_
  import numpy as np_
  from cnnrnn_jax import bench as bench_, conv as conv_, models as models_
  from cnnrnn_jax import recurrent as recurrent_, train as train_
  from cnnrnn_jax.tasks.base import TaskSpec as TaskSpec_
  jax, jnp, np, nn = jax_, jnp_, np_, nn_
  bench, conv, models, recurrent, train, TaskSpec = (bench_, conv_, models_, recurrent_,
                                                     train_, TaskSpec_)


def _optional(module: str):
  """A cnnrnn_jax module that may not exist yet in this checkout (None if absent)."""
  try:
    return importlib.import_module(f"cnnrnn_jax.{module}")
  except ImportError:
    return None


def _normal(seed: int, shape):
  return jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


# ---------------------------------------------------------------------------------------
# JAX cases: a forward function and a fwd+bwd function of (params, inputs).


def _jax_pair(suite, family, impl, dims, apply, params, inputs):
  """[fwd case, fwd+bwd case]; fwd+bwd = value and gradient of <outputs, fixed weights>
  w.r.t. parameters and inputs (the value keeps XLA from dropping the forward pass of
  a layer that is linear in its parameters)."""
  out_shape = jax.eval_shape(apply, params, inputs).shape
  w_out = _normal(99, out_shape)
  grad = jax.value_and_grad(lambda p, x: jnp.sum(apply(p, x) * w_out), argnums=(0, 1))
  return [_jax_case(suite, family, impl, "fwd", dims, apply, (params, inputs)),
          _jax_case(suite, family, impl, "fwd+bwd", dims, grad, (params, inputs))]


def _jax_case(suite, family, impl, mode, dims, fn, args, note=""):
  compiled = bench.compile_timed(fn, *args)
  try:
    flops = bench.scan_aware_flops(fn, *args)["flops"]
  except Exception as e:  # pylint: disable=broad-except  (a count we cannot make is no reason to stop timing)
    flops, note = None, f"{note} FLOPs not counted: {type(e).__name__}: {e}".strip()[:200]
  temp_mb = None if compiled.temp_bytes is None else compiled.temp_bytes / 2 ** 20
  hlo = bench.hlo_op_counts(compiled.call) if family in ("conv", "kim_cnn") else {}
  return Case(suite, family, impl, mode, dims, compiled.call, args, compiled.compile_s,
              temp_mb, flops, note, hlo=hlo)


FLAX_CELLS = {"lstm": "OptimizedLSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}


def recurrent_cases(suite, cell, impl, B, T, I, H):
  """Our RNN layer (impl fused | scan) or Flax nn.RNN ('flax', 'flax_lstmcell')."""
  x = _normal(1, (B, T, I))
  lengths = jnp.full((B,), T, jnp.int32)
  if impl in recurrent.IMPLS:
    layer = recurrent.RNN(cell, H, impl=impl)
    apply = lambda p, x: layer.apply(p, x, lengths)[0]
    params = layer.init(jax.random.PRNGKey(0), x, lengths)
  else:
    cell_cls = nn.LSTMCell if impl == "flax_lstmcell" else getattr(nn, FLAX_CELLS[cell])
    layer = nn.RNN(cell_cls(H))
    apply = layer.apply
    params = layer.init(jax.random.PRNGKey(0), x)
  return _jax_pair(suite, cell, impl, dict(B=B, T=T, I=I, H=H), apply, params, x)


def conv_cases(suite, impl, B, T, C, F, K=5):
  """One Conv1D layer ('same' padding) of width K."""
  x = _normal(2, (B, T, C))
  layer = conv.Conv1D(F, K, "same", impl=impl)
  params = layer.init(jax.random.PRNGKey(0), x)
  return _jax_pair(suite, "conv", impl, dict(B=B, T=T, C=C, F=F, K=K), layer.apply, params, x)


def _model_cases(suite, family, impl, encoder, B, T, E, vocab=10_000):
  """A whole SequenceModel (embedding, encoder, dropout, head): forward in eval mode,
  fwd+bwd = the gradient of the train-mode classification loss (train.loss_and_sums)."""
  spec = TaskSpec("classify", num_outputs=2, seq_len=T, vocab_size=vocab)
  model = models.SequenceModel(spec, encoder, embed_dim=E, dropout=0.1)
  k_in, k_y = jax.random.split(jax.random.PRNGKey(3))
  batch = {"inputs": jax.random.randint(k_in, (B, T), 1, vocab),
           "lengths": jnp.full((B,), T, jnp.int32),
           "targets": jax.random.randint(k_y, (B,), 0, 2),
           "weights": jnp.ones((B,), jnp.float32)}
  params = model.init(jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  rng = jax.random.PRNGKey(4)

  def forward(p, batch):
    return model.apply(p, batch["inputs"], batch["lengths"])[0]

  def loss(p, batch):
    outputs, _ = model.apply(p, batch["inputs"], batch["lengths"], train=True,
                             rngs={"dropout": rng})
    return train.loss_and_sums(spec, outputs, batch)[0]

  dims = dict(B=B, T=T, E=E)
  return [_jax_case(suite, family, impl, "fwd", dims, forward, (params, batch)),
          _jax_case(suite, family, impl, "fwd+bwd", dims, jax.value_and_grad(loss),
                    (params, batch))]


def kim_cnn_cases(suite, impl, B, T, E, F):
  encoder = models.TextCNN((3, 4, 5), F, "valid", impl)
  return _model_cases(suite, "kim_cnn", impl, encoder, B, T, E)


def lstm_model_cases(suite, impl, B, T, E, H):
  encoder = models.RecurrentEncoder("lstm", H, impl=impl)
  return _model_cases(suite, "lstm_model", impl, encoder, B, T, E)


def linear_cases(suite, linear_scan, impl, B, T, H):
  """h_t = a_t h_{t-1} + b_t over B sequences (a in (0, 1))."""
  inputs = (jax.nn.sigmoid(_normal(5, (B, T, H))), _normal(6, (B, T, H)))
  run = jax.vmap(lambda a, b: linear_scan.linear_recurrence(a, b, impl=impl)[1])
  return _jax_pair(suite, "linear", impl, dict(B=B, T=T, H=H),
                   lambda p, ab: run(*ab), {}, inputs)


def attention_cases(suite, attention, B, T, D, heads=4):
  x = _normal(7, (B, T, D))
  lengths = jnp.full((B,), T, jnp.int32)
  layer = attention.SelfAttention(num_heads=heads)
  params = layer.init(jax.random.PRNGKey(0), x, lengths)
  return _jax_pair(suite, "attention", "self_attention", dict(B=B, T=T, D=D, heads=heads),
                   lambda p, x: layer.apply(p, x, lengths)[0], params, x)


def ceiling_case(suite, n):
  compiled, args, flops = bench.matmul_ceiling_case(n)
  return Case(suite, "matmul", "jnp.matmul", "fwd", dict(N=n), compiled.call, args,
              compiled.compile_s, (compiled.temp_bytes or 0) / 2 ** 20, flops)


# ---------------------------------------------------------------------------------------
# torch peers (optional)


def torch_ceiling_case(torch, suite, n):
  """torch's N x N float32 matmul: the peer's own ceiling, timed in the same rounds."""
  device = _torch_device(torch)
  a, b = (torch.randn(n, n, device=device) for _ in range(2))
  return Case(suite, "matmul", "torch.matmul", "fwd", dict(N=n),
              _synced(torch, lambda: a @ b, a.is_cuda), (), flops=2.0 * n ** 3)


def _torch_device(torch) -> str:
  """Where the torch peers run: the GPU when JAX runs on one too (and torch sees it)."""
  return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _synced(torch, fn, on_gpu: bool):
  """`fn`, waiting for the GPU before it returns (torch launches asynchronously)."""
  if not on_gpu:
    return fn

  def call():
    out = fn()
    torch.cuda.synchronize()
    return out
  return call


def _torch_pair(torch, suite, family, dims, layer, x, w_out, flops_by_mode):
  """fwd (no_grad) and fwd+bwd (backward of <outputs, fixed weights>) closures, once with
  torch's default thread count and once with one thread: under load from other
  processes, torch's OpenMP threads lose more than a single thread does, so the target
  ratios use whichever is faster (the peer's best). On a GPU: one variant, and each
  call waits for the device (torch launches asynchronously)."""
  threads = torch.get_num_threads()
  on_gpu = x.is_cuda

  def run(fn, n):
    def call():
      torch.set_num_threads(n)
      try:
        return fn()
      finally:
        torch.set_num_threads(threads)
    return _synced(torch, call, on_gpu)

  def forward():
    with torch.no_grad():
      return layer(x)[0] if family != "conv" else layer(x)

  def fwd_bwd():
    layer.zero_grad(set_to_none=True)
    x.grad = None
    out = layer(x)[0] if family != "conv" else layer(x)
    out.backward(w_out)

  variants = (("torch", threads),) if on_gpu else (("torch", threads), ("torch_1thread", 1))
  return [Case(suite, family, impl, mode, dims, run(fn, n), (), flops=flops_by_mode.get(mode))
          for impl, n in variants for mode, fn in (("fwd", forward), ("fwd+bwd", fwd_bwd))]


def torch_recurrent_cases(torch, suite, cell, B, T, I, H, flops_by_mode):
  device = _torch_device(torch)
  layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
      I, H, batch_first=True).to(device)
  return _torch_pair(torch, suite, cell, dict(B=B, T=T, I=I, H=H), layer,
                     torch.randn(B, T, I, device=device, requires_grad=True),
                     torch.randn(B, T, H, device=device), flops_by_mode)


def torch_conv_cases(torch, suite, B, T, C, F, flops_by_mode, K=5):
  device = _torch_device(torch)
  layer = torch.nn.Conv1d(C, F, K, padding="same").to(device)
  # torch's native channels-first layout
  x = torch.randn(B, C, T, device=device, requires_grad=True)
  return _torch_pair(torch, suite, "conv", dict(B=B, T=T, C=C, F=F, K=K), layer, x,
                     torch.randn(B, F, T, device=device), flops_by_mode)


# ---------------------------------------------------------------------------------------
# Suites


def _want(family: str) -> bool:
  return not _FAMILIES.value or family in _FAMILIES.value


def _flops_of(cases, family, impl):
  return {c.mode: c.flops for c in cases if c.family == family and c.impl == impl}


def _progress(msg: str):
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_targets(torch, linear_scan, attention) -> list[Case]:
  B, T, I, H, F = _BATCH.value, _LENGTH.value, _INPUT.value, _HIDDEN.value, _FILTERS.value
  cases = [ceiling_case("targets", _CEILING_N.value)]
  if torch is not None:
    cases.append(torch_ceiling_case(torch, "targets", _CEILING_N.value))
  for cell in ("lstm", "gru", "rnn"):
    if not _want(cell):
      continue
    impls = ["fused", "scan", "flax"] + (["flax_lstmcell"] if cell == "lstm" else [])
    for impl in impls:
      _progress(f"compiling {cell} {impl}")
      cases += recurrent_cases("targets", cell, impl, B, T, I, H)
    if torch is not None:
      cases += torch_recurrent_cases(torch, "targets", cell, B, T, I, H,
                                     _flops_of(cases, cell, "fused"))
  if _want("conv"):
    for impl in conv.IMPLS:
      _progress(f"compiling conv {impl}")
      cases += conv_cases("targets", impl, B, T, I, F)
    if torch is not None:
      cases += torch_conv_cases(torch, "targets", B, T, I, F, _flops_of(cases, "conv", "xla"))
  if _want("kim_cnn"):
    for impl in conv.IMPLS:
      _progress(f"compiling kim_cnn {impl}")
      cases += kim_cnn_cases("targets", impl, B, T, I, F)
  if _want("lstm_model"):
    _progress("compiling lstm_model fused")
    cases += lstm_model_cases("targets", "fused", B, T, I, H)
  if linear_scan is not None and _want("linear"):
    for impl in linear_scan.IMPLS:
      _progress(f"compiling linear {impl}")
      cases += linear_cases("targets", linear_scan, impl, B, T, H)
  if attention is not None and _want("attention"):
    _progress("compiling attention")
    cases += attention_cases("targets", attention, B, T, H)
  return cases


def _attention_fits(B, T, heads=4):
  return B * heads * T * T * 4 / 2 ** 20 <= _ATTENTION_MAX_MB.value


def build_sweep_point(suite, B, T, linear_scan, attention) -> list[Case]:
  """The timed implementation of each family (the fastest kind we have) at one shape."""
  I, H, F = _INPUT.value, _HIDDEN.value, _FILTERS.value
  every = _SWEEP_IMPLS.value == "all"
  rnn_impls = recurrent.IMPLS if every else ("fused",)
  conv_impls = conv.IMPLS if every else ("xla",)
  cases = []
  if suite == "lengths":
    for cell in ("lstm", "gru"):
      if _want(cell):
        for impl in rnn_impls:
          cases += recurrent_cases(suite, cell, impl, B, T, I, H)
    if _want("conv"):
      for impl in conv_impls:
        cases += conv_cases(suite, impl, B, T, I, F)
    if linear_scan is not None and _want("linear"):
      for impl in linear_scan.IMPLS:
        cases += linear_cases(suite, linear_scan, impl, B, T, H)
    if attention is not None and _want("attention") and _attention_fits(B, T):
      cases += attention_cases(suite, attention, B, T, H)
  if _want("kim_cnn"):
    for impl in conv_impls:
      cases += kim_cnn_cases(suite, impl, B, T, I, F)
  if suite == "batch" and _want("lstm_model"):
    cases += lstm_model_cases(suite, "fused", B, T, I, H)
  return cases


def time_cases(cases: list[Case], repeats: int):
  calls = {i: (c.call, c.args) for i, c in enumerate(cases)}
  times = bench.time_interleaved(calls, repeats, pause_s=0.01)
  for i, c in enumerate(cases):
    c.times = times[i]


# ---------------------------------------------------------------------------------------
# Results: rows, tables, ratios, picture


def rows_of(cases: list[Case], ceiling_gflops: float | None) -> list[dict[str, Any]]:
  rows = []
  for c in cases:
    stats = bench.summarize_times(c.times)
    rate = bench.gflops_per_s(c.flops, stats["median_ms"] / 1e3)
    rows.append({
        "suite": c.suite, "family": c.family, "impl": c.impl, "mode": c.mode,
        **{k: c.dims.get(k, "") for k in ("B", "T", "I", "H", "C", "E", "F", "K", "D", "N")},
        "median_ms": stats["median_ms"], "min_ms": stats["min_ms"], "iqr_ms": stats["iqr_ms"],
        "repeats": len(c.times), "compile_s": c.compile_s, "temp_mb": c.temp_mb,
        "gflop": None if c.flops is None else c.flops / 1e9, "gflops_per_s": rate,
        "pct_ceiling": None if rate is None or not ceiling_gflops else 100 * rate / ceiling_gflops,
        **{f"hlo_{op}": c.hlo.get(op, "") for op in bench.HLO_OPS}, "note": c.note})
  return rows


def _fmt(v, digits=1):
  if v is None or v == "":
    return "-"
  if isinstance(v, float):
    return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}"
  return str(v)


def _markdown(header, rows):
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


REFERENCE_IMPL = {"lstm": "fused", "gru": "fused", "rnn": "fused", "conv": "xla",
                  "kim_cnn": "xla", "lstm_model": "fused", "linear": "sequential",
                  "attention": "self_attention", "matmul": "jnp.matmul"}


def table_by_impl(rows, suite) -> str:
  """One line per (family, impl): fwd and fwd+bwd side by side, ratio to the reference."""
  by_key = {}
  for r in rows:
    if r["suite"] == suite:
      by_key.setdefault((r["family"], r["impl"]), {})[r["mode"]] = r
  header = ["family", "impl", "fwd ms", "fwd+bwd ms", "x ref (fwd+bwd)", "compile s (f+b)",
            "temp MB (f+b)", "GFLOP (f+b)", "GFLOP/s (f+b)", "% ceiling"]
  out = []
  for (family, impl), modes in by_key.items():
    fb = modes.get("fwd+bwd") or modes.get("fwd")
    ref = by_key.get((family, REFERENCE_IMPL.get(family)), {}).get(fb["mode"])
    ratio = fb["median_ms"] / ref["median_ms"] if ref else None
    out.append([family, impl, modes.get("fwd", {}).get("median_ms"),
                modes.get("fwd+bwd", {}).get("median_ms"), ratio, fb["compile_s"], fb["temp_mb"],
                fb["gflop"], fb["gflops_per_s"], fb["pct_ceiling"]])
  return _markdown(header, out)


def table_hlo(rows) -> str:
  """What XLA made of each convolution form (optimized HLO of fwd+bwd)."""
  sel = [r for r in rows if r["suite"] == "targets" and r["mode"] == "fwd+bwd"
         and r["hlo_dot"] != ""]
  header = ["family", "impl"] + [f"{op} ops" for op in bench.HLO_OPS] + ["temp MB",
                                                                        "fwd+bwd ms"]
  return _markdown(header, [[r["family"], r["impl"]] + [r[f"hlo_{op}"] for op in bench.HLO_OPS]
                            + [r["temp_mb"], r["median_ms"]] for r in sel])


def _median(rows, family, impl, mode="fwd+bwd"):
  for r in rows:
    if r["suite"] == "targets" and (r["family"], r["impl"], r["mode"]) == (family, impl, mode):
      return r
  return None


OURS = ("fused", "scan")   # our recurrences (both tested equal to the plain scan)
TORCH = ("torch", "torch_1thread")


def _fastest(rows, family, impls):
  return min((r for r in (_median(rows, family, i) for i in impls) if r),
             key=lambda r: r["median_ms"], default=None)


def target_verdicts(rows) -> list[list[Any]]:
  """The issue's targets: (what, measured, target, holds?). "ours" is the faster of our
  recurrences, the peer its fastest variant; the implementations are named."""
  out = []

  def ratio(nums, dens, what, limit, family):
    a, b = _fastest(rows, family, nums), _fastest(rows, family, dens)
    if a and b:
      value = a["median_ms"] / b["median_ms"]
      names = [a["impl"]] * (len(nums) > 1) + [b["impl"]] * (len(dens) > 1)
      what += f" ({' / '.join(names)})" if names else ""
      out.append([what, f"{value:.2f}x", f"<= {limit}x", "yes" if value <= limit else "NO"])

  ratio(OURS, TORCH, "LSTM fwd+bwd: ours / torch nn.LSTM", 0.9, "lstm")
  ratio(OURS, ("flax",), "LSTM fwd+bwd: ours / Flax nn.RNN(OptimizedLSTMCell)", 1.0, "lstm")
  ratio(OURS, TORCH, "GRU fwd+bwd: ours / torch nn.GRU", 0.8, "gru")
  for impl in conv.IMPLS:
    if impl != "xla":
      ratio((impl,), ("xla",), f"Kim CNN fwd+bwd: conv impl {impl} / xla", 1.15, "kim_cnn")
  lstm = _fastest(rows, "lstm", OURS)
  if lstm and lstm["pct_ceiling"] is not None:
    out.append([f"LSTM fwd+bwd GFLOP/s / matmul ceiling ({lstm['impl']})",
                f"{lstm['pct_ceiling']:.0f}%", ">= 60%",
                "yes" if lstm["pct_ceiling"] >= 60 else "NO"])
  return out


def torch_target_needs(rows) -> list[list[Any]]:
  """For each ratio-to-torch target: the GFLOP/s our recurrence would need to meet it,
  against the float32 matmul rate XLA and torch each reach in the same rounds (a
  recurrence cannot beat its own matmuls, so a need above XLA's ceiling is out of reach
  for XLA-generated code)."""
  xla, peer = _median(rows, "matmul", "jnp.matmul", "fwd"), _median(rows, "matmul",
                                                                     "torch.matmul", "fwd")
  out = []
  for family, limit in (("lstm", 0.9), ("gru", 0.8)):
    ours, theirs = _fastest(rows, family, OURS), _fastest(rows, family, TORCH)
    if not (ours and theirs and ours["gflop"] and xla):
      continue
    needed = ours["gflop"] / (limit * theirs["median_ms"] / 1e3)
    out.append([f"{family} <= {limit}x torch ({theirs['impl']})", needed,
                ours["gflops_per_s"], xla["gflops_per_s"],
                peer["gflops_per_s"] if peer else None])
  return out


def table_sweep(rows, suite, axis) -> str:
  sel = [r for r in rows if r["suite"] == suite]
  points = sorted({r[axis] for r in sel})
  keys = list(dict.fromkeys((r["family"], r["impl"]) for r in sel))
  header = ["family", "impl", "mode"] + [f"{axis}={p} ms (GFLOP/s)" for p in points]
  out = []
  for family, impl in keys:
    for mode in ("fwd", "fwd+bwd"):
      cells = []
      for p in points:
        r = next((r for r in sel if (r["family"], r["impl"], r["mode"], r[axis]) ==
                  (family, impl, mode, p)), None)
        cells.append("-" if r is None else
                     f"{r['median_ms']:.1f} ({_fmt(r['gflops_per_s'], 0)})")
      out.append([family, impl, mode] + cells)
  return _markdown(header, out)


def plot(rows, verdicts, ceiling, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 3, figsize=(18, 5))
  ax = axes[0]
  sweep = [r for r in rows if r["suite"] == "lengths" and r["mode"] == "fwd+bwd"]
  for key in dict.fromkeys((r["family"], r["impl"]) for r in sweep):
    pts = sorted((r["T"], r["median_ms"]) for r in sweep if (r["family"], r["impl"]) == key)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=" ".join(key))
  ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="fwd+bwd ms (median)",
         title=f"time against length (B={_SWEEP_BATCH.value})")
  if sweep:
    ax.legend(fontsize=7)
  ax = axes[1]
  if verdicts:
    labels = [v[0].replace(" fwd+bwd", "\nfwd+bwd") for v in verdicts if v[1].endswith("x")]
    values = [float(v[1][:-1]) for v in verdicts if v[1].endswith("x")]
    limits = [float(v[2].split()[-1][:-1]) for v in verdicts if v[1].endswith("x")]
    ax.barh(range(len(values)), values, color=["tab:green" if v <= l else "tab:red"
                                               for v, l in zip(values, limits)])
    ax.scatter(limits, range(len(values)), marker="|", s=400, color="k", label="target")
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.legend()
  ax.set(xlabel="time ratio (lower is faster)", title="targets (one run)")
  ax = axes[2]
  fb = [r for r in rows if r["suite"] == "targets" and r["mode"] == "fwd+bwd"
        and r["gflops_per_s"] is not None]
  ax.barh(range(len(fb)), [r["gflops_per_s"] for r in fb])
  ax.set_yticks(range(len(fb)), [f"{r['family']} {r['impl']}" for r in fb], fontsize=7)
  if ceiling:
    ax.axvline(ceiling, color="k", ls="--", label=f"matmul ceiling {ceiling:.0f}")
    ax.legend()
  ax.set(xlabel="GFLOP/s (fwd+bwd)", title="achieved rate")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _load():
  try:
    return os.getloadavg()
  except OSError:
    return (float("nan"),) * 3


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  unknown = set(_SUITES.value) - {"targets", "lengths", "batch"}
  if unknown:
    raise app.UsageError(f"unknown suites {sorted(unknown)}; use targets, lengths, batch")
  _imports()
  reused = bench.reuse_freed_memory() if _REUSE_MEMORY.value else False
  torch = None
  if _WITH_TORCH.value:
    try:
      import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
      sys.exit("--with_torch needs torch: pip install -e '.[bench]' (or pip install torch)")
  linear_scan, attention = _optional("linear_scan"), _optional("attention")
  os.makedirs(_OUTDIR.value, exist_ok=True)
  start, load_start = time.time(), _load()
  env = (f"jax {jax.__version__} on {jax.devices()[0].platform} "
         f"[{jax.devices()[0].device_kind}] "
         f"({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}); "
         f"torch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'not used'}; "
         f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
         f"malloc keeps freed memory: {'yes' if reused else 'no'}; "
         f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
  _progress(env)
  absent = [m for m, mod in (("linear_scan", linear_scan), ("attention", attention)) if mod is None]
  if absent:
    _progress(f"not in this checkout, skipped: {', '.join(absent)}")

  cases: list[Case] = []
  ceiling, profiles = None, {}
  if "targets" in _SUITES.value:
    targets = build_targets(torch, linear_scan, attention)
    _progress(f"timing {len(targets)} target cases, {_REPEATS.value} interleaved rounds")
    time_cases(targets, _REPEATS.value)
    ceiling_ms = bench.summarize_times(targets[0].times)["median_ms"]
    ceiling = targets[0].flops / (ceiling_ms / 1e3) / 1e9
    cases += targets
    if _PROFILE.value and jax.default_backend() == "cpu":   # XLA:CPU thunk names
      for family in ("lstm", "gru"):
        case = [c for c in targets if (c.family, c.impl, c.mode) == (family, "fused", "fwd+bwd")]
        if case:
          _progress(f"profiling our {family} (fused) fwd+bwd per XLA op")
          profiles[family] = bench.op_profile(case[0].call, case[0].args)
  for suite, points in (("lengths", _LENGTHS.value), ("batch", _BATCH_SIZES.value)):
    if suite not in _SUITES.value:
      continue
    for p in map(int, points):
      B, T = (_SWEEP_BATCH.value, p) if suite == "lengths" else (p, 256)
      _progress(f"{suite}: B={B} T={T}")
      point = build_sweep_point(suite, B, T, linear_scan, attention)
      time_cases(point, _SWEEP_REPEATS.value)
      cases += point
      for c in point:      # free the compiled executables and inputs of this point
        c.call, c.args = None, ()

  rows = rows_of(cases, ceiling)
  verdicts = target_verdicts(rows) if "targets" in _SUITES.value else []
  load_end = _load()
  parts = [f"# Benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {time.time() - start:.0f} s)",
           env + f"; load average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}"]
  if ceiling:
    parts.append(f"float32 matmul ceiling ({_CEILING_N.value}^3, same rounds): "
                 f"{ceiling:.1f} GFLOP/s")
  if "targets" in _SUITES.value:
    parts += [f"## targets: B={_BATCH.value} T={_LENGTH.value} input={_INPUT.value} "
              f"hidden={_HIDDEN.value} filters={_FILTERS.value}, medians of {_REPEATS.value} "
              "interleaved rounds", table_by_impl(rows, "targets")]
    if verdicts:
      parts += ["## target ratios", _markdown(["target", "measured", "wanted", "holds"],
                                              verdicts)]
    needs = torch_target_needs(rows)
    if needs:
      parts += ["## what the torch targets need (GFLOP/s of the same FLOPs)",
                _markdown(["target", "needed", "ours now", "XLA matmul ceiling",
                           "torch matmul"], needs)]
    if any(r["hlo_dot"] != "" for r in rows):
      parts += ["## convolution forms in the optimized HLO (fwd+bwd)", table_hlo(rows)]
    for family, profile in profiles.items():
      parts += [f"## where our {family} (fused) fwd+bwd time goes (XLA ops, ms per call; loops "
                "include their bodies)", _markdown(["op (result shape)", "ms", "runs per call"],
                                                   [list(p) for p in profile])]
  if any(r["suite"] == "lengths" for r in rows):
    parts += [f"## lengths (B={_SWEEP_BATCH.value}), medians of {_SWEEP_REPEATS.value}",
              table_sweep(rows, "lengths", "T")]
  if any(r["suite"] == "batch" for r in rows):
    parts += [f"## batch sizes (T=256), medians of {_SWEEP_REPEATS.value}",
              table_sweep(rows, "batch", "B")]
  text = "\n\n".join(parts) + "\n"
  print(text)
  with open(os.path.join(_OUTDIR.value, "tables.md"), "w") as f:
    f.write(text)
  with open(os.path.join(_OUTDIR.value, "results.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["suite"])
    writer.writeheader()
    writer.writerows(rows)
  plot(rows, verdicts, ceiling, os.path.join(_OUTDIR.value, "benchmark.png"))
  _progress(f"wrote results.csv, tables.md, benchmark.png to {_OUTDIR.value}")


if __name__ == "__main__":
  app.run(main)
