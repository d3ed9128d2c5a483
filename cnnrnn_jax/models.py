"""Models: an embedding, an encoder (encoders.py) and a head, and the registry that names them.

Shape key: B batch, L length, E embedding, D feature width, O outputs (classes, or 1 for
regression).

`SequenceModel` embeds the inputs (tokens, masked past each length), runs an encoder

  encoder(x_BxLxE, lengths_B, train) -> (seq_BxLxD, pooled_BxD, aux)

and puts a dense head on `seq` (per_step, lm tasks) or `pooled` (classify, regress).

Registered encoders (`MODELS`): cnn (Kim 2014 TextCNN), rnn / lstm / gru (uni- or
bidirectional), cnn_lstm (conv features into an LSTM), bag (order-blind baseline);
beyond the folklore: tcn (Bai et al. 2018 dilated causal CNN), mingru / lru (linear
recurrences run as a parallel scan), transformer (pre-norm self-attention); the
position-specific baselines of Greydanus 2020 (MNIST-1D): logreg and mlp over the
whole flattened input; for forecasting, linear (NLinear / DLinear, Zeng et al. 2023), which
makes the forecast without a head; video (clips of frames): cnn3d, and any of them after a frame
encoder (`arch.frame_encoder`, FRAME_ENCODERS: cnn2d, mlp); speech (frames x mel bands): crnn
(crnn.py: 2-D convolutions striding in time, then a bidirectional recurrence); for
sequence-to-sequence tasks the whole encoder-decoders of seq2seq.py (`SEQ2SEQ`:
seq2seq_lstm, seq2seq_gru, convs2s, transformer_s2s), which replace SequenceModel. `register`
adds one; `validate` checks a config against a task before anything compiles;
`parameter_counts` sizes a model from shapes alone.

Mixed precision (`dtype`, DTYPES): parameters are created and kept in float32 (so are the
optimizer state and the loss); `SequenceModel.apply` casts the floating parameters and inputs
to the compute dtype, so every encoder, core and head computes in it, and the outputs come
back in float32 for the loss. The cast is differentiated like any op: gradients reach the
float32 parameters in float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from cnnrnn_jax import attention, conv, crnn, frames, linear_scan, plugins, recurrent, seq2seq
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
from cnnrnn_jax.tasks.base import TaskSpec

DTYPES = ("float32", "bfloat16")  # compute dtypes (config.dtype); parameters stay float32


# Parameters kept in float32 under mixed precision: the LRU's (its eigenvalues sit within
# 1e-3 of the unit circle, where bfloat16's 2^-8 steps would move them; its state is
# complex64 anyway, there being no bfloat16 complex type).
FLOAT32_PARAMS = ("lru",)


def cast_floating(tree: Any, dtype: str) -> Any:
  """`tree` with its floating-point arrays cast to `dtype`; integers, complex and the
  subtrees named in FLOAT32_PARAMS untouched."""

  def cast(path, x):
    keep = any(getattr(k, "key", None) in FLOAT32_PARAMS for k in path)
    if not keep and jnp.issubdtype(jnp.result_type(x), jnp.floating):
      return jnp.asarray(x).astype(dtype)
    return x

  return jax.tree_util.tree_map_with_path(cast, tree)


class SequenceModel(nn.Module):
  """Inputs -> (masked embedding) -> encoder -> dropout -> dense head.

  Returns (outputs, aux): outputs are B x O logits (classify), B (regress with one
  output) or B x O (a forecast horizon), or B x L x O (per_step, lm).
  """

  spec: TaskSpec
  encoder: nn.Module
  embed_dim: int = 64
  dropout: float = 0.1
  dtype: str = "float32"  # compute dtype (DTYPES); parameters stay float32

  @nn.nowrap
  def apply(self, variables: Any, *args: Any, **kwargs: Any) -> Any:
    """Module.apply with the parameters cast to the compute dtype first (mixed precision)."""
    if self.dtype != "float32":
      variables = {**variables, "params": cast_floating(variables["params"], self.dtype)}
    return super().apply(variables, *args, **kwargs)

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
    (the interface in seq2seq.py), not an encoder for SequenceModel.

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
  _validate_beyond(name, arch, spec)
  _validate_flat(name, arch, spec)
  if name in VALIDATORS:
    VALIDATORS[name](arch, spec)
  _validate_forecast(name, arch, spec)
  _validate_video(name, arch, spec)
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
  An encoder-decoder (`SEQ2SEQ`) is the model itself, and computes in float32."""
  if name in MODELS:
    arch = plugins.with_settings(arch, "arch", name)
  validate(name, arch, spec)
  if name in SEQ2SEQ:
    if dtype != "float32":
      raise ConfigError(
        f"config.dtype={dtype!r}: the encoder-decoder {name} computes in float32 only; "
        "drop --config.dtype"
      )
    return MODELS[name](arch, spec)
  encoder = MODELS[name](arch, spec)
  frame_encoder = arch.get("frame_encoder", "none")
  if frame_encoder != "none":
    encoder = frames.FramesThen(
      FRAME_ENCODERS[frame_encoder](arch, spec), encoder, tuple(spec.frame_shape)
    )
  return SequenceModel(spec, encoder, arch.embed_dim, arch.dropout, dtype)


