"""tcn / mingru / lru / transformer as registered models: padding, a train step that reaches
every parameter, parameter budgets, config errors. (Every model traces a train step on every
task kind in tests/test_accelerators.py.)"""

import jax
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import beyond, copy_memory, default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import TaskSpec

NEW = ("tcn", "mingru", "lru", "transformer")
SPECS = {
  "classify": TaskSpec(kind="classify", num_outputs=3, seq_len=10, vocab_size=7),
  "regress": TaskSpec(kind="regress", num_outputs=1, seq_len=10, input_dim=2),
  "per_step": TaskSpec(kind="per_step", num_outputs=4, seq_len=10, vocab_size=7),
  "lm": TaskSpec(kind="lm", num_outputs=7, seq_len=10, vocab_size=7),
}


def _tiny_arch(model):
  arch = default.get_config(model).arch
  arch.update(
    embed_dim=8, hidden=8, num_layers=1, num_heads=2, tcn_levels=2, tcn_kernel_size=3, dropout=0.0
  )
  return arch


def _batch(spec, seed=0):
  """Four rows of lengths 10, 7, 3, 1 with junk (not zeros) in the padding."""
  rng = np.random.default_rng(seed)
  lengths = np.array([10, 7, 3, 1], np.int32)
  B, L = 4, spec.seq_len
  valid = np.arange(L)[None, :] < lengths[:, None]
  if spec.vocab_size:
    inputs = rng.integers(1, spec.vocab_size, (B, L)).astype(np.int32)
  else:
    inputs = np.where(valid[:, :, None], rng.normal(size=(B, L, spec.input_dim)), 9.0)
  if spec.per_step:
    targets = rng.integers(0, spec.num_outputs, (B, L)).astype(np.int32)
    weights = valid.astype(np.float32)
  else:
    targets = (
      rng.normal(size=B).astype(np.float32)
      if spec.kind == "regress"
      else rng.integers(0, spec.num_outputs, B).astype(np.int32)
    )
    weights = np.ones(B, np.float32)
  return {
    "inputs": inputs.astype(np.float32) if spec.input_dim else inputs,
    "lengths": lengths,
    "targets": targets,
    "weights": weights,
  }


def _init_and_step(name, kind):
  """(params before, params after, metric sums) of one AdamW step without warmup or decay."""
  spec = SPECS[kind]
  model = models.build_model(name, _tiny_arch(name), spec)
  opt = default.get_config().opt
  opt.update(warmup_steps=0, weight_decay=0.0)  # a parameter moves only if a gradient reaches it

  def init_and_step(batch):
    params = model.init(jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])["params"]
    state = train.TrainState.create(
      apply_fn=model.apply, params=params, tx=train.make_optimizer(opt, 10)
    )
    state, sums = train.train_step(state, batch, jax.random.PRNGKey(1), spec=spec)
    return params, state.params, sums

  return init_and_step


@pytest.mark.parametrize("name,kind", [("transformer", "per_step")])
def test_one_train_step_reaches_every_parameter(name, kind):
  """Run for real in float32; every array must move. Every model on every task kind:
  tests/test_accelerators.py, in bfloat16, with the same check."""
  params, new_params, sums = jax.jit(_init_and_step(name, kind))(_batch(SPECS[kind]))
  assert np.isfinite(float(sums["loss"]))
  assert int(sums["first_nonfinite_step"]) == train.NO_BAD_STEP
  moved = jax.tree.map(
    lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), params, new_params
  )
  frozen = [
    jax.tree_util.keystr(path)
    for path, delta in jax.tree_util.tree_leaves_with_path(moved)
    if delta == 0.0
  ]
  assert not frozen, f"{name} on {kind}: no gradient reached {frozen}"


