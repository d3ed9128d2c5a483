"""ENCODER-DECODER: a source sequence in, a different target sequence out (tasks/seq2seq.py).

Shape key: B batch, S source steps, T target steps, E embedding, H hidden (recurrent), D model
width, A attention width, V target vocabulary, M MLP width.

Three families, one interface (what train.py and decoding.py call):

  model(src_BxS, lengths_B, decoder_inputs_BxT, train) -> (logits_BxTxV, {'attention': BxTxS})
      teacher forcing: step t reads the target tokens before t (decoder_inputs is the target
      shifted right behind BOS); the decoder is causal, so no step sees its own answer.
  model.encode(src_BxS, lengths_B) -> memory            (a dict of arrays, leading axis B)
  model.decode_init(memory) -> state
  model.decode_step(memory, state, tokens_BxT, t) -> (logits_BxV, state)
      the logits of target step t given the tokens generated so far (tokens[:, :t+1], BOS
      first); decoding.py runs it in a loop over steps for greedy and beam search.

Mixed precision (precision.py): each model's `dtype` field is its compute dtype; its
parameters stay float32 and are cast to it in `apply`, so the encoder, the decoder and their
carries compute in it, while the attention softmaxes sum in float32 and the logits (and the
attention weights returned) come back in float32: the loss, and decoding's log-probabilities
and beam scores, are float32.

Each model marks its target embeddings with `self.perturb('target_embedding', ...)`, so a test
can take the gradient of output step t with respect to every decoder input (causality).

- `RNNSeq2Seq` (seq2seq_lstm / seq2seq_gru; Bahdanau et al. 2015, Luong et al. 2015): a
  (bidirectional) recurrent encoder (recurrent.RNN), and a decoder whose step is the cell's own
  step function (recurrent.CELLS) followed by attention over the encoder states (additive, or
  dot-product against projected keys) and an attentional output o_t = tanh(W [h_t; c_t]) fed
  back as input at t+1 (input feeding). Teacher forcing runs that step under
  `recurrent.scan_sequence`; decoding calls the same step once per output step, its carry as the
  cache: O(1) work per new token.
- `ConvS2S` (Gehring et al. 2017, scaled down): conv.Conv1D blocks with GLU and residuals;
  the encoder's convolutions are centred, the decoder's causal, and every decoder layer attends
  to the encoder (keys z, values z + source embedding). All target steps train in parallel.
- `TransformerS2S` (Vaswani et al. 2017, pre-norm): attention.Transformer encodes; decoder
  layers are causal self-attention, cross-attention (attention.CrossAttention) and an MLP.

The two parallel families decode by recomputation: decode_step runs the whole causal decoder
on the T-step token buffer and reads step t. That is O(T) work per token (O(T^2) per sequence)
instead of a per-layer key/value or convolution-window cache, but for the targets here (T <=
~30) it costs little, needs no second code path to keep equal to training, and causality (the
gradient test in tests/test_seq2seq.py) makes step t's logits exactly the incremental ones.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import attention, conv, recurrent
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.precision import MixedPrecision

SCORES = ("additive", "dot")
Memory = dict[str, Any]


def masked_embed(embed: nn.Module, tokens_BxL: jax.Array, lengths_B: jax.Array) -> jax.Array:
  """Embeddings, zero past each length."""
  x_BxLxE = embed(tokens_BxL)
  return jnp.where(mask_BxL(lengths_B, tokens_BxL.shape[1])[:, :, None], x_BxLxE, 0.0)


# ---------------------------------------------------------------------------------------------
# Recurrent encoder-decoder with attention


def attention_weights(
  query_A: jax.Array, keys_SxA: jax.Array, mask_S: jax.Array, score: str, v_A: jax.Array | None
) -> jax.Array:
  """weights_S: softmax over the valid source steps of v . tanh(k_s + q) (additive, Bahdanau)
  or k_s . q (dot, Luong's 'general' form: the keys are projected encoder states)."""
  if score == "additive":
    logits_S = jnp.tanh(keys_SxA + query_A[None, :]) @ v_A
  else:
    logits_S = keys_SxA @ query_A
  logits_S = jnp.where(mask_S, logits_S.astype(jnp.float32), jnp.finfo(jnp.float32).min)
  return jax.nn.softmax(logits_S).astype(keys_SxA.dtype)  # summed in float32


def decoder_step(
  params: dict[str, Any],
  carry: tuple[Any, jax.Array],
  y_E: jax.Array,
  *,
  cell: str,
  score: str,
  keys_SxA: jax.Array,
  values_SxD: jax.Array,
  mask_S: jax.Array,
) -> tuple[tuple[Any, jax.Array], tuple[jax.Array, jax.Array]]:
  """One decoder step of ONE sequence: (cell carry, o_{t-1}), y_{t-1} -> (carry, (o_t, w_S)).

  The cell (recurrent.CELLS: the same step functions as every recurrent encoder) reads
  [y_{t-1}; o_{t-1}]; its h_t queries the encoder; o_t = tanh(W_c [h_t; context_t] + b_c).
  """
  cell_carry, o_H = carry
  step, _ = recurrent.CELLS[cell]
  cell_carry, (h_H, _) = step(params["cell"], cell_carry, jnp.concatenate([y_E, o_H]))
  query_A = h_H @ params["w_q"] if score == "additive" else h_H
  w_S = attention_weights(query_A, keys_SxA, mask_S, score, params.get("v"))
  context_D = w_S @ values_SxD
  o_H = jnp.tanh(jnp.concatenate([h_H, context_D]) @ params["w_c"] + params["b_c"])
  return (cell_carry, o_H), (o_H, w_S)


def init_decoder_params(
  rng: jax.Array, cell: str, embed_dim: int, hidden: int, memory_dim: int, score: str
) -> dict[str, Any]:
  """The decoder step's weights: the cell (input [y; o]), query and score vector (additive)
  and the attentional output layer."""
  k_cell, k_q, k_v, k_c = jax.random.split(rng, 4)
  glorot = nn.initializers.glorot_uniform()
  params = {
    "cell": recurrent.init_cell_params(k_cell, cell, embed_dim + hidden, hidden),
    "w_c": glorot(k_c, (hidden + memory_dim, hidden)),
    "b_c": jnp.zeros((hidden,)),
  }
  if score == "additive":
    params["w_q"] = glorot(k_q, (hidden, hidden))
    params["v"] = nn.initializers.normal(1.0 / math.sqrt(hidden))(k_v, (hidden,))
  return params


class RNNSeq2Seq(MixedPrecision, nn.Module):
  """Recurrent encoder (bidirectional: hidden/2 units each way; `encoder_layers` stacked, each
  reading the one below through dropout) + attention decoder."""

  source_vocab: int
  target_vocab: int
  cell: str = "lstm"
  embed_dim: int = 64
  hidden: int = 256
  bidirectional: bool = True
  score: str = "additive"
  dropout: float = 0.1
  impl: str = "fused"
  encoder_layers: int = 1
  dtype: str = "float32"  # compute dtype (precision.DTYPES); parameters stay float32

  def setup(self):
    self.source_embed = nn.Embed(self.source_vocab, self.embed_dim)
    self.target_embed = nn.Embed(self.target_vocab, self.embed_dim)
    if self.bidirectional:
      layer = functools.partial(
        recurrent.Bidirectional, self.cell, self.hidden // 2, impl=self.impl
      )
      memory_dim = 2 * (self.hidden // 2)
    else:
      layer = functools.partial(recurrent.RNN, self.cell, self.hidden, impl=self.impl)
      memory_dim = self.hidden
    # the first layer keeps the name of a one-layer encoder, so its checkpoints still load
    self.encoder = layer()
    self.upper_encoders = [layer() for _ in range(self.encoder_layers - 1)]
    self.keys = nn.Dense(self.hidden)
    self.bridge = nn.Dense(self.hidden)
    self.decoder = self.param(
      "decoder", init_decoder_params, self.cell, self.embed_dim, self.hidden, memory_dim, self.score
    )
    self.out = nn.Dense(self.target_vocab)
    self.drop = nn.Dropout(self.dropout)

  def encode(self, src_BxS: jax.Array, lengths_B: jax.Array, train: bool = False) -> Memory:
    """Keys, values and mask of the encoder states; the decoder's first carry (bridged)."""
    x_BxSxE = self.drop(masked_embed(self.source_embed, src_BxS, lengths_B), not train)
    h_BxSxD, last_BxD, _ = self.encoder(x_BxSxE, lengths_B)
    for upper in self.upper_encoders:
      h_BxSxD, last_BxD, _ = upper(self.drop(h_BxSxD, not train), lengths_B)
    h0_BxH = jnp.tanh(self.bridge(last_BxD))
    cell_carry = (jnp.zeros_like(h0_BxH), h0_BxH) if self.cell == "lstm" else h0_BxH
    return {
      "keys": self.keys(h_BxSxD),
      "values": h_BxSxD,
      "mask": mask_BxL(lengths_B, src_BxS.shape[1]),
      "carry": (cell_carry, jnp.zeros_like(h0_BxH)),
    }

  def _step_fn(self):
    return functools.partial(decoder_step, cell=self.cell, score=self.score)

  def __call__(
    self,
    src_BxS: jax.Array,
    lengths_B: jax.Array,
    decoder_inputs_BxT: jax.Array,
    train: bool = False,
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    memory = self.encode(src_BxS, lengths_B, train)
    y_BxTxE = self.perturb("target_embedding", self.target_embed(decoder_inputs_BxT))
    y_BxTxE = self.drop(y_BxTxE, not train)
    params = self.decoder

    def one_sequence(keys_SxA, values_SxD, mask_S, carry, y_TxE):
      step = functools.partial(
        self._step_fn(), keys_SxA=keys_SxA, values_SxD=values_SxD, mask_S=mask_S
      )
      _, (o_TxH, w_TxS) = recurrent.scan_sequence(step, params, carry, y_TxE)
      return o_TxH, w_TxS

    o_BxTxH, w_BxTxS = jax.vmap(one_sequence)(
      memory["keys"], memory["values"], memory["mask"], memory["carry"], y_BxTxE
    )
    logits_BxTxV = self.out(self.drop(o_BxTxH, not train))
    return logits_BxTxV.astype(jnp.float32), {"attention": w_BxTxS.astype(jnp.float32)}

  def decode_init(self, memory: Memory) -> Any:
    """The decoder's carry before the first output: (cell carry, o_0 = 0)."""
    return memory["carry"]

  def decode_step(
    self, memory: Memory, state: Any, tokens_BxT: jax.Array, t: jax.Array
  ) -> tuple[jax.Array, Any]:
    """One cell step on token t and one attention read (the carry is the cache)."""
    y_BxE = self.target_embed(tokens_BxT[:, t])
    params, step = self.decoder, self._step_fn()

    def one_sequence(keys_SxA, values_SxD, mask_S, carry, y_E):
      return step(params, carry, y_E, keys_SxA=keys_SxA, values_SxD=values_SxD, mask_S=mask_S)

    state, (o_BxH, _) = jax.vmap(one_sequence)(
      memory["keys"], memory["values"], memory["mask"], state, y_BxE
    )
    return self.out(o_BxH).astype(jnp.float32), state


# ---------------------------------------------------------------------------------------------
# Convolutional encoder-decoder (ConvS2S)

HALF = math.sqrt(0.5)  # Gehring et al. scale every residual sum by sqrt(1/2)


def masked_cross_attention(
  queries_BxTxE: jax.Array, keys_BxSxE: jax.Array, values_BxSxE: jax.Array, mask_BxS: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """(context_BxTxE, weights_BxTxS): one-head dot-product attention over the valid keys."""
  logits_BxTxS = jnp.einsum("bte,bse->bts", queries_BxTxE, keys_BxSxE)
  logits_BxTxS = jnp.where(
    mask_BxS[:, None, :], logits_BxTxS.astype(jnp.float32), jnp.finfo(jnp.float32).min
  )
  w_BxTxS = jax.nn.softmax(logits_BxTxS, axis=-1).astype(values_BxSxE.dtype)  # summed in float32
  return jnp.einsum("bts,bse->bte", w_BxTxS, values_BxSxE), w_BxTxS


class ParallelDecoding:
  """The decoding interface of a decoder that trains all positions at once (ConvS2S, the
  transformer): `__call__` is teacher-forced `_decode(encode(...))`, and decoding recomputes
  the causal decoder over the prefix at each step (no cache)."""

  def __call__(
    self,
    src_BxS: jax.Array,
    lengths_B: jax.Array,
    decoder_inputs_BxT: jax.Array,
    train: bool = False,
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    return self._decode(self.encode(src_BxS, lengths_B, train), decoder_inputs_BxT, train)

  def decode_init(self, memory: Memory) -> Any:
    """Nothing: decode_step recomputes the prefix."""
    return {}

  def decode_step(
    self, memory: Memory, state: Any, tokens_BxT: jax.Array, t: jax.Array
  ) -> tuple[jax.Array, Any]:
    """The whole causal decoder over the token buffer, read at step t (recomputation)."""
    logits_BxTxV, _ = self._decode(memory, tokens_BxT, False)
    return jnp.take(logits_BxTxV, t, axis=1), state


class ConvS2S(MixedPrecision, ParallelDecoding, nn.Module):
  """Convolutional encoder (centred) and causal decoder, GLU blocks, attention in each layer."""

  source_vocab: int
  target_vocab: int
  embed_dim: int = 64
  width: int = 256
  num_layers: int = 4
  kernel_size: int = 3
  dropout: float = 0.1
  impl: str = "xla"
  dtype: str = "float32"  # compute dtype (precision.DTYPES); parameters stay float32

  def setup(self):
    D, K, E = self.width, self.kernel_size, self.embed_dim
    self.source_embed = nn.Embed(self.source_vocab, E)
    self.target_embed = nn.Embed(self.target_vocab, E)
    self.enc_in, self.enc_out = nn.Dense(D), nn.Dense(E)
    self.enc_convs = [conv.Conv1D(2 * D, K, "same", impl=self.impl) for _ in range(self.num_layers)]
    self.dec_in, self.dec_out = nn.Dense(D), nn.Dense(E)
    self.dec_convs = [
      conv.Conv1D(2 * D, K, "causal", impl=self.impl) for _ in range(self.num_layers)
    ]
    self.att_in = [nn.Dense(E) for _ in range(self.num_layers)]
    self.att_out = [nn.Dense(D) for _ in range(self.num_layers)]
    self.out = nn.Dense(self.target_vocab)
    self.drop = nn.Dropout(self.dropout)

  def _embed(self, embed, tokens_BxL, lengths_B, train):
    x_BxLxE = masked_embed(embed, tokens_BxL, lengths_B)
    pos_LxE = attention.sinusoidal_positions(tokens_BxL.shape[1], self.embed_dim)
    valid_BxLx1 = mask_BxL(lengths_B, tokens_BxL.shape[1])[:, :, None]
    x_BxLxE = x_BxLxE + pos_LxE[None].astype(x_BxLxE.dtype)  # in the compute dtype
    return self.drop(jnp.where(valid_BxLx1, x_BxLxE, 0.0), not train)

  def encode(self, src_BxS: jax.Array, lengths_B: jax.Array, train: bool = False) -> Memory:
    """Keys z and values (z + e) * sqrt(1/2) of the convolutional encoder, and the mask."""
    valid_BxSx1 = mask_BxL(lengths_B, src_BxS.shape[1])[:, :, None]
    e_BxSxE = self._embed(self.source_embed, src_BxS, lengths_B, train)
    x_BxSxD = self.enc_in(e_BxSxE)
    for block in self.enc_convs:
      y_BxSxD = nn.glu(block(self.drop(x_BxSxD, not train)))
      x_BxSxD = jnp.where(valid_BxSx1, (x_BxSxD + y_BxSxD) * HALF, 0.0)  # pads stay zero
    z_BxSxE = jnp.where(valid_BxSx1, self.enc_out(x_BxSxD), 0.0)
    return {"keys": z_BxSxE, "values": (z_BxSxE + e_BxSxE) * HALF, "mask": valid_BxSx1[..., 0]}

  def _decode(self, memory: Memory, tokens_BxT: jax.Array, train: bool):
    B, T = tokens_BxT.shape
    g_BxTxE = self._embed(self.target_embed, tokens_BxT, jnp.full((B,), T), train)
    g_BxTxE = self.perturb("target_embedding", g_BxTxE)
    x_BxTxD = self.dec_in(g_BxTxE)
    w_BxTxS = None
    for block, att_in, att_out in zip(self.dec_convs, self.att_in, self.att_out):
      y_BxTxD = nn.glu(block(self.drop(x_BxTxD, not train)))
      d_BxTxE = (att_in(y_BxTxD) + g_BxTxE) * HALF
      c_BxTxE, w_BxTxS = masked_cross_attention(
        d_BxTxE, memory["keys"], memory["values"], memory["mask"]
      )
      y_BxTxD = (y_BxTxD + att_out(c_BxTxE)) * HALF
      x_BxTxD = (x_BxTxD + y_BxTxD) * HALF
    h_BxTxE = self.drop(self.dec_out(x_BxTxD), not train)
    return self.out(h_BxTxE).astype(jnp.float32), {"attention": w_BxTxS.astype(jnp.float32)}


# ---------------------------------------------------------------------------------------------
# Transformer encoder-decoder


class DecoderLayers(nn.Module):
  """Pre-norm decoder layers: causal self-attention, cross-attention, MLP; a final LN."""

  num_layers: int = 2
  num_heads: int = 4
  mlp_dim: int = 256
  dropout: float = 0.1

  @nn.compact
  def __call__(
    self, x_BxTxD: jax.Array, memory_BxSxD: jax.Array, lengths_B: jax.Array, train: bool = False
  ) -> tuple[jax.Array, jax.Array]:
    B, T, D = x_BxTxD.shape
    drop = nn.Dropout(self.dropout, deterministic=not train)
    full_B = jnp.full((B,), T)  # causal masking alone keeps every step off the later ones
    w_BxNxTxS = None
    for i in range(self.num_layers):
      y_BxTxD, _ = attention.SelfAttention(self.num_heads, causal=True, name=f"self{i}")(
        nn.LayerNorm(name=f"norm{i}_self")(x_BxTxD), full_B
      )
      x_BxTxD = x_BxTxD + drop(y_BxTxD)
      y_BxTxD, aux = attention.CrossAttention(self.num_heads, name=f"cross{i}")(
        nn.LayerNorm(name=f"norm{i}_cross")(x_BxTxD), memory_BxSxD, lengths_B
      )
      w_BxNxTxS = aux["attention"]
      x_BxTxD = x_BxTxD + drop(y_BxTxD)
      h_BxTxM = nn.gelu(
        nn.Dense(self.mlp_dim, name=f"mlp{i}_in")(nn.LayerNorm(name=f"norm{i}_mlp")(x_BxTxD))
      )
      x_BxTxD = x_BxTxD + drop(nn.Dense(D, name=f"mlp{i}_out")(h_BxTxM))
    return nn.LayerNorm(name="norm_out")(x_BxTxD), w_BxNxTxS


class TransformerS2S(MixedPrecision, ParallelDecoding, nn.Module):
  """attention.Transformer encoder + `DecoderLayers`, sinusoidal positions on both sides."""

  source_vocab: int
  target_vocab: int
  embed_dim: int = 64
  width: int = 128
  num_layers: int = 2
  num_heads: int = 4
  mlp_dim: int = 256
  dropout: float = 0.1
  dtype: str = "float32"  # compute dtype (precision.DTYPES); parameters stay float32

  def setup(self):
    self.source_embed = nn.Embed(self.source_vocab, self.embed_dim)
    self.target_embed = nn.Embed(self.target_vocab, self.embed_dim)
    self.encoder = attention.Transformer(
      self.width, self.num_layers, self.num_heads, self.mlp_dim, self.dropout, causal=False
    )
    self.dec_in = nn.Dense(self.width)
    self.decoder = DecoderLayers(self.num_layers, self.num_heads, self.mlp_dim, self.dropout)
    self.out = nn.Dense(self.target_vocab)
    self.drop = nn.Dropout(self.dropout)

  def encode(self, src_BxS: jax.Array, lengths_B: jax.Array, train: bool = False) -> Memory:
    """The encoder's outputs (zero past each length) and the source lengths."""
    x_BxSxE = self.drop(masked_embed(self.source_embed, src_BxS, lengths_B), not train)
    y_BxSxD, _ = self.encoder(x_BxSxE, lengths_B, train)
    return {"values": y_BxSxD, "lengths": lengths_B}

  def _decode(self, memory: Memory, tokens_BxT: jax.Array, train: bool):
    T = tokens_BxT.shape[1]
    y_BxTxE = self.perturb("target_embedding", self.target_embed(tokens_BxT))
    x_BxTxD = self.dec_in(self.drop(y_BxTxE, not train))
    pos_TxD = attention.sinusoidal_positions(T, self.width)
    x_BxTxD = x_BxTxD + pos_TxD[None].astype(x_BxTxD.dtype)  # in the compute dtype
    y_BxTxD, w_BxNxTxS = self.decoder(x_BxTxD, memory["values"], memory["lengths"], train)
    w_BxTxS = jnp.mean(w_BxNxTxS.astype(jnp.float32), axis=1)
    return self.out(y_BxTxD).astype(jnp.float32), {"attention": w_BxTxS}
