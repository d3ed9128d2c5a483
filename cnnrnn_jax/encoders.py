"""Encoders: thin Flax Linen assemblies over the cores in conv.py, recurrent.py,
linear_scan.py and attention.py.

Shape key: B batch, L length, E embedding, F filters, H hidden, D feature width.

Every encoder maps (x_BxLxE, lengths_B, train) -> (seq_BxLxD, pooled_BxD, aux): `seq`
feeds per-step heads (per_step, lm tasks), `pooled` feeds sequence heads (classify,
regress), `aux` holds what probes and pictures need (conv feature maps and the positions
max-pooling picked, per-step hidden states, gate values). `models.SequenceModel` puts the
embedding and the head around one; `models.MODELS` names them.

The folklore's pair and its companions: TextCNN (Kim 2014), RecurrentEncoder (Elman /
LSTM / GRU, uni- or bidirectional), CNNLSTM (the hybrid), Bag (order-blind). Beyond the
folklore: TCN (Bai et al. 2018 dilated causal CNN), LinearRNNEncoder (minGRU / LRU run as a
parallel scan), TransformerEncoder (pre-norm self-attention). Position-specific baselines
(Greydanus 2020, MNIST-1D): FlatMLP (logistic regression and an MLP over the whole input).
Forecasting: LinearForecaster (NLinear / DLinear) and IteratedRecurrent (a recurrence that
steps on its own forecasts), which make the forecast themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import attention, conv, linear_scan, recurrent
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.recurrent_fused import fused_scan

READOUTS = ("last", "mean", "max")
# (seq_BxLxD or None when there is no per-step output, pooled_BxD, aux)
EncoderOut = tuple[jax.Array | None, jax.Array, dict[str, Any]]


def pool_over_time(h_BxLxD: jax.Array, lengths_B: jax.Array, how: str) -> jax.Array:
  """'mean' or 'max' over the valid steps of each sequence."""
  valid_BxLx1 = mask_BxL(lengths_B, h_BxLxD.shape[1])[:, :, None]
  if how == "mean":
    total_BxD = jnp.sum(jnp.where(valid_BxLx1, h_BxLxD, 0.0), axis=1)
    return total_BxD / jnp.maximum(lengths_B, 1)[:, None].astype(h_BxLxD.dtype)
  if how == "max":
    return jnp.max(jnp.where(valid_BxLx1, h_BxLxD, -jnp.inf), axis=1)
  raise ValueError(f"unknown pooling {how!r}")


class TextCNN(nn.Module):
  """Kim 2014: parallel convolutions of widths K (F maps each), ReLU, max-over-time.

  For sequence heads the convolutions are 'valid' and max-pooling looks only at
  windows that start inside the sequence. For per-step heads they are 'same'
  (or 'causal' for language modelling) so there is one feature vector per step.
  Forecasting needs to know *when* a pattern happened, which max-over-time discards:
  readout 'flatten' hands the head every step's features (causal padding, full-length
  windows: each position keeps its own head weights), 'last' the last step's.
  """

  kernel_sizes: Sequence[int] = (3, 4, 5)
  num_filters: int = 100
  padding: str = "valid"
  impl: str = "xla"
  readout: str = "max"  # max (Kim) | flatten | last: the forecasting heads that keep time

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    maps, picks, pooled, seq = {}, {}, [], []
    for k in self.kernel_sizes:
      y_BxLxF = nn.relu(
        conv.Conv1D(self.num_filters, k, self.padding, impl=self.impl, name=f"conv{k}")(x_BxLxE)
      )
      num_windows_B = jnp.maximum(lengths_B - (k - 1 if self.padding == "valid" else 0), 1)
      max_BxF, argmax_BxF = jax.vmap(conv.masked_max_over_time)(y_BxLxF, num_windows_B)
      maps[f"k{k}"], picks[f"k{k}"] = y_BxLxF, argmax_BxF
      pooled.append(max_BxF)
      seq.append(y_BxLxF)
    aux = {"feature_maps": maps, "pool_argmax": picks}
    seq_BxLxD = jnp.concatenate(seq, -1) if self.padding != "valid" else None
    if self.readout == "flatten":
      return seq_BxLxD, seq_BxLxD.reshape(seq_BxLxD.shape[0], -1), aux
    if self.readout == "last":
      return seq_BxLxD, last_valid_step(seq_BxLxD, lengths_B), aux
    return seq_BxLxD, jnp.concatenate(pooled, -1), aux


class RecurrentEncoder(nn.Module):
  """An Elman / LSTM / GRU layer, optionally bidirectional, with a chosen readout.

  readout 'last' takes the state after the last valid step (bidirectional: the
  forward state after the last step next to the backward state after the first).
  """

  cell: str = "lstm"
  hidden: int = 128
  bidirectional: bool = False
  readout: str = "last"
  impl: str = "fused"  # recurrent.IMPLS: fused (fast) | scan (didactic); same numbers

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    if self.bidirectional:
      layer = recurrent.Bidirectional(self.cell, self.hidden, impl=self.impl, name="birnn")
    else:
      layer = recurrent.RNN(self.cell, self.hidden, impl=self.impl, name="rnn")
    h_BxLxH, last_BxH, gates = layer(x_BxLxE, lengths_B)
    pooled = (
      last_BxH if self.readout == "last" else pool_over_time(h_BxLxH, lengths_B, self.readout)
    )
    return h_BxLxH, pooled, {"hidden": h_BxLxH, "gates": gates}


class CNNLSTM(nn.Module):
  """The hybrid: a convolution extracts local features, an LSTM reads their sequence."""

  kernel_size: int = 3
  num_filters: int = 100
  hidden: int = 128
  padding: str = "same"
  readout: str = "last"
  impl: str = "xla"
  rnn_impl: str = "fused"

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    y_BxLxF = nn.relu(
      conv.Conv1D(self.num_filters, self.kernel_size, self.padding, impl=self.impl, name="conv")(
        x_BxLxE
      )
    )
    seq, pooled, aux = RecurrentEncoder(
      "lstm", self.hidden, readout=self.readout, impl=self.rnn_impl, name="lstm"
    )(y_BxLxF, lengths_B)
    return seq, pooled, {"feature_maps": {f"k{self.kernel_size}": y_BxLxF}, **aux}


class Bag(nn.Module):
  """Order-blind baseline: mean of the (embedded) inputs, then a ReLU layer.

  Any permutation of a sequence's valid steps gives the same output. Per-step
  heads get the ReLU layer applied to each step alone (no context at all).
  """

  hidden: int = 128

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    dense = nn.Dense(self.hidden, name="hidden")
    pooled_BxH = nn.relu(dense(pool_over_time(x_BxLxE, lengths_B, "mean")))
    seq_BxLxH = nn.relu(dense(x_BxLxE))
    return seq_BxLxH, pooled_BxH, {}


# ---------------------------------------------------------------------------------------------
# Beyond the folklore: a CNN with long memory (tcn), recurrences computed in parallel
# (mingru, lru) and attention (transformer). All are usable on every task kind; tcn,
# mingru and lru are causal everywhere, the transformer becomes a causal decoder for lm.


def last_valid_step(h_BxLxD: jax.Array, lengths_B: jax.Array) -> jax.Array:
  """h at each row's last valid step: a causal model's summary of the whole sequence."""
  index_Bx1x1 = jnp.maximum(lengths_B - 1, 0)[:, None, None]
  return jnp.take_along_axis(h_BxLxD, index_Bx1x1, axis=1)[:, 0]


def readout_over_time(h_BxLxD: jax.Array, lengths_B: jax.Array, how: str) -> jax.Array:
  """'last' valid step, or 'mean' / 'max' over the valid steps."""
  if how == "last":
    return last_valid_step(h_BxLxD, lengths_B)
  return pool_over_time(h_BxLxD, lengths_B, how)


def tcn_dilations(levels: int) -> list[int]:
  """Dilation of each convolution of a TCN: 2^i for both convolutions of level i."""
  return [2**i for i in range(levels) for _ in range(2)]


def tcn_receptive_field(kernel_size: int, levels: int) -> int:
  """1 + 2 (K - 1)(2^levels - 1): two causal convolutions per level, dilation 2^i."""
  return conv.receptive_field([kernel_size] * 2 * levels, tcn_dilations(levels))


class TemporalBlock(nn.Module):
  """One TCN level (Bai et al. 2018): two dilated causal convolutions, each followed by
  ReLU and dropout, added to the input (through a 1x1 convolution when widths differ),
  then ReLU. Weight normalisation (Salimans & Kingma 2016) reparametrises each kernel
  as g * v / ||v|| per output filter (`nn.WeightNorm` over our `conv.Conv1D`; g starts
  at 1, so the effective kernel starts with unit norm per filter, close to LeCun init).
  """

  features: int
  kernel_size: int
  dilation: int
  dropout: float = 0.0
  weight_norm: bool = True
  impl: str = "xla"

  @nn.compact
  def __call__(self, x_BxLxC: jax.Array, train: bool = False) -> jax.Array:
    drop = nn.Dropout(self.dropout, deterministic=not train)
    y_BxLxF = x_BxLxC
    for i in (1, 2):
      if self.weight_norm:
        layer = nn.WeightNorm(
          conv.Conv1D(self.features, self.kernel_size, "causal", self.dilation, self.impl),
          name=f"conv{i}",
        )
      else:
        layer = conv.Conv1D(
          self.features, self.kernel_size, "causal", self.dilation, self.impl, name=f"conv{i}"
        )
      y_BxLxF = drop(nn.relu(layer(y_BxLxF)))
    residual_BxLxF = x_BxLxC
    if x_BxLxC.shape[-1] != self.features:
      residual_BxLxF = conv.Conv1D(self.features, 1, impl=self.impl, name="project")(x_BxLxC)
    return nn.relu(y_BxLxF + residual_BxLxF)


class TCN(nn.Module):
  """Temporal convolutional network (Bai, Kolter & Koltun 2018, "An Empirical Evaluation
  of Generic Convolutional and Recurrent Networks for Sequence Modeling").

  `levels` TemporalBlocks of width `hidden`, dilation 2^i in level i: output t sees the
  tcn_receptive_field(kernel_size, levels) inputs ending at t and nothing after it.
  Sequence heads read the last valid step (readout 'last'; 'mean'/'max' also work).
  """

  hidden: int = 64
  levels: int = 4
  kernel_size: int = 3
  dropout: float = 0.0
  weight_norm: bool = True
  readout: str = "last"
  impl: str = "xla"

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    h_BxLxH, maps = x_BxLxE, {}
    for i in range(self.levels):
      h_BxLxH = TemporalBlock(
        self.hidden,
        self.kernel_size,
        2**i,
        self.dropout,
        self.weight_norm,
        self.impl,
        name=f"level{i}",
      )(h_BxLxH, train)
      maps[f"level{i}"] = h_BxLxH
    h_BxLxH = jnp.where(mask_BxL(lengths_B, h_BxLxH.shape[1])[:, :, None], h_BxLxH, 0.0)
    return h_BxLxH, readout_over_time(h_BxLxH, lengths_B, self.readout), {"feature_maps": maps}


class LinearRNNEncoder(nn.Module):
  """A Dense projection to `hidden`, then `attention.PreNormStack` whose time mixer is a
  linear recurrence (linear_scan.MinGRU or linear_scan.LRU with N = hidden states),
  computed by the associative scan or its sequential twin (`impl`)."""

  cell: str = "mingru"
  hidden: int = 64
  num_layers: int = 2
  mlp_dim: int = 128
  dropout: float = 0.1
  readout: str = "last"
  impl: str = "associative"

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    layer = {"mingru": linear_scan.MinGRU, "lru": linear_scan.LRU}[self.cell]
    mixer = lambda name: layer(self.hidden, self.impl, name=name)
    x_BxLxH = nn.Dense(self.hidden, name="in_proj")(x_BxLxE)
    h_BxLxH, aux = attention.PreNormStack(
      mixer, self.num_layers, self.mlp_dim, self.dropout, name="blocks"
    )(x_BxLxH, lengths_B, train)
    h_BxLxH = jnp.where(mask_BxL(lengths_B, h_BxLxH.shape[1])[:, :, None], h_BxLxH, 0.0)
    return h_BxLxH, readout_over_time(h_BxLxH, lengths_B, self.readout), aux


class TransformerEncoder(nn.Module):
  """attention.Transformer with a sequence readout: mean over the valid steps (readout
  'last' or 'mean'; an encoder has no privileged last step) or 'max'."""

  transformer: attention.Transformer
  readout: str = "last"

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    h_BxLxD, aux = self.transformer(x_BxLxE, lengths_B, train)
    how = "max" if self.readout == "max" else "mean"
    return h_BxLxD, pool_over_time(h_BxLxD, lengths_B, how), aux


# ---------------------------------------------------------------------------------------------
# Position-specific baselines (Greydanus 2020, MNIST-1D): logistic regression and an MLP over
# the whole input, positions x features flattened. No weight sharing over time at all.


class FlatMLP(nn.Module):
  """`layers` Dense ReLU layers of width `hidden` over the flattened `seq_len` x E input.

  Each position has its own weights, so the input is laid out over exactly `seq_len`
  positions (the task's longest): shorter batches (length buckets) are zero-padded to it,
  and positions past each row's length are zero, so padding never changes the output.
  layers=0 leaves the head alone on the flattened input: logistic regression. There is
  no per-step output (seq is None): validate() keeps these models to classify and regress.
  """

  seq_len: int
  hidden: int = 100
  layers: int = 2

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    B, L, E = x_BxLxE.shape
    x_BxTxE = jnp.pad(x_BxLxE, ((0, 0), (0, max(self.seq_len - L, 0)), (0, 0)))
    x_BxTxE = x_BxTxE[:, : self.seq_len]  # positions >= seq_len are padding in every row
    x_BxTxE = jnp.where(mask_BxL(lengths_B, self.seq_len)[:, :, None], x_BxTxE, 0.0)
    h_BxD = x_BxTxE.reshape(B, self.seq_len * E)
    for i in range(self.layers):
      h_BxD = nn.relu(nn.Dense(self.hidden, name=f"hidden{i}")(h_BxD))
    return None, h_BxD, {}


# ---------------------------------------------------------------------------------------------
# Forecasting: the linear map of Zeng et al. 2023 ("Are Transformers Effective for Time Series
# Forecasting?"): NLinear's single map (its last-value offset is the task's window_norm=last)
# and DLinear's moving-average split into trend and remainder, one map each.


def moving_average(x_LxC: jax.Array, kernel: int) -> jax.Array:
  """Centred moving average over time with the ends repeated (DLinear's trend), y_LxC."""
  front, back = (kernel - 1) // 2, kernel // 2
  padded_PxC = jnp.concatenate(
    [jnp.repeat(x_LxC[:1], front, 0), x_LxC, jnp.repeat(x_LxC[-1:], back, 0)], 0
  )
  sums_P1xC = jnp.concatenate([jnp.zeros_like(padded_PxC[:1]), jnp.cumsum(padded_PxC, 0)], 0)
  return (sums_P1xC[kernel:] - sums_P1xC[:-kernel]) / kernel


class LinearForecaster(nn.Module):
  """One linear map from the L inputs to the H steps ahead, shared by every target channel
  (channel-independent): y_HxO = W_HxL x_LxO + b_H. With decomposition = K > 0, DLinear:
  a K-step moving average splits each window into trend and remainder, each with its own
  map. The first O = out_channels input channels are the targets (tasks/forecast.py).

  It computes the forecast itself (`makes_outputs`: SequenceModel adds no head), laid out
  step-major like the targets: B x (H * O).
  """

  horizon: int
  out_channels: int = 1
  decomposition: int = 0
  makes_outputs = True  # a class constant, not a module field

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    x_BxLxO = x_BxLxE[:, :, : self.out_channels]
    x_BxOxL = jnp.swapaxes(x_BxLxO, 1, 2)
    if self.decomposition:
      smooth = functools.partial(moving_average, kernel=self.decomposition)
      trend_BxOxL = jnp.swapaxes(jax.vmap(smooth)(x_BxLxO), 1, 2)
      y_BxOxH = nn.Dense(self.horizon, name="trend")(trend_BxOxL) + nn.Dense(
        self.horizon, name="remainder"
      )(x_BxOxL - trend_BxOxL)
    else:
      y_BxOxH = nn.Dense(self.horizon, name="linear")(x_BxOxL)
    y_BxHO = jnp.swapaxes(y_BxOxH, 1, 2).reshape(x_BxLxE.shape[0], -1)
    return None, y_BxHO, {}


def rollout(
  step: recurrent.StepFn,
  params: recurrent.Params,
  carry: Any,
  w_HxO: jax.Array,
  b_O: jax.Array,
  horizon: int,
) -> jax.Array:
  """Iterated forecasting for ONE sequence: from the carry after the window, forecast
  y = h W + b, feed the forecast back as the next input, and repeat: y_KxO, K = horizon.
  SEQUENTIAL twice over: each step needs the carry and the forecast of the step before."""

  def h_of(carry):
    return carry[1] if isinstance(carry, tuple) else carry  # an LSTM carries (c, h)

  def ahead(state, _):
    carry, y_O = state
    carry, _ = step(params, carry, y_O)
    y_O = h_of(carry) @ w_HxO + b_O
    return (carry, y_O), y_O

  first_O = h_of(carry) @ w_HxO + b_O
  _, rest_KxO = jax.lax.scan(ahead, (carry, first_O), None, length=horizon - 1)
  return jnp.concatenate([first_O[None], rest_KxO], 0)


class IteratedRecurrent(nn.Module):
  """Seq2seq-style iterated forecasting with one Elman / LSTM / GRU cell: it reads the
  window, then keeps stepping on its own forecasts for `horizon` steps (`rollout`); the
  loss flows through the whole rollout. Inputs and forecasts are the same channels (all
  target channels in, nothing else), laid out step-major like the targets: B x (H * O).
  """

  cell: str = "lstm"
  hidden: int = 64
  horizon: int = 1
  impl: str = "fused"
  makes_outputs = True  # a class constant, not a module field

  @nn.compact
  def __call__(self, x_BxLxE: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    B, _, O = x_BxLxE.shape
    step, _ = recurrent.CELLS[self.cell]
    params = self.param("cell", recurrent.init_cell_params, self.cell, O, self.hidden)
    w_HxO = self.param("head_kernel", nn.initializers.lecun_normal(), (self.hidden, O))
    b_O = self.param("head_bias", nn.initializers.zeros, (O,))
    carry0 = recurrent.initial_carry(self.cell, self.hidden, x_BxLxE.dtype)
    if self.impl == "fused":
      carry0_B = jax.tree.map(lambda s_H: jnp.broadcast_to(s_H, (B,) + s_H.shape), carry0)
      carry_B = fused_scan(self.cell, params, carry0_B, x_BxLxE, lengths_B)[0]
    else:
      read = lambda x_LxC, n: recurrent.scan_sequence(step, params, carry0, x_LxC, n)[0]
      carry_B = jax.vmap(read)(x_BxLxE, lengths_B)
    forecast = lambda carry: rollout(step, params, carry, w_HxO, b_O, self.horizon)
    y_BxKxO = jax.vmap(forecast)(carry_B)
    return None, y_BxKxO.reshape(B, -1), {}
