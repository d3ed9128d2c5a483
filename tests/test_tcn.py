"""TCN (Bai et al. 2018): receptive field, causality, impls, residual projection, weight norm."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import conv, models
from cnnrnn_jax.configs import default
from cnnrnn_jax.tasks.base import TaskSpec


def _tcn_and_inputs(
  levels=3, kernel_size=3, hidden=6, L=40, C=4, B=3, impl="xla", weight_norm=True
):
  tcn = models.TCN(hidden, levels, kernel_size, weight_norm=weight_norm, impl=impl)
  x = jax.random.normal(jax.random.PRNGKey(0), (B, L, C))
  lengths = jnp.full((B,), L)
  return tcn, jax.jit(tcn.init)(jax.random.PRNGKey(1), x, lengths), x, lengths


def test_receptive_field_formula():
  assert models.tcn_dilations(3) == [1, 1, 2, 2, 4, 4]
  assert models.tcn_receptive_field(3, 3) == 1 + 2 * 2 * (1 + 2 + 4) == 29
  assert models.tcn_receptive_field(8, 8) == 1 + 2 * 7 * 255 == 3571  # Bai's copy-memory TCN


@pytest.mark.parametrize("levels,kernel_size", [(3, 3), (2, 5)])
def test_empirical_receptive_field_equals_the_computed_one(levels, kernel_size):
  """The span of inputs with a non-zero gradient to the last output is the receptive
  field computed from the config, and it ends at the last input."""
  config = default.get_config("tcn")
  config.arch.tcn_levels, config.arch.tcn_kernel_size, config.arch.hidden = levels, kernel_size, 8
  computed = models.tcn_receptive_field(config.arch.tcn_kernel_size, config.arch.tcn_levels)
  spec = TaskSpec(kind="regress", num_outputs=1, seq_len=computed + 15, input_dim=4)
  encoder = models.MODELS["tcn"](config.arch, spec)
  L = spec.seq_len
  x = jax.random.normal(jax.random.PRNGKey(0), (4, L, 4))
  lengths = jnp.full((4,), L)
  params = jax.jit(encoder.init)(jax.random.PRNGKey(1), x, lengths)
  grad = jax.jit(jax.grad(lambda x: encoder.apply(params, x, lengths)[0][:, -1].sum()))(x)
  seen = np.flatnonzero(np.abs(np.asarray(grad)).sum(axis=(0, 2)) > 0)
  assert seen.max() == L - 1
  assert seen.max() - seen.min() + 1 == computed


def test_factory_logs_the_receptive_field(caplog):
  config = default.get_config("tcn")
  spec = TaskSpec(kind="classify", num_outputs=2, seq_len=100, vocab_size=10)
  with caplog.at_level(logging.INFO):
    models.build_model("tcn", config.arch, spec)
  assert "receptive field 61 steps (task sequence length 100)" in caplog.text
  assert "receptive field 61 < sequence length 100" in caplog.text  # ...and warns


@pytest.mark.parametrize(  # the fast tier checks the XLA convolution, the full suite all
  "impl", [i if i == "xla" else pytest.param(i, marks=pytest.mark.slow) for i in conv.IMPLS]
)
def test_tcn_is_causal_by_gradients(impl):
  tcn, params, x, lengths = _tcn_and_inputs(impl=impl)
  t = 20
  grad = np.asarray(jax.jit(jax.grad(lambda x: tcn.apply(params, x, lengths)[0][:, t].sum()))(x))
  assert np.all(grad[:, t + 1 :] == 0.0)
  assert np.abs(grad[:, t]).sum() > 0


def test_vmap_and_xla_impls_agree():
  tcn, params, x, lengths = _tcn_and_inputs(impl="xla")
  seq_xla, pooled_xla, _ = jax.jit(tcn.apply)(params, x, lengths)
  seq_vmap, pooled_vmap, _ = jax.jit(tcn.clone(impl="vmap").apply)(params, x, lengths)
  np.testing.assert_allclose(seq_vmap, seq_xla, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(pooled_vmap, pooled_xla, rtol=1e-4, atol=1e-5)


def test_residual_projection_only_when_widths_differ():
  _, params, _, _ = _tcn_and_inputs(hidden=6, C=4)
  assert "project" in params["params"]["level0"]
  assert "project" not in params["params"]["level1"]
  assert params["params"]["level0"]["project"]["kernel"].shape == (1, 4, 6)


def test_weight_norm_makes_the_output_blind_to_the_kernel_scale():
  """Weight normalisation: kernel = g v / ||v||, so scaling v changes nothing."""
  tcn, params, x, lengths = _tcn_and_inputs()
  scaled = jax.tree_util.tree_map_with_path(
    lambda path, p: (
      3.0 * p
      if "kernel" in jax.tree_util.keystr(path)
      and "conv" in jax.tree_util.keystr(path)
      and "scale" not in jax.tree_util.keystr(path)
      else p
    ),
    params,
  )
  apply = jax.jit(tcn.apply)
  np.testing.assert_allclose(
    apply(scaled, x, lengths)[0], apply(params, x, lengths)[0], rtol=1e-4, atol=1e-5
  )
  plain, plain_params, _, _ = _tcn_and_inputs(weight_norm=False)
  plain_scaled = jax.tree.map(lambda p: 3.0 * p, plain_params)
  apply_plain = jax.jit(plain.apply)
  assert not np.allclose(
    apply_plain(plain_scaled, x, lengths)[0], apply_plain(plain_params, x, lengths)[0]
  )


def test_last_valid_step_readout_ignores_padding():
  tcn, params, x, _ = _tcn_and_inputs()
  lengths = jnp.array([40, 25, 7])
  apply = jax.jit(tcn.apply)
  seq, pooled, _ = apply(params, x, lengths)
  np.testing.assert_array_equal(pooled, seq[jnp.arange(3), lengths - 1])
  np.testing.assert_array_equal(seq[1, 25:], 0.0)
  junk = x.at[1, 25:].set(100.0).at[2, 7:].set(-100.0)
  seq2, pooled2, _ = apply(params, junk, lengths)
  np.testing.assert_allclose(pooled2, pooled, rtol=1e-6)
  np.testing.assert_allclose(seq2, seq, rtol=1e-6)
