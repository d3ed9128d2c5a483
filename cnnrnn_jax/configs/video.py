r"""Video: moving MNIST clips (tasks/video.py), frame encoders + sequence models, and a 3-D CNN.

Presets 'MODEL[,LABEL]': MODEL a key of PRESETS, LABEL one of digits (default), direction,
sequence. Every preset has 70-77K parameters (all within 10% of each other; pinned in
tests/test_video.py): the hybrids share one per-frame CNN (conv 3x3 - ReLU - 2x2 max-pool
with 8, 16, 32 filters, flattened 4 x 4 x 32 map -> 64 features, 38,720 parameters) and
differ only in what reads the 16 frame features:

  mean         the order-blind control: mean over frames, a ReLU layer of 470 (`bag`)
  lstm         an LSTM of 64 units, last state
  tcn          a TCN of 3 levels x 40 channels (receptive field 29 frames: a whole 16-frame
               clip), last step
  transformer  one pre-norm self-attention block of width 60, mean over frames
  cnn3d        no frame encoder: 3 x 3 x 3 convolutions over (time, height, width) with 8, 16,
               64 filters, max over space and time, a ReLU layer of 600 (temporal reach 7 frames)
  mlp_lstm     no convolution: a Dense-ReLU layer of 42 units per frame, then the LSTM

The commands (D is where your copy of the data lives) and the results are in docs/video.md:

  D=../shared/data
  python -m experiments.train --config=cnnrnn_jax/configs/video.py:lstm,direction \
      --config.data.train_path=$D/mnist --seeds=0,1,2 --workdir=runs/video/lstm_direction
"""

import ml_collections

from cnnrnn_jax.configs import default

# preset -> (model, arch overrides)
PRESETS = {
  "mean": ("bag", {"frame_encoder": "cnn2d", "hidden": 470}),
  "lstm": ("lstm", {"frame_encoder": "cnn2d", "hidden": 64}),
  "tcn": ("tcn", {"frame_encoder": "cnn2d", "hidden": 40, "tcn_levels": 3}),
  "transformer": ("transformer", {"frame_encoder": "cnn2d", "hidden": 60, "num_layers": 1}),
  "cnn3d": ("cnn3d", {"frame_filters": (8, 16, 64), "hidden": 600}),
  "mlp_lstm": (
    "lstm",
    {"frame_encoder": "mlp", "hidden": 64, "frame_dim": 42, "frame_mlp_layers": 1},
  ),
}
LABELS = ("digits", "direction", "sequence")


def get_config(preset: str = "lstm") -> ml_collections.ConfigDict:
  """`preset`: 'MODEL[,LABEL]' with MODEL in PRESETS and LABEL in LABELS."""
  name, _, label = preset.partition(",")
  if name not in PRESETS or (label and label not in LABELS):
    raise ValueError(
      f"unknown video preset {preset!r}; use MODEL[,LABEL] with MODEL in "
      f"{sorted(PRESETS)} and LABEL in {LABELS}"
    )
  model, arch = PRESETS[name]
  config = default.get_config(f"{model},moving_mnist")
  config.data.label = label or "digits"
  config.batch_size = 32
  config.train_steps = 500
  config.log_every = 100
  config.eval_every = 250
  config.checkpoint_every = 500
  config.opt.warmup_steps = 50
  config.arch.frame_filters = (8, 16, 32)
  config.arch.update(arch)
  return config