# ---------------------------------------------------------------------------------------------
# Beyond the folklore: tcn, mingru, lru, transformer (encoders.py has them)

BEYOND = ("tcn", "mingru", "lru", "transformer")


def _tcn(arch, spec):
  field = tcn_receptive_field(arch.tcn_kernel_size, arch.tcn_levels)
  logging.info(
    "tcn: %d levels x 2 causal convolutions of width %d, dilations %s: "
    "receptive field %d steps (task sequence length %d)",
    arch.tcn_levels,
    arch.tcn_kernel_size,
    tcn_dilations(arch.tcn_levels)[::2],
    field,
    spec.seq_len,
  )
  if field < spec.seq_len:
    logging.warning(
      "tcn: receptive field %d < sequence length %d: the last output cannot "
      "see the first inputs; raise config.arch.tcn_levels or tcn_kernel_size",
      field,
      spec.seq_len,
    )
  return TCN(
    arch.hidden,
    arch.tcn_levels,
    arch.tcn_kernel_size,
    arch.dropout,
    arch.tcn_weight_norm,
    arch.readout,
    arch.conv_impl,
  )


def _linear_rnn(cell):
  return lambda arch, spec: LinearRNNEncoder(
    cell,
    arch.hidden,
    arch.num_layers,
    arch.mlp_ratio * arch.hidden,
    arch.dropout,
    arch.readout,
    arch.scan_impl,
  )


def _transformer(arch, spec):
  body = attention.Transformer(
    arch.hidden,
    arch.num_layers,
    arch.num_heads,
    arch.mlp_ratio * arch.hidden,
    arch.dropout,
    causal=spec.kind == "lm",
    positions=arch.pos_encoding,
    max_len=spec.seq_len,
  )
  return TransformerEncoder(body, arch.readout)


register("tcn", _tcn, causal=True)
register("mingru", _linear_rnn("mingru"), causal=True)
register("lru", _linear_rnn("lru"), causal=True)
register("transformer", _transformer, causal=True)


def _validate_beyond(name: str, arch, spec: TaskSpec) -> None:
  """The knobs of tcn / mingru / lru / transformer (checked only when one is chosen)."""
  del spec
  if name not in BEYOND:
    return
  for key in ("num_layers", "num_heads", "mlp_ratio", "tcn_levels", "tcn_kernel_size"):
    if arch[key] <= 0:
      raise ConfigError(f"config.arch.{key}={arch[key]} must be positive")
  if arch.scan_impl not in linear_scan.IMPLS:
    raise ConfigError(f"config.arch.scan_impl={arch.scan_impl!r} is not one of {linear_scan.IMPLS}")
  if arch.pos_encoding not in attention.POSITIONS:
    raise ConfigError(
      f"config.arch.pos_encoding={arch.pos_encoding!r} is not one of {attention.POSITIONS}"
    )
  if name == "transformer" and arch.hidden % arch.num_heads:
    raise ConfigError(
      f"config.arch.hidden={arch.hidden} is not divisible by "
      f"config.arch.num_heads={arch.num_heads}; make hidden a multiple of it"
    )


# ---------------------------------------------------------------------------------------------
# Sequence to sequence (seq2seq.py): encoder-decoders with attention, teacher-forced

SEQ2SEQ_DEFAULTS = {"attention_score": "additive", "s2s_kernel_size": 3}


def _rnn_seq2seq(cell):
  return lambda arch, spec: seq2seq.RNNSeq2Seq(
    spec.vocab_size,
    spec.num_outputs,
    cell,
    arch.embed_dim,
    arch.hidden,
    arch.bidirectional,
    arch.attention_score,
    arch.dropout,
    arch.rnn_impl,
  )


def _convs2s(arch, spec):
  return seq2seq.ConvS2S(
    spec.vocab_size,
    spec.num_outputs,
    arch.embed_dim,
    arch.hidden,
    arch.num_layers,
    arch.s2s_kernel_size,
    arch.dropout,
    arch.conv_impl,
  )


def _transformer_s2s(arch, spec):
  return seq2seq.TransformerS2S(
    spec.vocab_size,
    spec.num_outputs,
    arch.embed_dim,
    arch.hidden,
    arch.num_layers,
    arch.num_heads,
    arch.mlp_ratio * arch.hidden,
    arch.dropout,
  )


