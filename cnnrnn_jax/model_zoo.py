"""The model families beyond the Foundation's, each registered with `models.register`.

  beyond the folklore   tcn, mingru, lru, transformer (encoders.py)
  sequence to sequence  seq2seq_lstm, seq2seq_gru, convs2s, transformer_s2s (seq2seq.py)
  flat baselines        logreg, mlp (Greydanus 2020, MNIST-1D)
  forecasting           linear (NLinear / DLinear, Zeng et al. 2023)
  video                 cnn3d, and the frame encoders that put any model over time (frames.py)
  speech                crnn (crnn.py)

Their checks of a model against a task join `models.CHECKS`; `models.validate` runs them
before anything compiles. Importing `models` imports this module.
"""

from __future__ import annotations

import logging

from cnnrnn_jax import attention, crnn, frames, linear_scan, models, recurrent, seq2seq
from cnnrnn_jax.encoders import (
  TCN,
  FlatMLP,
  LinearForecaster,
  LinearRNNEncoder,
  TransformerEncoder,
  tcn_dilations,
  tcn_receptive_field,
)
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.models import EncoderFactory, Validator
from cnnrnn_jax.tasks.base import TaskSpec

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


models.register("tcn", _tcn, causal=True)
models.register("mingru", _linear_rnn("mingru"), causal=True)
models.register("lru", _linear_rnn("lru"), causal=True)
models.register("transformer", _transformer, causal=True)


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
RNN_SEQ2SEQ_DEFAULTS = {**SEQ2SEQ_DEFAULTS, "encoder_layers": 1}  # stacked recurrent encoder


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
    encoder_layers=arch.encoder_layers,
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
    keys = ["num_layers", "num_heads", "mlp_ratio", "s2s_kernel_size"]
    if name.startswith("seq2seq_"):
      keys.append("encoder_layers")
    for key in keys:
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
  models.register(
    _name,
    _factory,
    causal=False,
    defaults=RNN_SEQ2SEQ_DEFAULTS if _name.startswith("seq2seq_") else SEQ2SEQ_DEFAULTS,
    validate=_validate_seq2seq(_name),
    seq2seq=True,
  )


# ---------------------------------------------------------------------------------------------
# Position-specific baselines (Greydanus 2020, MNIST-1D): logreg, mlp

FLAT = ("logreg", "mlp")


models.register("logreg", lambda arch, spec: FlatMLP(spec.seq_len, layers=0), causal=False)
models.register(
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


models.register("linear", _linear, causal=False)


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

models.register(
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


models.register("crnn", _crnn, causal=False, defaults=CRNN_DEFAULTS, validate=_validate_crnn)


models.CHECKS.extend([_validate_beyond, _validate_flat, _validate_forecast, _validate_video])
