"""ATTENTION: every position reads every allowed position in one step (Vaswani et al. 2017).

Shape key: B batch, L length (queries), S length (keys), D model width, N heads,
K head width (D / N), M MLP width.

Where a convolution mixes a fixed local window and a recurrence carries one state
forward, self-attention computes, for each query t, a softmax-weighted mix of all
positions s its mask allows: the keys inside the sequence's length, and for a causal
(language-model) decoder only s <= t. Like `conv.conv1d_vmap` it is parallel over
positions; unlike it, its reach is the whole sequence from the first layer on.

The core (`dot_product_attention`, `attention_mask`, `sinusoidal_positions`) is pure
and works on ONE sequence; `SelfAttention` owns the projections and vmaps the core
over the batch. `PreNormStack` is the pre-norm residual stack (Xiong et al. 2020):
x + mixer(LN(x)), then x + MLP(LN(x)). Its time mixer is swappable: `Transformer`
uses `SelfAttention`; models.py puts the linear recurrences of linear_scan.py in the
same stack, so those comparisons change the time mixer and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax.masks import mask_BxL, mask_L

POSITIONS = ("sinusoidal", "learned")


def sinusoidal_positions(length: int, width: int) -> jax.Array:
  """pos_LxD: sin on even channels, cos on odd ones, wavelengths 2 pi .. 10^4 2 pi."""
  t_Lx1 = jnp.arange(length, dtype=jnp.float32)[:, None]
  freq_D2 = jnp.exp(-math.log(10_000.0) * jnp.arange(0, width, 2, dtype=jnp.float32) / width)
  angles_LxD2 = t_Lx1 * freq_D2[None, :]
  pos_LxD = jnp.zeros((length, width), jnp.float32)
  pos_LxD = pos_LxD.at[:, 0::2].set(jnp.sin(angles_LxD2))
  return pos_LxD.at[:, 1::2].set(jnp.cos(angles_LxD2[:, : width // 2]))


def attention_mask(length: int | jax.Array, num_steps: int, causal: bool) -> jax.Array:
  """mask_LxS: query t may read key s iff s < length (and s <= t when causal)."""
  s_S = jnp.arange(num_steps)
  mask_LxS = jnp.broadcast_to(mask_L(length, num_steps)[None, :], (num_steps, num_steps))
  if causal:
    mask_LxS = mask_LxS & (s_S[None, :] <= s_S[:, None])
  return mask_LxS


def dot_product_attention(
  q_LxNxK: jax.Array, k_SxNxK: jax.Array, v_SxNxK: jax.Array, mask_LxS: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Softmax(q k^T / sqrt(K)) v per head. Returns (out_LxNxK, weights_NxLxS).

  Masked logits get the dtype's most negative value (not -inf), so a query with no
  allowed key (only possible past an empty sequence's length) gets uniform, finite
  weights instead of NaN; its output is discarded by the caller anyway.
  """
  logits_NxLxS = jnp.einsum("lnk,snk->nls", q_LxNxK, k_SxNxK) / math.sqrt(q_LxNxK.shape[-1])
  logits_NxLxS = jnp.where(mask_LxS[None], logits_NxLxS, jnp.finfo(logits_NxLxS.dtype).min)
  # the softmax's sum in float32 (mixed precision), the weights back in the compute dtype
  weights_NxLxS = jax.nn.softmax(logits_NxLxS.astype(jnp.float32), axis=-1).astype(v_SxNxK.dtype)
  return jnp.einsum("nls,snk->lnk", weights_NxLxS, v_SxNxK), weights_NxLxS


