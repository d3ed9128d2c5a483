"""Models: thin Flax Linen assemblies over the cores in conv.py and recurrent.py.

Shape key: B batch, L length, E embedding, F filters, H hidden, D feature width,
O outputs (classes, or 1 for regression).

Every model is an *encoder* wrapped by `SequenceModel`, which embeds the inputs
(tokens, masked past each length) and puts a head on top:

  encoder(x_BxLxE, lengths_B, train) -> (seq_BxLxD, pooled_BxD, aux)

`seq` feeds per-step heads (per_step, lm tasks), `pooled` feeds sequence heads
(classify, regress). `aux` holds what probes and pictures need: conv feature maps
and the positions max-pooling picked, per-step hidden states, gate values.

Registered encoders (`MODELS`): cnn (Kim 2014 TextCNN), rnn / lstm / gru (uni- or
bidirectional), cnn_lstm (conv features into an LSTM), bag (order-blind baseline);
beyond the folklore: tcn (Bai et al. 2018 dilated causal CNN), mingru / lru (linear
recurrences run as a parallel scan), transformer (pre-norm self-attention); the
position-specific baselines of Greydanus 2020 (MNIST-1D): logreg and mlp over the
whole flattened input.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import attention, conv, linear_scan, recurrent
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import TaskSpec

READOUTS = ("last", "mean", "max")


def mask_BxL(lengths_B, length: int):
  return jnp.arange(length)[None, :] < lengths_B[:, None]


def pool_over_time(h_BxLxD, lengths_B, how: str):
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
  """

  kernel_sizes: Sequence[int] = (3, 4, 5)
  num_filters: int = 100
  padding: str = "valid"
  impl: str = "xla"

  @nn.compact
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    maps, picks, pooled, seq = {}, {}, [], []
    for k in self.kernel_sizes:
      y_BxLxF = nn.relu(conv.Conv1D(self.num_filters, k, self.padding, impl=self.impl,
                                    name=f"conv{k}")(x_BxLxE))
      num_windows_B = jnp.maximum(lengths_B - (k - 1 if self.padding == "valid" else 0), 1)
      max_BxF, argmax_BxF = jax.vmap(conv.masked_max_over_time)(y_BxLxF, num_windows_B)
      maps[f"k{k}"], picks[f"k{k}"] = y_BxLxF, argmax_BxF
      pooled.append(max_BxF)
      seq.append(y_BxLxF)
    aux = {"feature_maps": maps, "pool_argmax": picks}
    seq_BxLxD = jnp.concatenate(seq, -1) if self.padding != "valid" else None
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
  impl: str = "fused"          # recurrent.IMPLS: fused (fast) | scan (didactic); same numbers

  @nn.compact
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    if self.bidirectional:
      layer = recurrent.Bidirectional(self.cell, self.hidden, impl=self.impl, name="birnn")
    else:
      layer = recurrent.RNN(self.cell, self.hidden, impl=self.impl, name="rnn")
    h_BxLxH, last_BxH, gates = layer(x_BxLxE, lengths_B)
    pooled = last_BxH if self.readout == "last" else pool_over_time(h_BxLxH, lengths_B,
                                                                    self.readout)
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
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    y_BxLxF = nn.relu(conv.Conv1D(self.num_filters, self.kernel_size, self.padding,
                                  impl=self.impl, name="conv")(x_BxLxE))
    seq, pooled, aux = RecurrentEncoder("lstm", self.hidden, readout=self.readout,
                                        impl=self.rnn_impl, name="lstm")(y_BxLxF, lengths_B)
    return seq, pooled, {"feature_maps": {f"k{self.kernel_size}": y_BxLxF}, **aux}


class Bag(nn.Module):
  """Order-blind baseline: mean of the (embedded) inputs, then a ReLU layer.

  Any permutation of a sequence's valid steps gives the same output. Per-step
  heads get the ReLU layer applied to each step alone (no context at all).
  """

  hidden: int = 128

  @nn.compact
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    dense = nn.Dense(self.hidden, name="hidden")
    pooled_BxH = nn.relu(dense(pool_over_time(x_BxLxE, lengths_B, "mean")))
    seq_BxLxH = nn.relu(dense(x_BxLxE))
    return seq_BxLxH, pooled_BxH, {}


