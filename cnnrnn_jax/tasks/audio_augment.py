"""Augmentation of speech training data, drawn from (seed, step) like the batch itself, so a
resumed run sees the same augmented batches (tasks/audio.py and tasks/digit_strings.py use it).

  spec_augment     on features: SpecAugment's band and frame masks (Park et al. 2019) and a
                   warp of the band axis (VTLP, Jaitly and Hinton 2013)
  WaveAugment      on waveforms, before the features are recomputed: speed perturbation
                   (tempo and pitch together, Ko et al. 2015), a low-pass, white noise
  TrainWaves       the training waveforms and the front end that featurises them again
  augmentation, wave_augmentation   the settings from `config.data`, checked (ConfigError)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from cnnrnn_jax import audio
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.tasks.base import check_int

AUGMENT_STREAM = 5  # rng_for(seed, AUGMENT_STREAM, step): SpecAugment masks of batch `step`
WAVE_STREAM = 7  # rng_for(seed, WAVE_STREAM, step): the waveform augmentation of batch `step`
NOISE_SNR_TOP = 40.0  # dB: the cleanest SNR the noise augmentation draws
FREQ_MASK_WIDTH, TIME_MASK_WIDTH = 8, 10


def change_speed(x_N: np.ndarray, factor: float) -> np.ndarray:
  """x played `factor` times as fast: resampled to len / factor samples and read at the same
  rate, so tempo and every frequency (pitch and formants) scale by `factor` together (the
  speed perturbation of Ko et al. 2015)."""
  return audio.resample_to(x_N, max(1, int(round(len(x_N) / factor))))


def warp_bands(x_TxM: np.ndarray, alpha: float) -> np.ndarray:
  """x with its band axis stretched by `alpha` (band m takes the value at m / alpha, linearly
  interpolated, the top band held): a longer or shorter vocal tract, roughly (VTLP)."""
  M = x_TxM.shape[1]
  pos_M = np.clip(np.arange(M) / alpha, 0.0, M - 1.0)
  lo_M = np.floor(pos_M).astype(np.int64)
  hi_M = np.minimum(lo_M + 1, M - 1)
  frac_M = (pos_M - lo_M).astype(np.float32)
  return x_TxM[:, lo_M] * (1.0 - frac_M) + x_TxM[:, hi_M] * frac_M


def spec_augment(
  x_BxTxM: np.ndarray,
  lengths_B: np.ndarray,
  rng: np.random.Generator,
  freq: int,
  time: int,
  warp: float = 0.0,
) -> np.ndarray:
  """x with each row's bands warped by a factor drawn from [1 - warp, 1 + warp] (VTLP, Jaitly
  and Hinton 2013), then `freq` band masks (up to 8 bands) and `time` frame masks (up to 10
  frames) set to 0 (the normalised mean), at seeded places within each row's length."""
  x = x_BxTxM.copy()
  B, _, M = x.shape
  for b in range(B):
    if warp:
      x[b] = warp_bands(x[b], rng.uniform(1.0 - warp, 1.0 + warp))
    for _ in range(freq):
      width = rng.integers(0, min(FREQ_MASK_WIDTH, M) + 1)
      start = rng.integers(0, M - width + 1)
      x[b, :, start : start + width] = 0.0
    for _ in range(time):
      width = rng.integers(0, min(TIME_MASK_WIDTH, int(lengths_B[b])) + 1)
      start = rng.integers(0, int(lengths_B[b]) - width + 1)
      x[b, start : start + width, :] = 0.0
  return x * mask_BxL(lengths_B, x.shape[1], np)[:, :, None]


def augmentation(data_config, what: str) -> tuple[int, int, float]:
  """(freq_masks, time_masks, freq_warp) from `config.data`."""
  freq, time = (
    check_int(what, knob, data_config.get(knob), 0, 0) for knob in ("freq_masks", "time_masks")
  )
  warp = float(data_config.get("freq_warp") or 0.0)
  if not 0.0 <= warp < 0.5:
    raise ConfigError(
      f"{what}: freq_warp={warp} must be in [0, 0.5) (0.1 = bands stretched by up to 10%); "
      "set --config.data.freq_warp"
    )
  return freq, time, warp


