r"""Speech: spoken digits (keyword spotting) and digit strings (CTC) from the Free Spoken Digit
Dataset (tasks/audio.py), every model on 40 log-mel bands per 10 ms frame.

Presets 'MODEL[_VARIANT][,TASK]': MODEL a key of PRESETS, VARIANT a key of VARIANTS (the
model trained with other data settings: `aug` SpecAugment, `spk` the settings for new
speakers), TASK
'digits' (default: `spoken_digit`, one label per recording) or 'strings' (`digit_strings`:
1-7 digits joined, CTC). The presets have 81k-108k parameters (pinned in
tests/test_speech.py):

  crnn         2 conv levels (3 x 3, 16 and 32 filters, stride 2 in time and bands: 40 bands
               -> 10, frames / 4), then a bidirectional GRU of 40 units per direction (93k)
  cnn          Kim's 1-D CNN over time, bands as channels: widths 3, 5, 7 x 160 filters, max
               over time (101k)
  gru, lstm    bidirectional, 96 / 84 units per direction, mean over frames (81k, 86k)
  cnn_lstm     a width-5 convolution of 128 filters, then an LSTM of 80 units (93k)
  tcn          6 levels x 48 channels of dilated causal convolutions (receptive field
               253 frames; 85k)
  transformer  2 pre-norm blocks of width 80, sinusoidal positions, mean over frames (108k)
  lru          2 LRU blocks of width 80 (a linear recurrence run as a parallel scan) (108k)

The commands (D is where your copy of the data lives) and the results are in docs/speech.md:

  D=../shared/data
  python -m experiments.train --config=cnnrnn_jax/configs/speech.py:crnn \
      --config.data.train_path=$D/fsdd/recordings --seeds=0,1,2 --workdir=runs/speech/crnn
  # one speaker held out (george, jackson, nicolas, theo, yweweler), the spk variant
  python -m experiments.train --config=cnnrnn_jax/configs/speech.py:crnn_spk \
      --config.data.train_path=$D/fsdd/recordings --config.data.split=speaker \
      --config.data.eval_speakers=nicolas --seeds=0,1,2 \
      --workdir=runs/speech/heldout/crnn_spk_nicolas
"""

import ml_collections

from cnnrnn_jax.configs import default

# preset -> (model, arch overrides)
PRESETS = {
  "crnn": ("crnn", {"hidden": 40, "bidirectional": True, "readout": "mean"}),
  "cnn": ("cnn", {"num_filters": 160, "kernel_sizes": (3, 5, 7)}),
  "gru": ("gru", {"hidden": 96, "bidirectional": True, "readout": "mean"}),
  "lstm": ("lstm", {"hidden": 84, "bidirectional": True, "readout": "mean"}),
  "cnn_lstm": ("cnn_lstm", {"hybrid_kernel_size": 5, "num_filters": 128, "hidden": 80}),
  "tcn": ("tcn", {"hidden": 48, "tcn_levels": 6, "readout": "mean"}),
  "transformer": ("transformer", {"hidden": 80, "num_layers": 2, "readout": "mean"}),
  "lru": ("lru", {"hidden": 80, "num_layers": 2, "readout": "mean"}),
}
TASKS = {"digits": "spoken_digit", "strings": "digit_strings"}
# MODEL_VARIANT: the preset trained with these data settings (tasks/audio.py)
VARIANTS = {
  # SpecAugment's two band and two frame masks, and the band axis warped by up to 10% (VTLP)
  "aug": {"freq_masks": 2, "time_masks": 2, "freq_warp": 0.1},
  # for a new speaker (docs/speech.md, the held-out results): 13 MFCCs instead of 40 log-mel
  # bands with only their mean removed per recording, every training recording played at a
  # speed in 0.9-1.1 and white noise added at 10-40 dB SNR
  "spk": {"features": "mfcc", "normalize": "mean", "speed_perturb": 0.1, "noise_snr": 10.0},
}


def get_config(preset: str = "crnn") -> ml_collections.ConfigDict:
  """`preset`: 'MODEL[_VARIANT][,TASK]', MODEL in PRESETS, VARIANT in VARIANTS, TASK in TASKS."""
  name, _, task = preset.partition(",")
  base, _, variant = name.rpartition("_")
  if base in PRESETS and variant in VARIANTS:
    name = base
  else:
    variant = ""
  if name not in PRESETS or (task and task not in TASKS):
    raise ValueError(
      f"unknown speech preset {preset!r}; use MODEL[_VARIANT][,TASK] with MODEL in "
      f"{sorted(PRESETS)}, VARIANT in {sorted(VARIANTS)} and TASK in {sorted(TASKS)}"
    )
  model, arch = PRESETS[name]
  config = default.get_config(f"{model},{TASKS[task or 'digits']}")
  config.batch_size = 32
  config.train_steps = 1500
  config.log_every = 100
  config.eval_every = 500
  config.checkpoint_every = 500
  config.opt.warmup_steps = 100
  config.arch.update(arch)
  if variant:
    config.data.update(VARIANTS[variant])
  if task == "strings":  # a batch is ~5 s of audio per string: fewer, longer steps
    config.train_steps = 1200
    config.eval_every = 400
    config.checkpoint_every = 400
  return config
