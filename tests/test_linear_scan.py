"""The parallel recurrence: associative scan == sequential scan == a Python loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import linear_scan

recurrence = jax.jit(linear_scan.linear_recurrence, static_argnames="impl")


def _coefficients(L=13, H=5, complex_=False, seed=0):
  keys = jax.random.split(jax.random.PRNGKey(seed), 5)
  a = jax.random.uniform(keys[0], (L, H), minval=0.5, maxval=0.99)
  b = jax.random.normal(keys[1], (L, H))
  h0 = jax.random.normal(keys[2], (H,))
  if complex_:
    a = a * jnp.exp(1j * jax.random.uniform(keys[3], (L, H), maxval=3.0))
    b = b + 1j * jax.random.normal(keys[4], (L, H))
    h0 = h0.astype(jnp.complex64)
  return a, b, h0


def _loop(a, b, h0, length):
  h, out = np.asarray(h0), np.zeros(a.shape, a.dtype)
  for t in range(length):
    h = np.asarray(a[t]) * h + np.asarray(b[t])
    out[t] = h
  return h, out


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("length", [13, 7, 1, 0])
def test_both_impls_equal_a_python_loop(complex_, length):
  a, b, h0 = _coefficients(complex_=complex_)
  want_last, want_h = _loop(a, b, h0, length)
  for impl in linear_scan.IMPLS:
    last, h = recurrence(a, b, h0, length, impl=impl)
    np.testing.assert_allclose(h, want_h, rtol=1e-5, atol=1e-5, err_msg=impl)
    np.testing.assert_allclose(last, want_last, rtol=1e-5, atol=1e-5, err_msg=impl)


@pytest.mark.parametrize("complex_", [False, True])
def test_associative_equals_sequential_gradients(complex_):
  a, b, h0 = _coefficients(complex_=complex_)

  def loss(impl):
    def f(a, b, h0):
      last, h = linear_scan.linear_recurrence(a, b, h0, 9, impl)
      return jnp.sum(jnp.abs(jnp.sin(h)) ** 2) + jnp.sum(jnp.real(last) * jnp.imag(last + 1j))

    return f

  g_assoc = jax.jit(jax.grad(loss("associative"), argnums=(0, 1, 2)))(a, b, h0)
  g_seq = jax.jit(jax.grad(loss("sequential"), argnums=(0, 1, 2)))(a, b, h0)
  for g1, g2 in zip(g_assoc, g_seq):
    assert np.abs(np.asarray(g1)).sum() > 0
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", linear_scan.IMPLS)
def test_padding_freezes_the_carry_and_emits_zeros(impl):
  a, b, h0 = _coefficients()
  last, h = recurrence(a, b, h0, 6, impl=impl)
  np.testing.assert_array_equal(h[6:], 0.0)
  np.testing.assert_allclose(last, h[5], rtol=1e-6)
  # Whatever sits in the padding changes nothing.
  a2, b2 = a.at[6:].set(7.0), b.at[6:].set(-3.0)
  last2, h2 = recurrence(a2, b2, h0, 6, impl=impl)
  np.testing.assert_array_equal(h2, h)
  np.testing.assert_array_equal(last2, last)


@pytest.mark.parametrize("impl", linear_scan.IMPLS)
def test_forward_scan_is_causal_by_gradients(impl):
  a, b, h0 = _coefficients()
  t = 5
  g_a, g_b = jax.jit(
    jax.grad(lambda a, b: recurrence(a, b, h0, None, impl=impl)[1][t].sum(), argnums=(0, 1))
  )(a, b)
  assert np.all(np.asarray(g_a)[t + 1 :] == 0.0) and np.all(np.asarray(g_b)[t + 1 :] == 0.0)
  assert np.all(np.abs(np.asarray(g_b)[: t + 1]) > 0)  # ...and every earlier step counts


def test_unknown_impl_is_named():
  a, b, h0 = _coefficients()
  with pytest.raises(ValueError, match="unknown scan impl 'cuda'"):
    linear_scan.linear_recurrence(a, b, h0, impl="cuda")


def test_mingru_is_the_gru_with_input_only_gates():
  """h_t = (1 - z_t) h_{t-1} + z_t h~_t with z, h~ from x_t alone (Feng et al. 2024)."""
  module = linear_scan.MinGRU(hidden=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 3))
  lengths = jnp.array([9, 5])
  variables = jax.jit(module.init)(jax.random.PRNGKey(1), x, lengths)
  h, aux = jax.jit(module.apply)(variables, x, lengths)
  w, bias = (np.asarray(v) for v in (variables["params"]["w"], variables["params"]["b"]))
  for row in range(2):
    state = np.zeros(4, np.float32)
    for t in range(int(lengths[row])):
      pre = np.asarray(x[row, t]) @ w + bias
      z = 1 / (1 + np.exp(-pre[:4]))
      state = (1 - z) * state + z * pre[4:]
      np.testing.assert_allclose(h[row, t], state, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(aux["gates"][row, t], z, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(h[1, 5:], 0.0)


@pytest.mark.parametrize(  # the fast tier runs the LRU, the full suite both
  "cell", [pytest.param(linear_scan.MinGRU, marks=pytest.mark.slow), linear_scan.LRU]
)
def test_modules_give_the_same_outputs_with_either_impl(cell):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 11, 6))
  lengths = jnp.array([11, 4, 8])
  variables = jax.jit(cell(6, "associative").init)(jax.random.PRNGKey(1), x, lengths)

  def loss(impl):
    return lambda v: jnp.sum(jnp.sin(cell(6, impl).apply(v, x, lengths)[0]))

  y_assoc, _ = jax.jit(cell(6, "associative").apply)(variables, x, lengths)
  y_seq, _ = jax.jit(cell(6, "sequential").apply)(variables, x, lengths)
  np.testing.assert_allclose(y_assoc, y_seq, rtol=1e-5, atol=1e-5)
  g_assoc = jax.jit(jax.grad(loss("associative")))(variables)
  g_seq = jax.jit(jax.grad(loss("sequential")))(variables)
  jax.tree.map(
    lambda g1, g2: np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-5), g_assoc, g_seq
  )


def test_lru_initialisation_follows_orvieto():
  """|lambda| on the ring [r_min, r_max], gamma = sqrt(1 - |lambda|^2) (Orvieto et al. 2023)."""
  params = linear_scan.lru_init(
    jax.random.PRNGKey(0), 5, 256, r_min=0.9, r_max=0.999, max_phase=0.5
  )
  modulus = np.exp(-np.exp(np.asarray(params["nu_log"])))
  phase = np.exp(np.asarray(params["theta_log"]))
  assert 0.9 <= modulus.min() and modulus.max() <= 0.999 and modulus.std() > 0.01
  assert 0.0 <= phase.min() and phase.max() <= 0.5
  np.testing.assert_allclose(np.exp(params["gamma_log"]), np.sqrt(1 - modulus**2), rtol=1e-4)
  assert params["B"].shape == (2, 256, 5) and params["C"].shape == (2, 5, 256)
