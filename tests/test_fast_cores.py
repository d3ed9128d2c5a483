"""Fast twins equal their references: fused_scan == vmap(scan_sequence), forward and
backward, for every cell, direction, ragged lengths and a non-zero initial carry;
conv1d_vmap_shifted == lax.conv_general_dilated, forward and backward."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import conv, recurrent

B, L, C, H = 4, 9, 3, 5
LENGTHS = jnp.array([9, 4, 1, 0])  # full, ragged, a single step, empty


def _case(cell, seed=0):
  k_p, k_x, k_c = jax.random.split(jax.random.PRNGKey(seed), 3)
  params = recurrent.init_cell_params(k_p, cell, C, H)
  params = jax.tree.map(
    lambda p: p + 0.1 * jax.random.normal(k_p, p.shape), params
  )  # non-zero biases
  x = jax.random.normal(k_x, (B, L, C))
  carry = jax.tree.map(
    lambda s: 0.5 * jax.random.normal(k_c, (B,) + s.shape), recurrent.initial_carry(cell, H)
  )
  return params, carry, x


def _reference(cell, params, carry, x, lengths, reverse):
  step = recurrent.CELLS[cell][0]
  run = lambda c, x_LxC, n: recurrent.scan_sequence(step, params, c, x_LxC, n, reverse)
  return jax.vmap(run)(carry, x, lengths)


def _fused(cell, params, carry, x, lengths, reverse, unroll=1):
  return recurrent.fused_scan(cell, params, carry, x, lengths, reverse, unroll)


def _outputs_and_grads(run, cell, params, carry, x, reverse):
  """One compile: the outputs, and the gradients of a loss touching every output
  (per-step h, gates and the last carry) with fixed, position-dependent weights."""

  def loss(params, carry, x):
    outs = run(cell, params, carry, x, LENGTHS, reverse)
    last, (h, gates) = outs
    w_h = jnp.cos(jnp.arange(h.size, dtype=jnp.float32)).reshape(h.shape)
    w_g = jnp.sin(jnp.arange(gates.size, dtype=jnp.float32)).reshape(gates.shape)
    total = jnp.sum(w_h * h) + jnp.sum(w_g * gates)
    total += sum(jnp.sum(jnp.tanh(s) * (k + 1.0)) for k, s in enumerate(jax.tree.leaves(last)))
    return total, outs

  (_, outs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
    params, carry, x
  )
  return outs, grads


# The fast tier (-m "not slow") checks the LSTM forwards; the full suite every cell both ways.
@pytest.mark.parametrize(
  "reverse,cell",
  [
    pytest.param(
      reverse,
      cell,
      marks=() if (reverse, cell) == (False, "lstm") else pytest.mark.slow,
    )
    for reverse in (False, True)
    for cell in sorted(recurrent.CELLS)
  ],
)
def test_fused_equals_scan_forward_and_backward(cell, reverse):
  params, carry, x = _case(cell)
  want, want_g = _outputs_and_grads(_reference, cell, params, carry, x, reverse)
  got, got_g = _outputs_and_grads(_fused, cell, params, carry, x, reverse)
  for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    assert w.shape == g.shape
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
  # Padding: outputs past each length are exactly zero.
  h = np.asarray(got[1][0])
  assert np.all(h[1, 4:] == 0.0) and np.all(h[3] == 0.0) and np.any(h[1, :4] != 0.0)
  for w, g in zip(jax.tree.leaves(want_g), jax.tree.leaves(got_g)):
    assert np.abs(w).max() > 0.0
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
  # The empty sequence's inputs get no gradient; its carry's gradient is the direct one.
  assert np.all(np.asarray(got_g[2])[3] == 0.0)


@pytest.mark.parametrize("cell", [pytest.param("lstm", marks=pytest.mark.slow), "gru"])
def test_fused_unrolled_and_module_switch(cell):
  """unroll changes nothing; Bidirectional(impl='fused') == impl='scan', same weights."""
  params, carry, x = _case(cell, seed=1)
  run = jax.jit(_fused, static_argnums=(0, 5, 6))
  for u, v in zip(
    jax.tree.leaves(run(cell, params, carry, x, LENGTHS, False, 1)),
    jax.tree.leaves(run(cell, params, carry, x, LENGTHS, False, 3)),
  ):
    np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)

  modules = {impl: recurrent.Bidirectional(cell, H, impl=impl) for impl in recurrent.IMPLS}
  variables = modules["fused"].init(jax.random.PRNGKey(2), x, LENGTHS)

  @jax.jit
  def outputs_and_grads(variables):
    def loss(module):
      def f(v):
        outs = module.apply(v, x, LENGTHS)
        return sum(jnp.sum(jnp.sin(o)) for o in outs), outs

      return jax.value_and_grad(f, has_aux=True)(variables)

    return {impl: loss(m) for impl, m in modules.items()}

  got = outputs_and_grads(variables)
  (_, outs_f), grads_f = got["fused"]
  (_, outs_s), grads_s = got["scan"]
  for u, v in zip(outs_f, outs_s):
    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
  for u, v in zip(jax.tree.leaves(grads_f), jax.tree.leaves(grads_s)):
    np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


def test_fused_lstm_equals_flax_optimized_lstm_cell():
  """Our gate order (i, f, g, o) and Flax's OptimizedLSTMCell compute the same LSTM."""
  params, _, x = _case("lstm", seed=3)
  cell = nn.OptimizedLSTMCell(H)
  w_x = {g: params["w_x"][:, k * H : (k + 1) * H] for k, g in enumerate("ifgo")}
  w_h = {g: params["w_h"][:, k * H : (k + 1) * H] for k, g in enumerate("ifgo")}
  b = {g: params["b"][k * H : (k + 1) * H] for k, g in enumerate("ifgo")}
  flax_params = {
    "params": {
      "cell": {
        **{f"i{g}": {"kernel": w_x[g]} for g in "ifgo"},
        **{f"h{g}": {"kernel": w_h[g], "bias": b[g]} for g in "ifgo"},
      }
    }
  }
  _, want = nn.RNN(cell).apply(flax_params, x, return_carry=True)
  zeros = jnp.zeros((B, H))
  _, (got, _) = recurrent.fused_scan("lstm", params, (zeros, zeros), x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fused_rejects_unknown_cell():
  with pytest.raises(ValueError, match="unknown cell 'lru'"):
    recurrent.fused_scan("lru", {}, None, jnp.zeros((1, 2, 3)))


@pytest.mark.parametrize("padding", conv.PADDINGS)
@pytest.mark.parametrize("dilation,width", [(1, 3), (2, 2), (4, 5)])
def test_vmap_shifted_conv_equals_xla_forward_and_backward(padding, dilation, width):
  k_w, k_b, k_x = jax.random.split(jax.random.PRNGKey(width), 3)
  kernel = jax.random.normal(k_w, (width, 4, 6))
  bias, x = jax.random.normal(k_b, (6,)), jax.random.normal(k_x, (21, 4))

  @jax.jit
  def outputs_and_grads(kernel, bias, x):
    def loss(impl):
      def f(k, b, x):
        y = conv.conv1d(k, b, x, padding, dilation, impl)
        return jnp.sum(jnp.sin(y)), y

      return f

    return [
      jax.value_and_grad(loss(impl), argnums=(0, 1, 2), has_aux=True)(kernel, bias, x)
      for impl in ("vmap_shifted", "xla")
    ]

  ((_, y_shift), g_shift), ((_, y_xla), g_xla) = outputs_and_grads(kernel, bias, x)
  assert y_shift.shape == (conv.output_length(21, padding, width, dilation), 6)
  np.testing.assert_allclose(y_shift, y_xla, rtol=1e-5, atol=1e-5)
  for a, b in zip(g_shift, g_xla):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