def _validate_seq2seq(name: str) -> Validator:
  def check(arch, spec: TaskSpec) -> None:
    del spec
    if arch.attention_score not in seq2seq.SCORES:
      raise ConfigError(
        f"config.arch.attention_score={arch.attention_score!r} is not one of {seq2seq.SCORES}"
      )
    for key in ("num_layers", "num_heads", "mlp_ratio", "s2s_kernel_size"):
      if arch[key] <= 0:
        raise ConfigError(f"config.arch.{key}={arch[key]} must be positive")
    if name == "transformer_s2s" and arch.hidden % arch.num_heads:
      raise ConfigError(
        f"config.arch.hidden={arch.hidden} is not divisible by config.arch.num_heads="
        f"{arch.num_heads}; make hidden a multiple of it"
      )
    if name.startswith("seq2seq_") and arch.bidirectional and arch.hidden % 2:
      raise ConfigError(
        f"config.arch.hidden={arch.hidden} is odd: a bidirectional encoder has hidden/2 units "
        "each way; make it even"
      )

  return check


for _name, _factory in (
  ("seq2seq_lstm", _rnn_seq2seq("lstm")),
  ("seq2seq_gru", _rnn_seq2seq("gru")),
  ("convs2s", _convs2s),
  ("transformer_s2s", _transformer_s2s),
):
  register(
    _name,
    _factory,
    causal=False,
    defaults=SEQ2SEQ_DEFAULTS,
    validate=_validate_seq2seq(_name),
    seq2seq=True,
  )


# ---------------------------------------------------------------------------------------------
# Position-specific baselines (Greydanus 2020, MNIST-1D): logreg, mlp

FLAT = ("logreg", "mlp")


register("logreg", lambda arch, spec: FlatMLP(spec.seq_len, layers=0), causal=False)
register(
  "mlp", lambda arch, spec: FlatMLP(spec.seq_len, arch.hidden, arch.mlp_layers), causal=False
)


def _validate_flat(name: str, arch, spec: TaskSpec) -> None:
  if name not in FLAT:
    return
  if spec.per_step:
    raise ConfigError(
      f"model {name!r} maps the whole sequence to one output and has no "
      f"per-step output for a {spec.kind!r} task; use it on a classify or "
      "regress task"
    )
  if arch.mlp_layers < 0:
    raise ConfigError(
      f"config.arch.mlp_layers={arch.mlp_layers} must be >= 0 (0 is logistic regression)"
    )


# ---------------------------------------------------------------------------------------------
# Forecasting: linear (NLinear / DLinear shapes, Zeng et al. 2023)

FORECAST_READOUTS = ("flatten", "last")  # cnn on a forecasting task
FORECAST_MODES = ("direct", "iterated")  # rnn / lstm / gru: vector head | own forecasts fed back
FORECAST_ONLY = {"linear"}  # models that need a forecasting task (TaskSpec.horizon)