def add_noise(x_N: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
  """x plus white Gaussian noise `snr_db` dB below x's mean power."""
  power = float(np.mean(np.square(x_N)))
  std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
  return (x_N + std * rng.standard_normal(len(x_N))).astype(np.float32)


def low_pass(x_N: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
  """x without its frequencies above `cutoff_hz` (zeroed in its FFT): what a narrower
  microphone or channel would have recorded."""
  spectrum = np.fft.rfft(x_N)
  spectrum[np.fft.rfftfreq(len(x_N), 1.0 / sample_rate) > cutoff_hz] = 0.0
  return np.fft.irfft(spectrum, n=len(x_N)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class WaveAugment:
  """Augmentation of training waveforms, drawn per recording: played at a speed in
  [1 - `speed`, 1 + `speed`] (`change_speed`, Ko et al. 2015), cut above a frequency in
  [`lowpass_hz`, Nyquist] (`low_pass`) and white noise added at an SNR in [`noise_snr`,
  NOISE_SNR_TOP] dB (`add_noise`), in that order; 0 turns each off."""

  speed: float = 0.0
  noise_snr: float = 0.0
  lowpass_hz: float = 0.0

  def __bool__(self) -> bool:
    return bool(self.speed or self.noise_snr or self.lowpass_hz)

  def longest(self, num_samples: int) -> int:
    """Samples of a `num_samples`-long recording at the slowest speed."""
    return int(round(num_samples / (1.0 - self.speed))) + 1 if self.speed else num_samples

  def faster(self, x_N: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x at a speed drawn from `rng` (x itself when speed is 0)."""
    if not self.speed:
      return x_N
    return change_speed(x_N, rng.uniform(1.0 - self.speed, 1.0 + self.speed))

  def narrower(self, x_N: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """x cut above a frequency drawn from `rng` (x itself when lowpass_hz is 0)."""
    if not self.lowpass_hz:
      return x_N
    return low_pass(x_N, rng.uniform(self.lowpass_hz, sample_rate / 2), sample_rate)

  def noisier(self, x_N: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x with noise at an SNR drawn from `rng` (x itself when noise_snr is 0)."""
    if not self.noise_snr:
      return x_N
    return add_noise(x_N, rng.uniform(self.noise_snr, NOISE_SNR_TOP), rng)


def wave_augmentation(data_config, what: str) -> WaveAugment:
  """The WaveAugment of `config.data.speed_perturb`, `noise_snr` and `lowpass_hz`."""
  speed = float(data_config.get("speed_perturb") or 0.0)
  if not 0.0 <= speed < 0.5:
    raise ConfigError(
      f"{what}: speed_perturb={speed} must be in [0, 0.5) (0.1 = speeds 0.9-1.1); "
      "set --config.data.speed_perturb"
    )
  snr = float(data_config.get("noise_snr") or 0.0)
  if not 0.0 <= snr < NOISE_SNR_TOP:
    raise ConfigError(
      f"{what}: noise_snr={snr} must be in [0, {NOISE_SNR_TOP:.0f}) dB (the lowest SNR of "
      "the added noise; 0: off); set --config.data.noise_snr"
    )
  cutoff = float(data_config.get("lowpass_hz") or 0.0)
  nyquist = check_int(what, "sample_rate", data_config.get("sample_rate"), 8000, 1000) / 2
  if not 0.0 <= cutoff < nyquist:
    raise ConfigError(
      f"{what}: lowpass_hz={cutoff} must be in [0, {nyquist:.0f}) Hz (the lowest cutoff of "
      "the low-pass filter; 0: off); set --config.data.lowpass_hz"
    )
  return WaveAugment(speed, snr, cutoff)


@dataclasses.dataclass(frozen=True)
class TrainWaves:
  """The training waveforms and what turns them into features again after `augment`."""

  augment: WaveAugment
  waves: Sequence[np.ndarray]
  front: audio.FrontEnd
  norm: Callable[[np.ndarray], np.ndarray]  # one clip's T x M features, normalised

  def longest_frames(self) -> int:
    """Frames of the longest recording at the slowest speed."""
    return self.front.num_frames(self.augment.longest(max(len(x) for x in self.waves)))

  def features(self, rows: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Normalised features of recordings `rows`, each augmented with draws from `rng`."""
    aug, rate = self.augment, self.front.sample_rate
    waves = [
      aug.noisier(aug.narrower(aug.faster(self.waves[r], rng), rng, rate), rng) for r in rows
    ]
    width = audio.bucket(max(self.front.num_frames(len(x)) for x in waves))
    return [self.norm(f) for f in audio.features_at_width(waves, self.front, width, len(rows))]
