"""Digit strings: connected speech from spoken-digit recordings, transcribed with CTC.

  digit_strings  1..`max_digits` (7) utterances of one split (tasks/audio.py: the same
                 folders, splits, features and augmentation) joined with seeded silences of
                 50-300 ms (and Gaussian noise of std `noise`, 0 by default) into one
                 waveform; the target is the digit sequence, scored with CTC (task kind
                 'ctc', metrics.py): digit error rate and string accuracy

Shape key: B batch, T frames, M features per frame, S digits per string.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from cnnrnn_jax import audio
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.audio import AUDIO_DEFAULTS, normalizer, pad_features, train_and_eval
from cnnrnn_jax.tasks.audio_augment import (
  AUGMENT_STREAM,
  WAVE_STREAM,
  WaveAugment,
  augmentation,
  spec_augment,
  wave_augmentation,
)
from cnnrnn_jax.tasks.base import (
  EVAL_STREAM,
  TRAIN_STREAM,
  Batch,
  Task,
  TaskSpec,
  check_int,
  pad_rows,
  register,
  rng_for,
)

STRING_DEFAULTS = {**AUDIO_DEFAULTS, "min_digits": 1, "max_digits": 7, "noise": 0.0}
GAP_S = (0.05, 0.3)  # silence between (and around) the digits of a string, seconds


BLANK = 0  # CTC's blank class; digit d is class d + 1, and 0 pads a target row


class DigitStringTask(Task):
  """Strings of 1..max_digits spoken digits (see the module docstring); kind 'ctc'.

  targets B x S: digit + 1 per position, 0 past the string's end; lengths: frames.
  """

  def __init__(
    self,
    seed: int,
    front: audio.FrontEnd,
    train: tuple[Sequence[np.ndarray], np.ndarray],
    evaluation: tuple[Sequence[np.ndarray], np.ndarray],
    digits: tuple[int, int],
    noise: float,
    norm,
    eval_size: int,
    augment: tuple[int, int, float] = (0, 0, 0.0),
    wave_aug: WaveAugment | None = None,
  ):
    self.seed, self.front, self.digits, self.noise, self.norm = seed, front, digits, noise, norm
    self.pools = {
      TRAIN_STREAM: (list(train[0]), np.asarray(train[1])),
      EVAL_STREAM: (list(evaluation[0]), np.asarray(evaluation[1])),
    }
    self.eval_size, self.augment = eval_size, augment
    self.wave_aug = wave_aug or WaveAugment()
    longest = max(max(len(w) for w in waves) for waves, _ in self.pools.values())
    longest = wave_aug.longest(longest)  # at the slowest speed
    gap = int(GAP_S[1] * front.sample_rate)
    max_samples = digits[1] * longest + (digits[1] + 1) * gap
    self.spec = TaskSpec(
      kind="ctc",
      num_outputs=11,
      metric="label_error_rate",
      seq_len=audio.bucket(front.num_frames(max_samples)),
      input_dim=front.dim,
    )
    self._eval: list[Batch] | None = None
    self._eval_batch_size = 0

  def strings(
    self,
    rng: np.random.Generator,
    n: int,
    stream: int,
    wave_rng: np.random.Generator | None = None,
  ) -> Batch:
    """`n` strings from the train (TRAIN_STREAM) or eval pool, unpadded-to-bucket features;
    with `wave_rng`, augmented by `wave_aug` (each recording's speed, the string's
    low-pass and noise)."""
    waves, digits_N = self.pools[stream]
    rate = self.front.sample_rate
    S = self.digits[1]
    targets_BxS, sounds = np.zeros((n, S), np.int32), []
    for b in range(n):
      k = int(rng.integers(self.digits[0], self.digits[1] + 1))
      picks = rng.integers(len(waves), size=k)
      gaps = rng.integers(int(GAP_S[0] * rate), int(GAP_S[1] * rate) + 1, size=k + 1)
      pieces = [np.zeros(gaps[0], np.float32)]
      for pick, gap in zip(picks, gaps[1:]):
        wave = waves[pick] if wave_rng is None else self.wave_aug.faster(waves[pick], wave_rng)
        pieces += [wave, np.zeros(gap, np.float32)]
      x = np.concatenate(pieces)
      if wave_rng is not None:
        x = self.wave_aug.noisier(self.wave_aug.narrower(x, wave_rng, rate), wave_rng)
      if self.noise:
        x = x + self.noise * rng.standard_normal(len(x)).astype(np.float32)
      sounds.append(x)
      targets_BxS[b, :k] = digits_N[picks] + 1
    width = audio.bucket(max(self.front.num_frames(len(x)) for x in sounds))
    feats = audio.features_at_width(sounds, self.front, width)
    batch = pad_features([self.norm(f) for f in feats], width)
    batch["targets"] = targets_BxS
    batch["weights"] = np.ones(n, np.float32)
    return batch

  def train_batch(self, step: int, batch_size: int) -> Batch:
    wave_rng = rng_for(self.seed, WAVE_STREAM, step) if self.wave_aug else None
    batch = self.strings(rng_for(self.seed, TRAIN_STREAM, step), batch_size, TRAIN_STREAM, wave_rng)
    if any(self.augment):
      rng = rng_for(self.seed, AUGMENT_STREAM, step)
      batch["inputs"] = spec_augment(batch["inputs"], batch["lengths"], rng, *self.augment)
    return batch

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    if self._eval is None or self._eval_batch_size != batch_size:
      rng = rng_for(self.seed, EVAL_STREAM)
      self._eval = []
      for start in range(0, self.eval_size, batch_size):
        n = min(batch_size, self.eval_size - start)
        self._eval.append(pad_rows(self.strings(rng, n, EVAL_STREAM), batch_size))
      self._eval_batch_size = batch_size
    return iter(self._eval)


@register("digit_strings", STRING_DEFAULTS)
def _digit_strings(data_config, seed: int) -> Task:
  what = "digit_strings"
  front, (train_clips, train_waves, train_feats), (eval_clips, eval_waves, _), labels = (
    train_and_eval(data_config, what, use_tfds=True)
  )
  if not set(labels) <= {str(d) for d in range(10)}:
    raise ConfigError(
      f"{what}: labels must be the digits 0-9, not {labels}; use recordings of spoken digits"
    )
  low = check_int(what, "min_digits", data_config.get("min_digits"), 1, 1)
  high = check_int(what, "max_digits", data_config.get("max_digits"), 7, 1)
  if low > high:
    raise ConfigError(f"{what}: min_digits={low} > max_digits={high}; lower min_digits")
  noise = float(data_config.get("noise") or 0.0)
  norm = normalizer(data_config.get("normalize", "utterance"), train_feats, what)
  eval_size = check_int(what, "eval_size", data_config.get("eval_size"), 512, 1)
  task = DigitStringTask(
    seed,
    front,
    (train_waves, np.array([int(c.label) for c in train_clips])),
    (eval_waves, np.array([int(c.label) for c in eval_clips])),
    (low, high),
    noise,
    norm,
    eval_size,
    augmentation(data_config, what),
    wave_augmentation(data_config, what),
  )
  return task
