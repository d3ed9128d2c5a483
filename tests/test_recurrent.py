"""The sequential core: scan == a Python loop, our cells == Flax's, masks and reverse."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import recurrent

C, H, L = 5, 7, 9


def _setup(cell, seed=0):
  k_p, k_x = jax.random.split(jax.random.PRNGKey(seed))
  params = recurrent.init_cell_params(k_p, cell, C, H)
  params = jax.tree.map(
    lambda p: p + 0.1 * jax.random.normal(k_p, p.shape), params
  )  # non-zero biases
  return params, jax.random.normal(k_x, (L, C))


def _python_loop(step, params, carry, x_LxC, length):
  hs = []
  for t in range(length):
    carry, (h, _) = step(params, carry, x_LxC[t])
    hs.append(h)
  hs += [jnp.zeros(H)] * (x_LxC.shape[0] - length)
  return carry, jnp.stack(hs)


# The fast tier (-m "not slow") checks the LSTM at one length; the full suite every cell at
# all three.
@pytest.mark.parametrize(
  "length,cell",
  [
    pytest.param(
      length,
      cell,
      marks=() if (length, cell) == (4, "lstm") else pytest.mark.slow,
    )
    for length in (L, 4, 1)
    for cell in sorted(recurrent.CELLS)
  ],
)
def test_scan_equals_python_loop_and_freezes_past_length(cell, length):
  params, x = _setup(cell)
  step = recurrent.CELLS[cell][0]
  carry0 = recurrent.initial_carry(cell, H)
  carry, (h_LxH, gates) = recurrent.scan_sequence(step, params, carry0, x, length)
  ref_carry, ref_h = _python_loop(step, params, carry0, x, length)
  np.testing.assert_allclose(h_LxH, ref_h, rtol=1e-5, atol=1e-6)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), carry, ref_carry
  )
  assert np.all(np.asarray(gates[length:]) == 0.0)


@pytest.mark.parametrize("cell", sorted(recurrent.CELLS))
def test_reverse_reads_backwards_within_length(cell):
  params, x = _setup(cell)
  step, length = recurrent.CELLS[cell][0], 6
  carry0 = recurrent.initial_carry(cell, H)
  _, (h_rev, _) = recurrent.scan_sequence(step, params, carry0, x, length, reverse=True)
  # Reading x[:length] flipped with a forward scan gives the same states, flipped back.
  _, (h_fwd_of_flipped, _) = recurrent.scan_sequence(step, params, carry0, x[:length][::-1], length)
  np.testing.assert_allclose(h_rev[:length], h_fwd_of_flipped[::-1], rtol=1e-5, atol=1e-6)
  assert np.all(np.asarray(h_rev[length:]) == 0.0)


def test_lstm_equals_flax_optimized_lstm_cell_on_the_same_weights():
  params, x = _setup("lstm")
  cell = nn.OptimizedLSTMCell(H)
  w = {}
  for gate, i in zip("ifgo", range(4)):
    w[f"i{gate}"] = {"kernel": params["w_x"][:, i * H : (i + 1) * H]}
    w[f"h{gate}"] = {
      "kernel": params["w_h"][:, i * H : (i + 1) * H],
      "bias": params["b"][i * H : (i + 1) * H],
    }
  carry = recurrent.initial_carry("lstm", H)
  ours, theirs = carry, carry
  for t in range(L):
    ours, (h_ours, _) = recurrent.lstm_step(params, ours, x[t])
    theirs, h_theirs = cell.apply({"params": w}, theirs, x[t])
    np.testing.assert_allclose(h_ours, h_theirs, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-6)  # the cell state too


def test_gru_equals_flax_gru_cell_on_the_same_weights():
  params, x = _setup("gru")
  split = lambda a: [a[..., i * H : (i + 1) * H] for i in range(3)]
  (wxr, wxz, wxn), (whr, whz, whn) = split(params["w_x"]), split(params["w_h"])
  (bxr, bxz, bxn), (bhr, bhz, bhn) = split(params["b_x"]), split(params["b_h"])
  # Flax has no biases on h->r and h->z; fold ours into the input-side biases.
  w = {
    "ir": {"kernel": wxr, "bias": bxr + bhr},
    "iz": {"kernel": wxz, "bias": bxz + bhz},
    "in": {"kernel": wxn, "bias": bxn},
    "hr": {"kernel": whr},
    "hz": {"kernel": whz},
    "hn": {"kernel": whn, "bias": bhn},
  }
  ours = theirs = jnp.zeros(H)
  for t in range(L):
    ours, _ = recurrent.gru_step(params, ours, x[t])
    theirs, _ = nn.GRUCell(H).apply({"params": w}, theirs, x[t])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", sorted(recurrent.CELLS))
def test_forward_scan_is_causal(cell):
  params, x = _setup(cell)
  step, t = recurrent.CELLS[cell][0], 4
  carry0 = recurrent.initial_carry(cell, H)
  out_t = lambda x: recurrent.scan_sequence(step, params, carry0, x)[1][0][t].sum()
  grad = np.asarray(jax.grad(out_t)(x))
  assert np.all(grad[t + 1 :] == 0.0)
  assert np.all(np.abs(grad[: t + 1]).sum(-1) > 0)


def test_lstm_forget_bias_starts_at_one():
  params = recurrent.init_cell_params(jax.random.PRNGKey(0), "lstm", C, H)
  np.testing.assert_array_equal(params["b"][H : 2 * H], np.ones(H))
  np.testing.assert_array_equal(params["b"][:H], np.zeros(H))


def test_bidirectional_module_concatenates_both_directions():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, L, C))
  lengths = jnp.array([L, 5])
  module = recurrent.Bidirectional("gru", H)
  variables = module.init(jax.random.PRNGKey(1), x, lengths)
  h, last, gates = module.apply(variables, x, lengths)
  assert h.shape == (2, L, 2 * H) and last.shape == (2, 2 * H)
  assert gates.shape == (2, L, 2, 2 * H)
  # Backward half of h at t=0 is the backward carry after reading the whole sequence.
  np.testing.assert_allclose(h[1, 0, H:], last[1, H:], rtol=1e-6)
  np.testing.assert_allclose(h[1, 4, :H], last[1, :H], rtol=1e-6)
  assert np.all(np.asarray(h[1, 5:]) == 0.0)