class SelfAttention(nn.Module):
  """Multi-head self-attention over a padded batch; outputs are zero past each length.

  Returns (y_BxLxD, {'attention': weights_BxNxLxL}).
  """

  num_heads: int = 4
  causal: bool = False

  @nn.compact
  def __call__(
    self, x_BxLxD: jax.Array, lengths_B: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    B, L, D = x_BxLxD.shape
    if D % self.num_heads:
      raise ValueError(f"width {D} is not divisible by num_heads={self.num_heads}")
    qkv_BxLx3xNxK = nn.DenseGeneral((3, self.num_heads, D // self.num_heads), name="qkv")(x_BxLxD)

    def one_sequence(qkv_Lx3xNxK, length):
      mask_LxL = attention_mask(length, L, self.causal)
      q, k, v = (qkv_Lx3xNxK[:, i] for i in range(3))
      out_LxNxK, weights_NxLxL = dot_product_attention(q, k, v, mask_LxL)
      return out_LxNxK, weights_NxLxL

    out_BxLxNxK, weights_BxNxLxL = jax.vmap(one_sequence)(qkv_BxLx3xNxK, lengths_B)
    y_BxLxD = nn.DenseGeneral(D, axis=(-2, -1), name="out")(out_BxLxNxK)
    valid_BxLx1 = mask_BxL(lengths_B, L)[:, :, None]
    return jnp.where(valid_BxLx1, y_BxLxD, 0.0), {"attention": weights_BxNxLxL}


class CrossAttention(nn.Module):
  """Multi-head attention of a decoder's steps over an encoder's valid steps (seq2seq.py).

  Queries come from x_BxLxD, keys and values from memory_BxSxD; key s of row b counts iff
  s < memory_lengths_B[b]. Returns (y_BxLxD, {'attention': weights_BxNxLxS}).
  """

  num_heads: int = 4

  @nn.compact
  def __call__(
    self, x_BxLxD: jax.Array, memory_BxSxD: jax.Array, memory_lengths_B: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    L, D = x_BxLxD.shape[1:]
    S = memory_BxSxD.shape[1]
    if D % self.num_heads:
      raise ValueError(f"width {D} is not divisible by num_heads={self.num_heads}")
    heads = (self.num_heads, D // self.num_heads)
    q_BxLxNxK = nn.DenseGeneral(heads, name="q")(x_BxLxD)
    kv_BxSx2xNxK = nn.DenseGeneral((2,) + heads, name="kv")(memory_BxSxD)

    def one_sequence(q_LxNxK, kv_Sx2xNxK, length):
      mask_LxS = jnp.broadcast_to(mask_L(length, S)[None, :], (L, S))
      return dot_product_attention(q_LxNxK, kv_Sx2xNxK[:, 0], kv_Sx2xNxK[:, 1], mask_LxS)

    out_BxLxNxK, weights_BxNxLxS = jax.vmap(one_sequence)(q_BxLxNxK, kv_BxSx2xNxK, memory_lengths_B)
    y_BxLxD = nn.DenseGeneral(D, axis=(-2, -1), name="out")(out_BxLxNxK)
    return y_BxLxD, {"attention": weights_BxNxLxS}


class PreNormStack(nn.Module):
  """`num_layers` x [x + drop(mixer(LN(x))); x + drop(MLP(LN(x)))], then a final LN.

  `mixer` builds a time-mixing module when called with `name=`; that module maps
  (x_BxLxD, lengths_B) -> (y_BxLxD, aux). Returns (y_BxLxD, {'layer<i>': aux_i}).
  """

  mixer: Callable[..., nn.Module]
  num_layers: int = 2
  mlp_dim: int = 256
  dropout: float = 0.1

  @nn.compact
  def __call__(
    self, x_BxLxD: jax.Array, lengths_B: jax.Array, train: bool = False
  ) -> tuple[jax.Array, dict[str, Any]]:
    D = x_BxLxD.shape[-1]
    drop = nn.Dropout(self.dropout, deterministic=not train)
    aux = {}
    for i in range(self.num_layers):
      mixed_BxLxD, aux[f"layer{i}"] = self.mixer(name=f"mixer{i}")(
        nn.LayerNorm(name=f"norm{i}_mix")(x_BxLxD), lengths_B
      )
      x_BxLxD = x_BxLxD + drop(mixed_BxLxD)
      hidden_BxLxM = nn.gelu(
        nn.Dense(self.mlp_dim, name=f"mlp{i}_in")(nn.LayerNorm(name=f"norm{i}_mlp")(x_BxLxD))
      )
      x_BxLxD = x_BxLxD + drop(nn.Dense(D, name=f"mlp{i}_out")(hidden_BxLxM))
    return nn.LayerNorm(name="norm_out")(x_BxLxD), aux


class Transformer(nn.Module):
  """A small pre-norm Transformer: encoder (causal=False) or causal decoder (causal=True).

  Inputs are projected to `width`, positions added (sinusoidal, or learned for up to
  `max_len` steps), then `PreNormStack` with multi-head self-attention. Padding keys
  are masked, so padding never changes an output at a valid step.
  Returns (y_BxLxD, aux) with y zero past each length.
  """

  width: int = 128
  num_layers: int = 2
  num_heads: int = 4
  mlp_dim: int = 256
  dropout: float = 0.1
  causal: bool = False
  positions: str = "sinusoidal"
  max_len: int = 512

  @nn.compact
  def __call__(
    self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False
  ) -> tuple[jax.Array, dict[str, Any]]:
    L = x_BxLxE.shape[1]
    x_BxLxD = nn.Dense(self.width, name="in_proj")(x_BxLxE)
    if self.positions == "sinusoidal":
      pos_LxD = sinusoidal_positions(L, self.width)
    elif self.positions == "learned":
      pos_LxD = self.param("positions", nn.initializers.normal(0.02), (self.max_len, self.width))[
        :L
      ]
    else:
      raise ValueError(f"unknown positions {self.positions!r}; use one of {POSITIONS}")
    x_BxLxD = x_BxLxD + pos_LxD[None].astype(x_BxLxD.dtype)  # in the compute dtype
    mixer = lambda name: SelfAttention(self.num_heads, self.causal, name=name)
    y_BxLxD, aux = PreNormStack(mixer, self.num_layers, self.mlp_dim, self.dropout, name="blocks")(
      x_BxLxD, lengths_B, train
    )
    valid_BxLx1 = mask_BxL(lengths_B, L)[:, :, None]
    return jnp.where(valid_BxLx1, y_BxLxD, 0.0), aux
