"""Accelerator readiness: bfloat16 compute in every model, FLOP/s in the logs, profiler traces."""

from __future__ import annotations

import functools
import glob
import gzip
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import (
  attention,
  conv,
  conv2d,
  flops,
  linear_scan,
  metrics,
  models,
  profiling,
  recurrent,
  train,
)
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.optim import make_optimizer
from cnnrnn_jax.tasks.base import TaskSpec, model_args

L = 8
SPECS = {
  "classify": TaskSpec("classify", num_outputs=3, seq_len=L, vocab_size=12),
  "regress": TaskSpec("regress", num_outputs=1, seq_len=L, input_dim=2, metric="mse"),
  "per_step": TaskSpec("per_step", num_outputs=4, seq_len=L, vocab_size=12),
  "lm": TaskSpec("lm", num_outputs=12, seq_len=L, vocab_size=12),
  "forecast": TaskSpec("regress", num_outputs=2, seq_len=L, input_dim=1, metric="mse", horizon=2),
  "video": TaskSpec("classify", num_outputs=3, seq_len=4, input_dim=16, frame_shape=(4, 4)),
  "ctc": TaskSpec("ctc", num_outputs=4, seq_len=L, input_dim=2, metric="label_error_rate"),
  "seq2seq": TaskSpec("seq2seq", num_outputs=6, seq_len=L, vocab_size=12, target_len=5),
}


def _arch(name, kind):
  arch = default.get_config().arch
  arch.update(embed_dim=4, hidden=4, num_filters=3, kernel_sizes=(2, 3), num_heads=2, tcn_levels=2)
  arch.update(frame_filters=(2,), frame_dim=4, mlp_layers=1, num_layers=1)
  if kind == "video" and name != "cnn3d":
    arch.frame_encoder = "cnn2d"
  return arch


def _batch(spec, B=2, seed=0):
  rng = np.random.default_rng(seed)
  L = spec.seq_len
  lengths = np.array([L, L - 1], np.int32)
  if spec.vocab_size:
    inputs = rng.integers(1, spec.vocab_size, (B, L)).astype(np.int32)
  else:
    inputs = rng.normal(size=(B, L, spec.input_dim)).astype(np.float32)
  batch = {"inputs": inputs, "lengths": lengths}
  if spec.kind == "seq2seq":  # BOS, then symbols 3.. of the target vocabulary; EOS is 2
    T = spec.target_len
    targets = rng.integers(3, spec.num_outputs, (B, T)).astype(np.int32)
    targets[:, -1] = 2
    decoder_inputs = np.concatenate([np.ones((B, 1), np.int32), targets[:, :-1]], axis=1)
    return {
      **batch,
      "decoder_inputs": decoder_inputs,
      "targets": targets,
      "weights": np.ones((B, T), np.float32),
    }
  if spec.kind == "ctc":  # distinct labels, no longer than a 4x-strided model's outputs
    targets = np.array([[1, 2], [3, 0]], np.int32)
    return {**batch, "targets": targets, "weights": np.ones((B,), np.float32)}
  if spec.kind == "regress":
    shape = (B,) if spec.num_outputs == 1 else (B, spec.num_outputs)
    targets = rng.normal(size=shape).astype(np.float32)
  elif spec.per_step:
    targets = rng.integers(0, spec.num_outputs, (B, L)).astype(np.int32)
  else:
    targets = rng.integers(0, spec.num_outputs, (B,)).astype(np.int32)
  weights = np.ones(targets.shape if spec.per_step else (B,), np.float32)
  return {**batch, "targets": targets, "weights": weights}


def _cells():
  cells = []
  for name in sorted(models.MODELS):
    for kind, spec in SPECS.items():
      try:
        models.build_model(name, _arch(name, kind), spec)
      except ConfigError:
        continue  # not a pairing the registry allows (e.g. logreg on lm)
      cells.append((name, kind))
  return cells


def _covering(cells):
  """Each model once (on one of its kinds, in turn), and each kind at least once."""
  chosen, kinds = [], {}
  for name in sorted({n for n, _ in cells}):
    own = [k for n, k in cells if n == name]
    chosen.append((name, own[len(chosen) % len(own)]))
  for name, kind in cells:
    kinds.setdefault(kind, (name, kind))
  return sorted(set(chosen) | set(kinds.values()))


CELLS = _cells()


def _state(name, kind, abstract=False):
  """(spec, batch, TrainState) of `name` on `kind` in bfloat16; `abstract`: shapes only."""
  spec = SPECS[kind]
  model = models.build_model(name, _arch(name, kind), spec, "bfloat16")
  batch = _batch(spec)
  tx = make_optimizer(default.get_config().opt, 10)

  def create():
    params = model.init(jax.random.PRNGKey(0), *model_args(batch))["params"]
    return train.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  return spec, batch, jax.eval_shape(create) if abstract else jax.jit(create)()