class SequenceModel(nn.Module):
  """Inputs -> (masked embedding) -> encoder -> dropout -> dense head.

  Returns (outputs, aux): outputs are B x O logits (classify), B (regress) or
  B x L x O (per_step, lm).
  """

  spec: TaskSpec
  encoder: nn.Module
  embed_dim: int = 64
  dropout: float = 0.1

  @nn.compact
  def __call__(self, inputs, lengths_B, train: bool = False):
    L = inputs.shape[1]
    if self.spec.vocab_size is not None:
      x_BxLxE = nn.Embed(self.spec.vocab_size, self.embed_dim, name="embed")(inputs)
    else:
      x_BxLxE = inputs.astype(jnp.float32)
    x_BxLxE = jnp.where(mask_BxL(lengths_B, L)[:, :, None], x_BxLxE, 0.0)
    seq, pooled, aux = self.encoder(x_BxLxE, lengths_B, train)
    features = seq if self.spec.per_step else pooled
    features = nn.Dropout(self.dropout, deterministic=not train)(features)
    outputs = nn.Dense(self.spec.num_outputs, name="head")(features)
    if self.spec.kind == "regress":
      outputs = outputs[..., 0]
    return outputs, aux


def _seq_padding(spec: TaskSpec, default: str) -> str:
  """Per-step heads need one output per step; language models must be causal."""
  if spec.kind == "lm":
    return "causal"
  return "same" if spec.per_step else default


def _cnn(arch, spec):
  return TextCNN(tuple(arch.kernel_sizes), arch.num_filters, _seq_padding(spec, "valid"),
                 arch.conv_impl)


def _recurrent(cell):
  return lambda arch, spec: RecurrentEncoder(cell, arch.hidden, arch.bidirectional,
                                             arch.readout, arch.rnn_impl)


def _cnn_lstm(arch, spec):
  return CNNLSTM(arch.hybrid_kernel_size, arch.num_filters, arch.hidden,
                 _seq_padding(spec, "same"), arch.readout, arch.conv_impl, arch.rnn_impl)


def _bag(arch, spec):
  return Bag(arch.hidden)


EncoderFactory = Callable[[Any, TaskSpec], nn.Module]
MODELS: dict[str, EncoderFactory] = {
    "cnn": _cnn,
    "rnn": _recurrent("rnn"),
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
    "cnn_lstm": _cnn_lstm,
    "bag": _bag,
}
CAUSAL_CAPABLE = {"cnn", "rnn", "lstm", "gru", "cnn_lstm", "bag"}


def register(name: str, factory: EncoderFactory, causal_capable: bool = True):
  """Adds a model: `factory(arch_config, task_spec) -> encoder module`."""
  if name in MODELS:
    raise ValueError(f"model {name!r} is registered twice")
  MODELS[name] = factory
  if causal_capable:
    CAUSAL_CAPABLE.add(name)


def validate(name: str, arch, spec: TaskSpec) -> None:
  """Raises ConfigError (one line, with the fix) for a model/config/task mismatch."""
  if name not in MODELS:
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
  for key in ("embed_dim", "hidden", "num_filters", "hybrid_kernel_size"):
    if arch[key] <= 0:
      raise ConfigError(f"config.arch.{key}={arch[key]} must be positive")
  if not 0.0 <= arch.dropout < 1.0:
    raise ConfigError(f"config.arch.dropout={arch.dropout} must be in [0, 1)")
  if arch.readout not in READOUTS:
    raise ConfigError(f"config.arch.readout={arch.readout!r} is not one of {READOUTS}")
  if arch.conv_impl not in conv.IMPLS:
    raise ConfigError(f"config.arch.conv_impl={arch.conv_impl!r} is not one of {conv.IMPLS}")
  if arch.rnn_impl not in recurrent.IMPLS:
    raise ConfigError(f"config.arch.rnn_impl={arch.rnn_impl!r} is not one of {recurrent.IMPLS}")
  widths = {"cnn": list(arch.kernel_sizes), "cnn_lstm": [arch.hybrid_kernel_size]}.get(name, [])
  if any(k <= 0 for k in widths):
    raise ConfigError(f"config.arch.kernel_sizes={tuple(arch.kernel_sizes)} must be positive")
  if widths and max(widths) > spec.seq_len:
    raise ConfigError(f"filter width {max(widths)} is wider than the sequence length "
                      f"{spec.seq_len}; use narrower config.arch.kernel_sizes or longer sequences")
  _validate_beyond(name, arch, spec)
  _validate_flat(name, arch, spec)
  if spec.kind == "lm":
    if name not in CAUSAL_CAPABLE:
      raise ConfigError(f"model {name!r} is not causal and cannot do language modelling")
    if arch.bidirectional:
      raise ConfigError("a bidirectional model sees the future and cannot do language "
                        "modelling; set config.arch.bidirectional=False")