def _linear(arch, spec):
  return LinearForecaster(spec.horizon, spec.num_outputs // spec.horizon, arch.decomposition)


register("linear", _linear, causal=False)


def _validate_forecast(name: str, arch, spec: TaskSpec) -> None:
  if name == "linear" and not spec.horizon:
    raise ConfigError(
      "model 'linear' maps a window to the next `horizon` values; use it on a forecasting "
      "task (sines, mackey_glass, csv_series)"
    )
  if name == "linear" and arch.decomposition < 0:
    raise ConfigError(
      f"config.arch.decomposition={arch.decomposition} must be >= 0 (0 = NLinear's single "
      "map, 25 = DLinear's moving average)"
    )
  mode = arch.get("forecast_mode", "direct")  # configs saved before the knob existed
  if mode not in FORECAST_MODES:
    raise ConfigError(f"config.arch.forecast_mode={mode!r} is not one of {FORECAST_MODES}")
  if spec.horizon and mode == "iterated":
    if name not in ("rnn", "lstm", "gru"):
      raise ConfigError(
        f"forecast_mode='iterated' steps a recurrence on its own forecasts; model {name!r} "
        "is not one of rnn, lstm, gru: use forecast_mode=direct"
      )
    if spec.num_outputs != spec.horizon * spec.input_dim or arch.bidirectional:
      raise ConfigError(
        "forecast_mode='iterated' feeds the forecasts back as inputs: forecast every input "
        "channel (--config.data.targets=all or one column) with a unidirectional model"
      )
  if name == "cnn" and spec.horizon and arch.forecast_readout not in FORECAST_READOUTS:
    raise ConfigError(
      f"config.arch.forecast_readout={arch.forecast_readout!r} is not one of {FORECAST_READOUTS}"
    )


# ---------------------------------------------------------------------------------------------
# Video (frames.py): frame encoders that put any registered model over time, and the 3-D CNN

FRAME_ENCODERS: dict[str, EncoderFactory | None] = {
  "none": None,
  "cnn2d": lambda arch, spec: frames.FrameCNN(
    tuple(arch.frame_filters), arch.frame_dim, arch.frame_pool, arch.conv_impl
  ),
  "mlp": lambda arch, spec: frames.FrameMLP(arch.frame_dim, arch.frame_mlp_layers),
}

register(
  "cnn3d",
  lambda arch, spec: frames.CNN3D(
    tuple(spec.frame_shape), tuple(arch.frame_filters), arch.hidden, arch.conv_impl
  ),
  causal=False,
)


def _validate_video(name: str, arch, spec: TaskSpec) -> None:
  """The frame encoder and cnn3d knobs, and that they meet a task made of frames."""
  frame_encoder = arch.get("frame_encoder", "none")
  if frame_encoder not in FRAME_ENCODERS:
    raise ConfigError(
      f"config.arch.frame_encoder={frame_encoder!r} is not one of {tuple(FRAME_ENCODERS)}"
    )
  if frame_encoder == "none" and name != "cnn3d":
    return
  what = "model cnn3d" if name == "cnn3d" else f"config.arch.frame_encoder={frame_encoder!r}"
  if spec.frame_shape is None:
    raise ConfigError(
      f"{what} reads clips of frames but task spec has no frame_shape; use a video task "
      "(e.g. --config.task=moving_mnist) or --config.arch.frame_encoder=none"
    )
  if name == "cnn3d" and frame_encoder != "none":
    raise ConfigError(
      "model cnn3d convolves the whole clip itself; set --config.arch.frame_encoder=none"
    )
  if arch.frame_dim <= 0 or arch.frame_mlp_layers < 1:
    raise ConfigError(
      f"config.arch.frame_dim={arch.frame_dim} and frame_mlp_layers={arch.frame_mlp_layers} "
      "must be positive"
    )
  if frame_encoder == "mlp":
    return
  if arch.frame_pool not in frames.FRAME_POOLS:
    raise ConfigError(
      f"config.arch.frame_pool={arch.frame_pool!r} is not one of {frames.FRAME_POOLS}"
    )
  levels = len(arch.frame_filters)
  if levels < 1 or any(f <= 0 for f in arch.frame_filters):
    raise ConfigError(
      f"config.arch.frame_filters={tuple(arch.frame_filters)} must be 1 or more positive widths"
    )
  if any(n % 2**levels for n in spec.frame_shape):
    raise ConfigError(
      f"{levels} 2x2 poolings need frames whose sides divide by {2**levels}, not "
      f"{spec.frame_shape[0]}x{spec.frame_shape[1]}; use fewer config.arch.frame_filters "
      "or another frame size"
    )


# ---------------------------------------------------------------------------------------------
# Speech (crnn.py): conv levels over (time, mel bands) striding in time, then a recurrence

CRNN_DEFAULTS = {
  "crnn_filters": (16, 32),
  "crnn_conv_size": 3,
  "crnn_time_stride": 2,
  "crnn_freq_stride": 2,
  "crnn_cell": "gru",
}


def _crnn(arch, spec):
  return crnn.CRNN(
    tuple(arch.crnn_filters),
    arch.crnn_conv_size,
    arch.crnn_time_stride,
    arch.crnn_freq_stride,
    arch.crnn_cell,
    arch.hidden,
    arch.bidirectional,
    arch.readout,
    arch.conv_impl,
    arch.rnn_impl,
  )


def _validate_crnn(arch, spec: TaskSpec) -> None:
  if spec.input_dim is None:
    raise ConfigError(
      "model crnn convolves frames x features (e.g. mel bands) and has no token input; use "
      "it on a continuous task (spoken_digit, audio_files, digit_strings)"
    )
  filters = tuple(arch.crnn_filters)
  knobs = (arch.crnn_conv_size, arch.crnn_time_stride, arch.crnn_freq_stride)
  if not filters or min(filters + knobs) <= 0:
    raise ConfigError(
      f"config.arch.crnn_filters={filters}, crnn_conv_size, crnn_time_stride and "
      "crnn_freq_stride must be positive (and crnn_filters not empty)"
    )
  if arch.crnn_cell not in recurrent.CELLS:
    raise ConfigError(
      f"config.arch.crnn_cell={arch.crnn_cell!r} is not one of {sorted(recurrent.CELLS)}"
    )
  stride = arch.crnn_time_stride ** len(filters)
  if spec.seq_len % stride:
    raise ConfigError(
      f"crnn strides time by {stride} but the task's {spec.seq_len} frames do not divide by "
      "it; use fewer config.arch.crnn_filters or a smaller crnn_time_stride"
    )


register("crnn", _crnn, causal=False, defaults=CRNN_DEFAULTS, validate=_validate_crnn)


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