def _products(jaxpr):
  """The result types of the matmuls and convolutions in `jaxpr`, and those of them that are
  neither bfloat16 nor complex64 (the LRU's state)."""
  types = [
    line.split("=")[0].split(":")[-1].strip()
    for line in str(jaxpr).splitlines()
    if " dot_general[" in line or "conv_gen" in line
  ]
  return types, sorted(t for t in types if not t.startswith(("bf16", "c64")))


def _traced_step(spec, state, batch):
  """The train step traced once: its jaxpr for the checks, its lowering for a run."""
  step = functools.partial(train.train_step, spec=spec)
  return jax.jit(step).trace(state, batch, jax.random.PRNGKey(1))


def _assert_computes_in_bfloat16(kind, spec, state, batch, traced):
  """Every matmul and convolution of the traced train step (forward and backward) is bfloat16
  (complex64 in the LRU's state) but the float32 loss's own (CTC's), parameters and optimizer
  state stay float32, and the metric sums are scalars."""
  new_state, sums = traced.out_info
  products, wide = _products(traced.jaxpr)
  assert {"loss", "count", "first_nonfinite_step"} <= set(sums)
  assert all(v.shape == () for v in sums.values())
  assert sums["loss"].dtype == jnp.float32
  for tree in (state.params, new_state.params, new_state.opt_state):
    floats = [x.dtype for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert set(floats) == {jnp.dtype(jnp.float32)}
  assert products
  if kind == "ctc":  # optax.ctc_loss's own products, on the float32 outputs
    outputs, _ = jax.eval_shape(
      lambda params: state.apply_fn({"params": params}, *model_args(batch)), state.params
    )
    loss = jax.value_and_grad(functools.partial(metrics.loss_and_sums, spec), has_aux=True)
    loss_products = _products(jax.make_jaxpr(loss)(outputs, batch))
    assert outputs.dtype == jnp.float32 and wide == loss_products[1], wide
  else:
    assert not wide, wide


COVERING = _covering(CELLS)  # the cells that also train, below: they check their traces there
FAST_CELL = ("lstm", "classify")


@pytest.mark.parametrize(
  "name,kind", fast_tier([c for c in CELLS if c not in COVERING or c == FAST_CELL], {FAST_CELL})
)
def test_every_model_on_every_kind_computes_in_bfloat16(name, kind):
  """Traced, not run (the suite's check that every model traces a train step on every task
  kind the registry lets it take; the cells that train below are checked there, on the trace
  they run): `_assert_computes_in_bfloat16`."""
  spec, batch, state = _state(name, kind, abstract=True)
  _assert_computes_in_bfloat16(kind, spec, state, batch, _traced_step(spec, state, batch))


@pytest.mark.slow
@pytest.mark.parametrize("name,kind", COVERING)
def test_each_model_and_kind_trains_in_bfloat16(name, kind):
  """The trace checked as above, then three real steps: finite, and every parameter array of
  the model moves (this is the suite's every-parameter check for every registered model;
  float32 keeps one cell of it)."""
  spec, batch, state = _state(name, kind)
  traced = _traced_step(spec, state, batch)
  _assert_computes_in_bfloat16(kind, spec, state, batch, traced)
  step = traced.lower().compile()
  before = state.params
  for i in range(3):
    state, sums = step(state, batch, jax.random.PRNGKey(1))
    assert int(sums["first_nonfinite_step"]) == train.NO_BAD_STEP, f"step {i + 1} not finite"
  assert int(state.step) == 3
  frozen = [  # every parameter array moves: the bfloat16 gradient reaches all of them
    jax.tree_util.keystr(path)
    for path, a, b in zip(
      *zip(*jax.tree_util.tree_flatten_with_path(before)[0]), jax.tree.leaves(state.params)
    )
    if not bool(jnp.any(a != b))
  ]
  assert not frozen, f"{name} on {kind}: parameters not updated in bfloat16: {frozen}"


# ---------------------------------------------------------------------------------------------
# The cores in bfloat16 against float32: within bf16 rounding. bfloat16 keeps 8 significant
# bits (a relative step of 2^-8 = 0.4%); a layer sums tens of rounded products, so we allow
# 3% of the output's scale (about 8 bf16 steps).

BF16_TOLERANCE = 0.03

CORES = {
  "conv_xla": (conv.Conv1D(5, 3, "same", impl="xla"), (2, 16, 4)),
  "conv_vmap": (conv.Conv1D(5, 3, "same", impl="vmap"), (2, 16, 4)),
  "conv2d": (conv2d.ConvND(5, (3, 3)), (2, 8, 8, 3)),
  "lstm_fused": (recurrent.RNN("lstm", 6, impl="fused"), (2, 16, 4)),
  "gru_scan": (recurrent.RNN("gru", 6, impl="scan"), (2, 16, 4)),
  "rnn_fused": (recurrent.RNN("rnn", 6, impl="fused"), (2, 16, 4)),
  "mingru": (linear_scan.MinGRU(6), (2, 16, 4)),
  "lru": (linear_scan.LRU(6), (2, 16, 4)),
  "attention": (attention.SelfAttention(num_heads=2), (2, 16, 4)),
  "head": (nn.Dense(3), (2, 4)),
}


@pytest.mark.parametrize("core", fast_tier([(c,) for c in sorted(CORES)], {("lstm_fused",)}))
def test_cores_in_bfloat16_stay_within_bfloat16_rounding_of_float32(core):
  module, shape = CORES[core]
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  lengths = jnp.array([shape[1], shape[1] - 3], jnp.int32)
  args = (x, lengths) if len(shape) == 3 and not core.startswith("conv") else (x,)
  params = jax.jit(module.init)(jax.random.PRNGKey(1), *args)
  apply = jax.jit(module.apply)
  y32 = jax.tree.leaves(apply(params, *args))[0]
  params16, args16 = models.cast_floating((params, args), "bfloat16")
  y16 = jax.tree.leaves(apply(params16, *args16))[0]
  assert y16.dtype == jnp.bfloat16
  scale = float(jnp.max(jnp.abs(y32)))
  error = float(jnp.max(jnp.abs(y16.astype(jnp.float32) - y32)))
  assert error <= BF16_TOLERANCE * scale, (error, scale)


# ---------------------------------------------------------------------------------------------
# A run: FLOP/s in the log records, the profiler trace, and bfloat16's loss next to float32's


def _run_config(**overrides):
  config = default.get_config("gru,order")
  config.batch_size, config.train_steps = 16, 30
  config.log_every = config.eval_every = 15
  config.arch.update({"embed_dim": 8, "hidden": 16})
  config.data.update({"seq_len": 12, "eval_size": 32})
  config.checkpoint_every = 0
  config.opt.update({"warmup_steps": 0, "schedule": "constant", "learning_rate": 1e-2})
  config.update(overrides)
  return config


def _train_records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if r.get("split") == "train"]