def build_model(name: str, arch, spec: TaskSpec) -> SequenceModel:
  validate(name, arch, spec)
  return SequenceModel(spec, MODELS[name](arch, spec), arch.embed_dim, arch.dropout)


# ---------------------------------------------------------------------------------------------
# Beyond the folklore: a CNN with long memory (tcn), recurrences computed in parallel
# (mingru, lru) and attention (transformer). All are usable on every task kind; tcn,
# mingru and lru are causal everywhere, the transformer becomes a causal decoder for lm.

BEYOND = ("tcn", "mingru", "lru", "transformer")


def last_valid_step(h_BxLxD, lengths_B):
  """h at each row's last valid step: a causal model's summary of the whole sequence."""
  index_Bx1x1 = jnp.maximum(lengths_B - 1, 0)[:, None, None]
  return jnp.take_along_axis(h_BxLxD, index_Bx1x1, axis=1)[:, 0]


def readout_over_time(h_BxLxD, lengths_B, how: str):
  """'last' valid step, or 'mean' / 'max' over the valid steps."""
  if how == "last":
    return last_valid_step(h_BxLxD, lengths_B)
  return pool_over_time(h_BxLxD, lengths_B, how)


def tcn_dilations(levels: int) -> list[int]:
  """Dilation of each convolution of a TCN: 2^i for both convolutions of level i."""
  return [2 ** i for i in range(levels) for _ in range(2)]


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
  def __call__(self, x_BxLxC, train: bool = False):
    drop = nn.Dropout(self.dropout, deterministic=not train)
    y_BxLxF = x_BxLxC
    for i in (1, 2):
      if self.weight_norm:
        layer = nn.WeightNorm(conv.Conv1D(self.features, self.kernel_size, "causal",
                                          self.dilation, self.impl), name=f"conv{i}")
      else:
        layer = conv.Conv1D(self.features, self.kernel_size, "causal", self.dilation,
                            self.impl, name=f"conv{i}")
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
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    h_BxLxH, maps = x_BxLxE, {}
    for i in range(self.levels):
      h_BxLxH = TemporalBlock(self.hidden, self.kernel_size, 2 ** i, self.dropout,
                              self.weight_norm, self.impl, name=f"level{i}")(h_BxLxH, train)
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
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    layer = {"mingru": linear_scan.MinGRU, "lru": linear_scan.LRU}[self.cell]
    mixer = lambda name: layer(self.hidden, self.impl, name=name)
    x_BxLxH = nn.Dense(self.hidden, name="in_proj")(x_BxLxE)
    h_BxLxH, aux = attention.PreNormStack(mixer, self.num_layers, self.mlp_dim, self.dropout,
                                          name="blocks")(x_BxLxH, lengths_B, train)
    h_BxLxH = jnp.where(mask_BxL(lengths_B, h_BxLxH.shape[1])[:, :, None], h_BxLxH, 0.0)
    return h_BxLxH, readout_over_time(h_BxLxH, lengths_B, self.readout), aux


class TransformerEncoder(nn.Module):
  """attention.Transformer with a sequence readout: mean over the valid steps (readout
  'last' or 'mean'; an encoder has no privileged last step) or 'max'."""

  transformer: attention.Transformer
  readout: str = "last"

  @nn.compact
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    h_BxLxD, aux = self.transformer(x_BxLxE, lengths_B, train)
    how = "max" if self.readout == "max" else "mean"
    return h_BxLxD, pool_over_time(h_BxLxD, lengths_B, how), aux


def parameter_counts(model: SequenceModel) -> tuple[int, int]:
  """(all parameters, encoder parameters = all but embedding and head), from shapes only."""
  spec = model.spec
  inputs = (jnp.zeros((1, spec.seq_len), jnp.int32) if spec.vocab_size else
            jnp.zeros((1, spec.seq_len, spec.input_dim), jnp.float32))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs,
                          jnp.ones((1,), jnp.int32))["params"]
  sizes = {name: sum(math.prod(p.shape) for p in jax.tree.leaves(tree))
           for name, tree in params.items()}
  total = sum(sizes.values())
  return total, total - sizes.get("embed", 0) - sizes.get("head", 0)


