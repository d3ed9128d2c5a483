"""Self-attention: the core against a reference, masks, causality, padding invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import attention


def test_sinusoidal_positions():
  pos = np.asarray(attention.sinusoidal_positions(50, 6))
  np.testing.assert_allclose(pos[0], [0, 1, 0, 1, 0, 1], atol=1e-7)
  np.testing.assert_allclose(pos[:, 0], np.sin(np.arange(50)), atol=1e-5)
  np.testing.assert_allclose(pos[:, 3], np.cos(np.arange(50) / 10_000 ** (2 / 6)), atol=1e-5)
  assert attention.sinusoidal_positions(4, 5).shape == (4, 5)  # odd widths work too


def test_attention_mask():
  np.testing.assert_array_equal(
    attention.attention_mask(2, 3, causal=False), [[1, 1, 0], [1, 1, 0], [1, 1, 0]]
  )
  np.testing.assert_array_equal(
    attention.attention_mask(2, 3, causal=True), [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
  )


def test_dot_product_attention_matches_a_reference_and_masks_keys():
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  q, k, v = (jax.random.normal(key, (5, 2, 3)) for key in keys)
  mask = attention.attention_mask(4, 5, causal=True)
  out, weights = attention.dot_product_attention(q, k, v, mask)
  for head in range(2):
    logits = np.asarray(q[:, head]) @ np.asarray(k[:, head]).T / np.sqrt(3)
    logits = np.where(np.asarray(mask), logits, -np.inf)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights[head], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, head], w @ np.asarray(v[:, head]), rtol=1e-5, atol=1e-5)
  assert np.all(np.asarray(weights)[:, :, 4] == 0.0)  # the padded key is never read
  # An empty sequence stays finite (uniform weights), never NaN.
  _, w_empty = attention.dot_product_attention(q, k, v, attention.attention_mask(0, 5, False))
  assert np.all(np.isfinite(w_empty))


def _transformer(causal, positions="sinusoidal", L=12):
  model = attention.Transformer(
    width=16,
    num_layers=2,
    num_heads=4,
    mlp_dim=32,
    dropout=0.0,
    causal=causal,
    positions=positions,
    max_len=L,
  )
  x = jax.random.normal(jax.random.PRNGKey(0), (3, L, 5))
  lengths = jnp.array([L, 8, 3])
  return model, jax.jit(model.init)(jax.random.PRNGKey(1), x, lengths), x, lengths


@pytest.mark.parametrize(
  "positions",
  [
    p if p == "sinusoidal" else pytest.param(p, marks=pytest.mark.slow) for p in attention.POSITIONS
  ],
)  # the fast tier checks one kind of positions
def test_causal_decoder_never_sees_the_future_and_the_encoder_does(positions):
  t = 5
  for causal in (True, False):
    model, params, x, lengths = _transformer(causal, positions)

    def output_t(x, model=model, params=params, lengths=lengths):
      return model.apply(params, x, lengths)[0][0, t].sum()

    grad = np.asarray(jax.jit(jax.grad(output_t))(x))
    if causal:
      assert np.all(grad[0, t + 1 :] == 0.0)
    else:
      assert np.all(np.abs(grad[0, t + 1 :]).sum(-1) > 0)
    assert np.all(np.abs(grad[0, : t + 1]).sum(-1) > 0)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_changes_no_valid_output(causal):
  model, params, x, lengths = _transformer(causal)
  apply = jax.jit(model.apply)
  y, aux = apply(params, x, lengths)
  junk = x.at[1, 8:].set(50.0).at[2, 3:].set(-50.0)
  y_junk, _ = apply(params, junk, lengths)
  np.testing.assert_allclose(y_junk, y, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(y[2, 3:], 0.0)
  weights = np.asarray(aux["layer1"]["attention"])  # B x N x L x L
  assert weights.shape == (3, 4, 12, 12)
  assert np.all(weights[2, :, :, 3:] == 0.0)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def test_heads_must_divide_the_width():
  model = attention.SelfAttention(num_heads=3)
  with pytest.raises(ValueError, match="width 16 is not divisible by num_heads=3"):
    model.init(jax.random.PRNGKey(0), jnp.ones((1, 4, 16)), jnp.array([4]))
