"""Models: an embedding, an encoder (encoders.py) and a head, and the registry that names them.

Shape key: B batch, L length, E embedding, D feature width, O outputs (classes, or 1 for
regression).

`SequenceModel` embeds the inputs (tokens, masked past each length), runs an encoder

  encoder(x_BxLxE, lengths_B, train) -> (seq_BxLxD, pooled_BxD, aux)

and puts a dense head on `seq` (per_step, lm tasks) or `pooled` (classify, regress).

Registered encoders (`MODELS`): cnn (Kim 2014 TextCNN), rnn / lstm / gru (uni- or
bidirectional), cnn_lstm (conv features into an LSTM), bag (order-blind baseline); the
families beyond these (tcn, mingru, lru, transformer; the encoder-decoders of seq2seq.py,
`SEQ2SEQ`, which replace SequenceModel; logreg and mlp; linear; cnn3d and the frame encoders;
crnn) register themselves in model_zoo.py, which this module imports. `register` adds one;
`validate` checks a config against a task before anything compiles (the model's own
validator and every family's `CHECKS`); `parameter_counts` sizes a model from shapes alone.

Mixed precision (`dtype`, DTYPES; precision.py): parameters are created and kept in float32
(so are the optimizer state and the loss); `SequenceModel.apply` casts the floating parameters
and inputs to the compute dtype, so every encoder, core and head computes in it, and the
outputs come back in float32 for the loss. The cast is differentiated like any op: gradients
reach the float32 parameters in float32. The encoder-decoders do the same (seq2seq.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from cnnrnn_jax import conv, frames, plugins, recurrent
from cnnrnn_jax.encoders import (  # noqa: F401
  CNNLSTM,
  READOUTS,
  TCN,
  Bag,
  FlatMLP,
  IteratedRecurrent,
  LinearForecaster,
  LinearRNNEncoder,
  RecurrentEncoder,
  TemporalBlock,
  TextCNN,
  TransformerEncoder,
  last_valid_step,
  pool_over_time,
  readout_over_time,  # noqa: F401  (the four: moved, re-exported)
  tcn_dilations,
  tcn_receptive_field,
)
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.precision import DTYPES, FLOAT32_PARAMS, MixedPrecision, cast_floating  # noqa: F401
from cnnrnn_jax.tasks.base import TaskSpec


class SequenceModel(MixedPrecision, nn.Module):
  """Inputs -> (masked embedding) -> encoder -> dropout -> dense head.

  Returns (outputs, aux): outputs are B x O logits (classify), B (regress with one
  output) or B x O (a forecast horizon), or B x L x O (per_step, lm).
  """

  spec: TaskSpec
  encoder: nn.Module
  embed_dim: int = 64
  dropout: float = 0.1
  dtype: str = "float32"  # compute dtype (DTYPES); parameters stay float32

  @nn.compact
  def __call__(
    self, inputs: jax.Array, lengths_B: jax.Array, train: bool = False
  ) -> tuple[jax.Array, dict[str, Any]]:
    L = inputs.shape[1]
    if self.spec.vocab_size is not None:
      x_BxLxE = nn.Embed(self.spec.vocab_size, self.embed_dim, name="embed")(inputs)
    else:
      # init runs with the float32 parameters it creates: in float32 (the same shapes)
      x_BxLxE = inputs.astype(jnp.float32 if self.is_initializing() else self.dtype)
    x_BxLxE = jnp.where(mask_BxL(lengths_B, L)[:, :, None], x_BxLxE, 0.0)
    seq, pooled, aux = self.encoder(x_BxLxE, lengths_B, train)
    if getattr(self.encoder, "makes_outputs", False):  # linear: the forecast itself
      return pooled.astype(jnp.float32), aux
    features = seq if self.spec.per_step else pooled
    features = nn.Dropout(self.dropout, deterministic=not train)(features)
    outputs = nn.Dense(self.spec.num_outputs, name="head")(features)
    if self.spec.kind == "regress" and self.spec.num_outputs == 1:
      outputs = outputs[..., 0]
    return outputs.astype(jnp.float32), aux


def _seq_padding(spec: TaskSpec, default: str) -> str:
  """Per-step heads need one output per step; language models must be causal."""
  if spec.kind == "lm":
    return "causal"
  return "same" if spec.per_step else default


def _cnn(arch, spec):
  if spec.horizon:  # forecasting: causal features, a readout that keeps time
    return TextCNN(
      tuple(arch.kernel_sizes), arch.num_filters, "causal", arch.conv_impl, arch.forecast_readout
    )
  return TextCNN(
    tuple(arch.kernel_sizes), arch.num_filters, _seq_padding(spec, "valid"), arch.conv_impl
  )


def _recurrent(cell):
  def factory(arch, spec):
    if spec.horizon and arch.get("forecast_mode") == "iterated":
      return IteratedRecurrent(cell, arch.hidden, spec.horizon, arch.rnn_impl)
    return RecurrentEncoder(cell, arch.hidden, arch.bidirectional, arch.readout, arch.rnn_impl)

  return factory


def _cnn_lstm(arch, spec):
  return CNNLSTM(
    arch.hybrid_kernel_size,
    arch.num_filters,
    arch.hidden,
    _seq_padding(spec, "same"),
    arch.readout,
    arch.conv_impl,
    arch.rnn_impl,
  )


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
SEQ2SEQ: set[str] = set()  # encoder-decoders: the factory builds the whole model
Validator = Callable[[Any, TaskSpec], None]
VALIDATORS: dict[str, Validator] = {}
# Checks run on every (model, task) pair, e.g. that a forecasting-only model meets a
# forecasting task: `check(name, arch, spec)` raising a one-line ConfigError (model_zoo.py).
CHECKS: list[Callable[[str, Any, TaskSpec], None]] = []


def register(
  name: str,
  factory: EncoderFactory,
  *,
  causal: bool,
  defaults: dict[str, Any] | None = None,
  validate: Validator | None = None,
  seq2seq: bool = False,
) -> None:
  """Adds a model: `factory(arch_config, task_spec) -> encoder module`.

  seq2seq: True for an encoder-decoder of seq2seq tasks: the factory returns the whole model
    (the interface in seq2seq.py), not an encoder for SequenceModel; for config.dtype other
    than float32 it is a precision.MixedPrecision with a `dtype` field.

  causal: True when output t can be made to depend on inputs up to t only (for an `lm` task
    the factory sees `spec.kind == 'lm'`); False keeps the model off language modelling.
  defaults: the model's own settings, added to `config.arch` of every config
    (`--config.arch.<field>=...`); their names must be new.
  validate: `validate(arch_config, task_spec)` raising a one-line ConfigError, run before
    anything compiles, after the shared checks.
  """
  if name in MODELS:
    raise ValueError(f"model {name!r} is registered twice")
  plugins.add_settings("arch", name, defaults)
  MODELS[name] = factory
  if causal:
    CAUSAL_CAPABLE.add(name)
  if seq2seq:
    SEQ2SEQ.add(name)
  if validate is not None:
    VALIDATORS[name] = validate


def validate(name: str, arch: ml_collections.ConfigDict, spec: TaskSpec) -> None:
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
  if (spec.kind == "seq2seq") != (name in SEQ2SEQ):
    if name in SEQ2SEQ:
      raise ConfigError(
        f"model {name!r} is an encoder-decoder for sequence-to-sequence tasks; use it on one "
        "(cmudict, parallel_tsv, reverse, sort, addition)"
      )
    raise ConfigError(
      f"task kind seq2seq needs an encoder-decoder, not {name!r}; use one of "
      f"{', '.join(sorted(SEQ2SEQ))}"
    )
  widths = {"cnn": list(arch.kernel_sizes), "cnn_lstm": [arch.hybrid_kernel_size]}.get(name, [])
  if any(k <= 0 for k in widths):
    raise ConfigError(f"config.arch.kernel_sizes={tuple(arch.kernel_sizes)} must be positive")
  if widths and max(widths) > spec.seq_len:
    raise ConfigError(
      f"filter width {max(widths)} is wider than the sequence length "
      f"{spec.seq_len}; use narrower config.arch.kernel_sizes or longer sequences"
    )
  for check in CHECKS:
    check(name, arch, spec)
  if name in VALIDATORS:
    VALIDATORS[name](arch, spec)
  if spec.kind == "lm":
    if name not in CAUSAL_CAPABLE:
      raise ConfigError(f"model {name!r} is not causal and cannot do language modelling")
    if arch.bidirectional:
      raise ConfigError(
        "a bidirectional model sees the future and cannot do language "
        "modelling; set config.arch.bidirectional=False"
      )


def build_model(
  name: str, arch: ml_collections.ConfigDict, spec: TaskSpec, dtype: str = "float32"
) -> nn.Module:
  """The registered encoder `name` inside a SequenceModel for `spec` (validated first),
  computing in `dtype`; after the frame encoder `arch.frame_encoder` when it is not 'none'.
  An encoder-decoder (`SEQ2SEQ`) is the model itself, given `dtype`."""
  if name in MODELS:
    arch = plugins.with_settings(arch, "arch", name)
  validate(name, arch, spec)
  if name in SEQ2SEQ:
    model = MODELS[name](arch, spec)
    if dtype == "float32":
      return model
    if not isinstance(model, MixedPrecision):
      raise ConfigError(
        f"config.dtype={dtype!r}: the encoder-decoder {name} is no precision.MixedPrecision "
        "with a dtype field; give it both, or drop --config.dtype"
      )
    return model.clone(dtype=dtype)
  encoder = MODELS[name](arch, spec)
  frame_encoder = arch.get("frame_encoder", "none")
  if frame_encoder != "none":
    encoder = frames.FramesThen(
      FRAME_ENCODERS[frame_encoder](arch, spec), encoder, tuple(spec.frame_shape)
    )
  return SequenceModel(spec, encoder, arch.embed_dim, arch.dropout, dtype)


def count_params(params: Any) -> int:
  """Number of parameters in a tree of arrays, or of their shapes (jax.ShapeDtypeStruct)."""
  return sum(math.prod(p.shape) for p in jax.tree.leaves(params))


def abstract_params(model: SequenceModel) -> Any:
  """The parameter tree of `model` as shapes and dtypes, from its task spec (nothing computed)."""
  spec = model.spec
  inputs = (
    jnp.zeros((1, spec.seq_len), jnp.int32)
    if spec.vocab_size
    else jnp.zeros((1, spec.seq_len, spec.input_dim), jnp.float32)
  )
  lengths_B = jnp.ones((1,), jnp.int32)
  return jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs, lengths_B)["params"]


def parameter_counts(model: SequenceModel) -> tuple[int, int]:
  """(all parameters, encoder parameters = all but embedding and head), from shapes only."""
  sizes = {name: count_params(tree) for name, tree in abstract_params(model).items()}
  total = sum(sizes.values())
  return total, total - sizes.get("embed", 0) - sizes.get("head", 0)


# The model families beyond the Foundation's register themselves here (model_zoo.py); their
# names stay importable from this module.
from cnnrnn_jax.model_zoo import (  # noqa: E402,F401
  BEYOND,
  CRNN_DEFAULTS,
  FLAT,
  FORECAST_MODES,
  FORECAST_ONLY,
  FORECAST_READOUTS,
  FRAME_ENCODERS,
)