def _tcn(arch, spec):
  field = tcn_receptive_field(arch.tcn_kernel_size, arch.tcn_levels)
  logging.info("tcn: %d levels x 2 causal convolutions of width %d, dilations %s: "
               "receptive field %d steps (task sequence length %d)", arch.tcn_levels,
               arch.tcn_kernel_size, tcn_dilations(arch.tcn_levels)[::2], field, spec.seq_len)
  if field < spec.seq_len:
    logging.warning("tcn: receptive field %d < sequence length %d: the last output cannot "
                    "see the first inputs; raise config.arch.tcn_levels or tcn_kernel_size",
                    field, spec.seq_len)
  return TCN(arch.hidden, arch.tcn_levels, arch.tcn_kernel_size, arch.dropout,
             arch.tcn_weight_norm, arch.readout, arch.conv_impl)


def _linear_rnn(cell):
  return lambda arch, spec: LinearRNNEncoder(cell, arch.hidden, arch.num_layers,
                                             arch.mlp_ratio * arch.hidden, arch.dropout,
                                             arch.readout, arch.scan_impl)


def _transformer(arch, spec):
  body = attention.Transformer(arch.hidden, arch.num_layers, arch.num_heads,
                               arch.mlp_ratio * arch.hidden, arch.dropout,
                               causal=spec.kind == "lm", positions=arch.pos_encoding,
                               max_len=spec.seq_len)
  return TransformerEncoder(body, arch.readout)


register("tcn", _tcn)
register("mingru", _linear_rnn("mingru"))
register("lru", _linear_rnn("lru"))
register("transformer", _transformer)


def _validate_beyond(name: str, arch, spec: TaskSpec) -> None:
  """The knobs of tcn / mingru / lru / transformer (checked only when one is chosen)."""
  del spec
  if name not in BEYOND:
    return
  for key in ("num_layers", "num_heads", "mlp_ratio", "tcn_levels", "tcn_kernel_size"):
    if arch[key] <= 0:
      raise ConfigError(f"config.arch.{key}={arch[key]} must be positive")
  if arch.scan_impl not in linear_scan.IMPLS:
    raise ConfigError(f"config.arch.scan_impl={arch.scan_impl!r} is not one of "
                      f"{linear_scan.IMPLS}")
  if arch.pos_encoding not in attention.POSITIONS:
    raise ConfigError(f"config.arch.pos_encoding={arch.pos_encoding!r} is not one of "
                      f"{attention.POSITIONS}")
  if name == "transformer" and arch.hidden % arch.num_heads:
    raise ConfigError(f"config.arch.hidden={arch.hidden} is not divisible by "
                      f"config.arch.num_heads={arch.num_heads}; make hidden a multiple of it")


# ---------------------------------------------------------------------------------------------
# Position-specific baselines (Greydanus 2020, MNIST-1D): logistic regression and an MLP over
# the whole input, positions x features flattened. No weight sharing over time at all.

FLAT = ("logreg", "mlp")


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
  def __call__(self, x_BxLxE, lengths_B, train: bool = False):
    B, L, E = x_BxLxE.shape
    x_BxTxE = jnp.pad(x_BxLxE, ((0, 0), (0, max(self.seq_len - L, 0)), (0, 0)))
    x_BxTxE = x_BxTxE[:, :self.seq_len]    # positions >= seq_len are padding in every row
    x_BxTxE = jnp.where(mask_BxL(lengths_B, self.seq_len)[:, :, None], x_BxTxE, 0.0)
    h_BxD = x_BxTxE.reshape(B, self.seq_len * E)
    for i in range(self.layers):
      h_BxD = nn.relu(nn.Dense(self.hidden, name=f"hidden{i}")(h_BxD))
    return None, h_BxD, {}


register("logreg", lambda arch, spec: FlatMLP(spec.seq_len, layers=0), causal_capable=False)
register("mlp", lambda arch, spec: FlatMLP(spec.seq_len, arch.hidden, arch.mlp_layers),
         causal_capable=False)


def _validate_flat(name: str, arch, spec: TaskSpec) -> None:
  if name not in FLAT:
    return
  if spec.per_step:
    raise ConfigError(f"model {name!r} maps the whole sequence to one output and has no "
                      f"per-step output for a {spec.kind!r} task; use it on a classify or "
                      "regress task")
  if arch.mlp_layers < 0:
    raise ConfigError(f"config.arch.mlp_layers={arch.mlp_layers} must be >= 0 (0 is logistic "
                      "regression)")