@pytest.mark.slow
def test_run_logs_flops_and_leaves_a_trace_that_parses(tmp_path):
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(_run_config(profile_steps="2,3", peak_flops=1e11), workdir)
  for record in _train_records(workdir):
    assert record["gflops_per_sec"] > 0
    assert record["utilisation"] == pytest.approx(record["gflops_per_sec"] * 1e9 / 1e11)
  found = glob.glob(os.path.join(workdir, profiling.SUBDIR, "plugins", "profile", "*", "*"))
  assert any(p.endswith(".xplane.pb") and os.path.getsize(p) > 0 for p in found), found
  (perfetto,) = [p for p in found if p.endswith("perfetto_trace.json.gz")]
  with gzip.open(perfetto) as f:
    events = json.load(f)["traceEvents"]
  assert any(e.get("ph") == "X" for e in events)  # timed events: the steps' ops


def test_utilisation_is_left_out_when_a_step_beats_the_measured_ceiling(caplog):
  """A matmul ceiling measured while the CPU was busy sits below what steps later reach: the
  log says so once instead of printing a utilisation over 100%."""
  busy = flops.StepCost(2e9, peak=1e9, peak_source=flops.MEASURED)
  assert busy.record(1.0) == {"gflops_per_sec": 2.0}
  busy.record(1.5)
  assert [r.getMessage().split(",")[0] for r in caplog.records] == [
    "a train step reached 2.0 GFLOP/s"
  ]
  assert busy.record(0.25) == {"gflops_per_sec": 0.5, "utilisation": 0.5}
  datasheet = flops.StepCost(2e9, peak=1e9, peak_source="table (TPU v5 lite)")
  assert datasheet.record(1.0)["utilisation"] == 2.0  # a datasheet peak is not second-guessed


def test_profile_steps_must_be_a_range():
  for bad in ("3", "0,2", "5,4", "a,b"):
    with pytest.raises(ConfigError, match="profile_steps"):
      profiling.parse_steps(bad)
  assert profiling.parse_steps("") is None and profiling.parse_steps("2,2") == (2, 2)


# bfloat16 against float32 on the same small run (same seed, data and steps): the final
# training loss within this absolute tolerance (measured: see the test's numbers on failure).
LOSS_TOLERANCE = 0.05


@pytest.mark.slow
def test_bfloat16_run_ends_near_the_float32_run(tmp_path):
  losses = {}
  for dtype in ("float32", "bfloat16"):
    workdir = str(tmp_path / dtype)
    train.train_and_evaluate(_run_config(dtype=dtype, log_flops=False), workdir)
    losses[dtype] = _train_records(workdir)[-1]["loss"]
  assert abs(losses["bfloat16"] - losses["float32"]) <= LOSS_TOLERANCE, losses
