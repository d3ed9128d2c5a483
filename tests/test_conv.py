"""The parallel core: vmap convolution == XLA convolution, causality, max-pooling."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import conv


def _inputs(K=3, C=4, F=5, L=21, seed=0):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
  return (
    jax.random.normal(k1, (K, C, F)),
    jax.random.normal(k2, (F,)),
    jax.random.normal(k3, (L, C)),
  )


# The fast tier (-m "not slow") checks four (dilation, width) pairs per padding; the full
# suite checks all twelve.
@pytest.mark.parametrize(
  "padding,dilation,width",
  [
    pytest.param(
      *case, marks=() if case[1:] in {(1, 1), (1, 3), (2, 2), (4, 5)} else pytest.mark.slow
    )
    for case in itertools.product(conv.PADDINGS, (1, 2, 4), (1, 2, 3, 5))
  ],
)
def test_vmap_equals_xla_forward_and_gradient(padding, dilation, width):
  kernel, bias, x = _inputs(K=width)

  @jax.jit
  def outputs_and_grads(kernel, bias, x):  # one compile: both impls, forward and backward
    def run(impl):
      forward = lambda k, b, x: conv.conv1d(k, b, x, padding, dilation, impl=impl)
      loss = lambda k, b, x: jnp.sum(jnp.sin(forward(k, b, x)))
      return forward(kernel, bias, x), jax.grad(loss, argnums=(0, 1, 2))(kernel, bias, x)

    return run("vmap"), run("xla")

  (y_vmap, grads_vmap), (y_xla, grads_xla) = outputs_and_grads(kernel, bias, x)
  assert y_vmap.shape == y_xla.shape == (conv.output_length(21, padding, width, dilation), 5)
  np.testing.assert_allclose(y_vmap, y_xla, rtol=1e-5, atol=1e-5)
  for g_v, g_x in zip(grads_vmap, grads_xla):
    np.testing.assert_allclose(g_v, g_x, rtol=1e-4, atol=1e-5)


def test_vmap_matches_a_hand_computed_bigram_filter():
  """The seed lesson's bigram filter: output t is x[t] . k[0] + x[t+1] . k[1]."""
  x = jnp.array([[1.0], [2.0], [3.0], [4.0]])  # "i love this movie", one channel
  kernel = jnp.array([[[0.5]], [[-1.0]]])  # K=2, C=1, F=1
  y = conv.conv1d_vmap(kernel, jnp.zeros(1), x)
  np.testing.assert_allclose(y[:, 0], [0.5 - 2.0, 1.0 - 3.0, 1.5 - 4.0])


@pytest.mark.parametrize("impl", conv.IMPLS)
def test_causal_conv_never_sees_the_future(impl):
  kernel, bias, x = _inputs(K=3)
  t = 6
  grad_x = np.asarray(
    jax.grad(lambda x: conv.conv1d(kernel, bias, x, "causal", 2, impl)[t].sum())(x)
  )
  assert np.all(grad_x[t + 1 :] == 0.0)
  # ...and it does see its receptive field: inputs t, t-2, t-4.
  assert np.all(np.abs(grad_x[[t, t - 2, t - 4]]).sum(-1) > 0)
  assert np.all(grad_x[[t - 1, t - 3, t - 5]] == 0.0)


def test_masked_max_over_time_ignores_padding_and_reports_position():
  y = jnp.array([[0.1, 5.0], [0.9, -1.0], [0.3, 2.0], [7.0, 9.0]])  # last row is padding
  values, positions = conv.masked_max_over_time(y, 3)
  np.testing.assert_allclose(values, [0.9, 5.0])
  np.testing.assert_array_equal(positions, [1, 0])


def test_receptive_field():
  assert conv.receptive_field([3]) == 3
  assert conv.receptive_field([3, 3, 3]) == 7
  assert conv.receptive_field([2, 2, 2, 2], [1, 2, 4, 8]) == 16
  with pytest.raises(ValueError, match="one dilation per kernel"):
    conv.receptive_field([3, 3], [1])


def test_unknown_padding_and_impl_are_named():
  kernel, bias, x = _inputs()
  with pytest.raises(ValueError, match="unknown padding 'full'"):
    conv.conv1d(kernel, bias, x, "full")
  with pytest.raises(ValueError, match="unknown conv impl 'fft'"):
    conv.conv1d(kernel, bias, x, impl="fft")


@pytest.mark.parametrize("impl", conv.IMPLS)
def test_module_applies_the_core_to_each_batch_row(impl):
  module = conv.Conv1D(features=6, kernel_size=3, padding="same", impl=impl)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 4))
  params = module.init(jax.random.PRNGKey(1), x)
  y = module.apply(params, x)
  assert y.shape == (2, 9, 6)
  p = params["params"]
  np.testing.assert_allclose(
    y[1], conv.conv1d_xla(p["kernel"], p["bias"], x[1], "same"), rtol=1e-5, atol=1e-5
  )
