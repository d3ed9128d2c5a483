"""Accelerator readiness: bfloat16 compute in every model, FLOP/s in the logs, profiler traces."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.optim import make_optimizer
from cnnrnn_jax.tasks.base import TaskSpec

pytestmark = pytest.mark.usefixtures("quick_compiles")

L = 8
SPECS = {
  "classify": TaskSpec("classify", num_outputs=3, seq_len=L, vocab_size=12),
  "regress": TaskSpec("regress", num_outputs=1, seq_len=L, input_dim=2, metric="mse"),
  "per_step": TaskSpec("per_step", num_outputs=4, seq_len=L, vocab_size=12),
  "lm": TaskSpec("lm", num_outputs=12, seq_len=L, vocab_size=12),
  "forecast": TaskSpec("regress", num_outputs=2, seq_len=L, input_dim=1, metric="mse", horizon=2),
  "video": TaskSpec("classify", num_outputs=3, seq_len=4, input_dim=16, frame_shape=(4, 4)),
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
  if spec.kind == "regress":
    shape = (B,) if spec.num_outputs == 1 else (B, spec.num_outputs)
    targets = rng.normal(size=shape).astype(np.float32)
  elif spec.per_step:
    targets = rng.integers(0, spec.num_outputs, (B, L)).astype(np.int32)
  else:
    targets = rng.integers(0, spec.num_outputs, (B,)).astype(np.int32)
  weights = np.ones(targets.shape if spec.per_step else (B,), np.float32)
  return {"inputs": inputs, "lengths": lengths, "targets": targets, "weights": weights}


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
    params = model.init(jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])["params"]
    return train.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  return spec, batch, jax.eval_shape(create) if abstract else jax.jit(create)()


@pytest.mark.parametrize("name,kind", fast_tier(CELLS, {("lstm", "classify")}))
def test_every_model_on_every_kind_computes_in_bfloat16(name, kind):
  """Traced, not run: every matmul and convolution of the train step (forward and backward)
  is bfloat16 (complex64 in the LRU's state), parameters and optimizer state stay float32."""
  spec, batch, state = _state(name, kind, abstract=True)
  step = functools.partial(train.train_step, spec=spec)
  new_state, sums = jax.eval_shape(step, state, batch, jax.random.PRNGKey(1))
  assert sums["loss"].dtype == jnp.float32
  for tree in (state.params, new_state.params, new_state.opt_state):
    floats = [x.dtype for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert set(floats) == {jnp.dtype(jnp.float32)}
  jaxpr = str(jax.make_jaxpr(step)(state, batch, jax.random.PRNGKey(1)))
  products = [
    line.split("=")[0]
    for line in jaxpr.splitlines()
    if " dot_general[" in line or "conv_gen" in line
  ]
  assert products and all("bf16" in lhs or "c64" in lhs for lhs in products), products


@pytest.mark.slow
@pytest.mark.parametrize("name,kind", _covering(CELLS))
def test_each_model_and_kind_trains_in_bfloat16(name, kind):
  spec, batch, state = _state(name, kind)
  step = jax.jit(functools.partial(train.train_step, spec=spec))
  losses = []
  for i in range(3):
    state, sums = step(state, batch, jax.random.PRNGKey(1))
    assert int(sums["first_nonfinite_step"]) == train.NO_BAD_STEP, f"step {i + 1} not finite"
    losses.append(float(sums["loss"]))
  assert losses[-1] < losses[0]  # the same batch three times: it learns