# The fast tier (-m "not slow") checks the transformer once;
# the full suite checks every pair.
@pytest.mark.parametrize(
  "name,kind",
  fast_tier(
    [(name, kind) for name in NEW for kind in ("classify", "per_step")] + [("transformer", "lm")],
    fast={("transformer", "lm")},
  ),
)
def test_padding_never_changes_an_output(name, kind):
  """The same sequences padded to 10 steps (junk past each length) or cut to 7 steps."""
  spec = SPECS[kind]
  model = models.build_model(name, _tiny_arch(name), spec)
  batch = _batch(spec)

  @jax.jit
  def padded_and_cut(inputs, lengths):
    params = model.init(jax.random.PRNGKey(0), inputs, lengths)
    return (
      model.apply(params, inputs, lengths)[0][1:],
      model.apply(params, inputs[1:, :7], lengths[1:])[0],
    )

  out_padded, out_cut = (np.asarray(y) for y in padded_and_cut(batch["inputs"], batch["lengths"]))
  if spec.per_step:
    valid = np.arange(7)[None, :] < batch["lengths"][1:, None]
    out_padded, out_cut = out_padded[:, :7][valid], out_cut[valid]
  np.testing.assert_allclose(out_padded, out_cut, rtol=1e-5, atol=1e-5)


def _encoder_params(config, spec):
  return models.parameter_counts(models.build_model(config.model, config.arch, spec))


COPY_PARAMS = {
  "tcn": 13_329,
  "lstm": 15_631,
  "gru": 15_287,
  "mingru": 13_687,
  "lru": 13_895,
  "transformer": 13_895,
}
BEYOND_ENCODER_PARAMS = {
  "lstm": 98_816,
  "tcn": 99_328,
  "mingru": 100_408,
  "lru": 99_180,
  "transformer": 99_180,
}


@pytest.mark.parametrize("name", list(COPY_PARAMS))
def test_copy_memory_presets_match_bai_budgets(name):
  config = copy_memory.get_config(name)
  spec = TaskSpec(kind="per_step", num_outputs=9, seq_len=220, vocab_size=11)
  assert _encoder_params(config, spec)[0] == COPY_PARAMS[name]


@pytest.mark.parametrize("name", list(BEYOND_ENCODER_PARAMS))
def test_beyond_presets_match_the_foundation_lstm(name):
  config = beyond.get_config(f"{name},order")
  spec = TaskSpec(kind="classify", num_outputs=2, seq_len=64, vocab_size=20)
  assert _encoder_params(config, spec)[1] == BEYOND_ENCODER_PARAMS[name]
  assert abs(BEYOND_ENCODER_PARAMS[name] / BEYOND_ENCODER_PARAMS["lstm"] - 1) < 0.02


def test_transformer_is_a_causal_decoder_exactly_for_language_modelling():
  arch = _tiny_arch("transformer")
  assert models.MODELS["transformer"](arch, SPECS["lm"]).transformer.causal
  assert not models.MODELS["transformer"](arch, SPECS["per_step"]).transformer.causal
  assert not models.MODELS["transformer"](arch, SPECS["classify"]).transformer.causal


@pytest.mark.parametrize(
  "name,key,value,message",
  [
    (
      "mingru",
      "scan_impl",
      "cuda",
      "config.arch.scan_impl='cuda' is not one of ('associative', 'sequential')",
    ),
    (
      "transformer",
      "pos_encoding",
      "rotary",
      "config.arch.pos_encoding='rotary' is not one of ('sinusoidal', 'learned')",
    ),
    (
      "transformer",
      "num_heads",
      3,
      "config.arch.hidden=8 is not divisible by config.arch.num_heads=3; make hidden a "
      "multiple of it",
    ),
    ("tcn", "tcn_levels", 0, "config.arch.tcn_levels=0 must be positive"),
    ("lru", "num_layers", -1, "config.arch.num_layers=-1 must be positive"),
  ],
)
def test_bad_knobs_are_config_errors(name, key, value, message):
  arch = _tiny_arch(name)
  arch[key] = value
  with pytest.raises(ConfigError) as error:
    models.build_model(name, arch, SPECS["classify"])
  assert str(error.value) == message
