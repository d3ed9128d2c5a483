"""Audio in: a strict WAV reader and the log-mel / MFCC front end, in JAX.

Shape key: N samples, T frames, W window (samples per frame), F frequency bins (n_fft/2 + 1),
M mel bands, Q cepstral coefficients, B batch.

The front end a speech person would choose by default: 25 ms Hann windows every 10 ms,
the power spectrum of a 2**k-point FFT (`jnp.fft.rfft`), 40 triangular mel bands (HTK
mel scale, `mel_filterbank`), the natural log (floored at 1e-6 of full-scale power), and
optionally the first 13 coefficients of an orthonormal DCT-II of the log-mel bands (MFCC).
Everything is a pure function of arrays; `features_batch` is jitted and takes a padded
batch of waveforms, so a whole dataset is featurised in a few compiled calls.

`read_wav` reads 16-bit mono PCM (the format of the Free Spoken Digit Dataset and most
recorders) and refuses anything else with one line naming the file and the fix.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import wave
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnnrnn_jax.errors import ConfigError

FEATURES = ("logmel", "mfcc")
LOG_FLOOR = 1e-6
CONVERT = "convert it to 16-bit mono PCM WAV (e.g. sox IN -c 1 -b 16 OUT.wav) or remove it"


@dataclasses.dataclass(frozen=True)
class FrontEnd:
  """The feature settings: window and hop in seconds, mel bands, MFCC coefficients."""

  sample_rate: int = 8000
  window_s: float = 0.025
  hop_s: float = 0.010
  n_mels: int = 40
  features: str = "logmel"  # logmel | mfcc
  n_mfcc: int = 13

  @property
  def window(self) -> int:
    """Samples per frame."""
    return int(round(self.window_s * self.sample_rate))

  @property
  def hop(self) -> int:
    """Samples between frame starts."""
    return int(round(self.hop_s * self.sample_rate))

  @property
  def n_fft(self) -> int:
    """The FFT size: the smallest power of two that holds a window."""
    return 1 << (self.window - 1).bit_length()

  @property
  def dim(self) -> int:
    """Features per frame."""
    return self.n_mfcc if self.features == "mfcc" else self.n_mels

  def num_frames(self, num_samples: int) -> int:
    """Whole windows in `num_samples` samples (0 when shorter than one window)."""
    return 0 if num_samples < self.window else 1 + (num_samples - self.window) // self.hop


def read_wav(path: str) -> tuple[np.ndarray, int]:
  """(samples_N float32 in [-1, 1), sample rate) of a 16-bit mono PCM WAV file.

  A file that is not a WAV, has more than one channel, is not 16-bit, holds no samples or
  only zeros raises a one-line ConfigError naming the file and the fix.
  """
  try:
    with wave.open(path, "rb") as f:
      channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
      raw = f.readframes(f.getnframes())
  except (wave.Error, EOFError) as e:
    # An empty or cut-off file ends the header early: EOFError, whose message is empty.
    why = str(e) or "the file ends inside its header"
    raise ConfigError(f"{path}: not a PCM WAV file ({why}); {CONVERT}") from None
  if channels != 1:
    raise ConfigError(
      f"{path}: {channels} channels, the front end reads mono; mix it down "
      "(e.g. sox IN -c 1 OUT.wav) or remove it"
    )
  if width != 2:
    raise ConfigError(f"{path}: {8 * width}-bit samples, not 16-bit; {CONVERT}")
  samples = np.frombuffer(raw, "<i2")
  if samples.size == 0:
    raise ConfigError(f"{path}: the WAV file holds no samples; remove it")
  if not samples.any():
    raise ConfigError(f"{path}: every sample is 0 (a silent recording); remove it")
  return samples.astype(np.float32) / 32768.0, rate


def hz_to_mel(hz):
  """HTK's mel scale: 2595 log10(1 + f / 700)."""
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel):
  """The inverse of `hz_to_mel`."""
  return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, sample_rate: int, n_mels: int) -> np.ndarray:
  """Triangular filters F x M from 0 Hz to Nyquist, equally spaced on the mel scale.

  Filter m rises from mel point m to m + 1 and falls to m + 2 (n_mels + 2 points); each
  weight is the triangle's height at the bin's frequency (peak 1).
  """
  bins_hz_F = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
  points_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2))
  lo, mid, hi = points_hz[:-2], points_hz[1:-1], points_hz[2:]
  f_Fx1 = bins_hz_F[:, None]
  rise_FxM = (f_Fx1 - lo[None, :]) / (mid - lo)[None, :]
  fall_FxM = (hi[None, :] - f_Fx1) / (hi - mid)[None, :]
  return np.clip(np.minimum(rise_FxM, fall_FxM), 0.0, None).astype(np.float32)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
  """The orthonormal DCT-II as a matrix n_in x n_out (its first n_out basis vectors)."""
  k = np.arange(n_out)[None, :]
  n = np.arange(n_in)[:, None]
  basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
  basis[:, 0] /= math.sqrt(2.0)
  return basis.astype(np.float32)


def frame_signal(x_N: jax.Array, window: int, hop: int, num_frames: int) -> jax.Array:
  """x cut into `num_frames` windows of `window` samples, `hop` apart: frames_TxW."""
  index_TxW = hop * jnp.arange(num_frames)[:, None] + jnp.arange(window)[None, :]
  return x_N[index_TxW]


def log_mel(x_N: jax.Array, front: FrontEnd, num_frames: int) -> jax.Array:
  """Log-mel (or MFCC) features T x M of one waveform (samples past the frames are unused)."""
  frames_TxW = frame_signal(x_N, front.window, front.hop, num_frames)
  window_W = jnp.asarray(np.hanning(front.window + 2)[1:-1], jnp.float32)  # no zero endpoints
  spectrum_TxF = jnp.fft.rfft(frames_TxW * window_W[None, :], n=front.n_fft)
  power_TxF = jnp.real(spectrum_TxF * jnp.conj(spectrum_TxF)) / front.window
  mel_TxM = power_TxF @ jnp.asarray(mel_filterbank(front.n_fft, front.sample_rate, front.n_mels))
  logmel_TxM = jnp.log(jnp.maximum(mel_TxM, LOG_FLOOR))
  if front.features == "mfcc":
    return logmel_TxM @ jnp.asarray(dct_matrix(front.n_mels, front.n_mfcc))
  return logmel_TxM


@functools.partial(jax.jit, static_argnames=("front", "num_frames"))
def features_batch(x_BxN: jax.Array, front: FrontEnd, num_frames: int) -> jax.Array:
  """`log_mel` of every padded waveform of a batch: B x T x M (T = num_frames)."""
  return jax.vmap(lambda x_N: log_mel(x_N, front, num_frames))(x_BxN)


def resample_to(x_N: np.ndarray, n_out: int) -> np.ndarray:
  """x resampled to `n_out` samples by FFT: the spectrum cut (or zero-padded) to the new
  length, which band-limits a shortened signal to its new Nyquist frequency."""
  spectrum = np.fft.rfft(x_N)
  keep = min(len(spectrum), n_out // 2 + 1)
  out = np.zeros(n_out // 2 + 1, spectrum.dtype)
  out[:keep] = spectrum[:keep]
  return (np.fft.irfft(out, n=n_out) * (n_out / len(x_N))).astype(np.float32)


def bucket(n: int, smallest: int = 32) -> int:
  """The smallest `smallest * 2**k` >= n: the padded size a batch compiles for."""
  size = smallest
  while size < n:
    size *= 2
  return size


def features_at_width(
  waves: Sequence[np.ndarray], front: FrontEnd, width: int, rows: int | None = None
) -> list[np.ndarray]:
  """Features T_i x M of waveforms in one jitted call of `width` frames and `rows` rows (the
  batch padded with silence: one compile per shape), each cut to its own frame count."""
  num_samples = (width - 1) * front.hop + front.window
  x_BxN = np.zeros((rows or len(waves), num_samples), np.float32)
  for i, x in enumerate(waves):
    x_BxN[i, : min(len(x), num_samples)] = x[:num_samples]
  # concrete even when a caller traces (the trainer's eval_shape of its first batch)
  with jax.ensure_compile_time_eval():
    feats_BxTxM = np.asarray(features_batch(x_BxN, front, width))
  return [feats_BxTxM[i, : front.num_frames(len(x))] for i, x in enumerate(waves)]


def featurize(waves: Sequence[np.ndarray], front: FrontEnd, chunk: int = 256) -> list[np.ndarray]:
  """Features T_i x M of every waveform (each at least one window long), as numpy arrays.

  Waveforms are grouped by the power-of-two bucket of their frame count and featurised
  `chunk` at a time, so the jitted front end compiles once per bucket.
  """
  by_bucket: dict[int, list[int]] = {}
  for i, x in enumerate(waves):
    by_bucket.setdefault(bucket(front.num_frames(len(x))), []).append(i)
  out: list[np.ndarray] = [np.empty(0)] * len(waves)
  for width, members in sorted(by_bucket.items()):
    for start in range(0, len(members), chunk):
      rows = members[start : start + chunk]
      for i, feats in zip(rows, features_at_width([waves[i] for i in rows], front, width, chunk)):
        out[i] = feats
  return out


def normalize_utterance(x_TxM: np.ndarray) -> np.ndarray:
  """Per-utterance mean and variance normalisation of every band (CMVN)."""
  mean_M = x_TxM.mean(axis=0, keepdims=True)
  std_M = x_TxM.std(axis=0, keepdims=True)
  return ((x_TxM - mean_M) / np.maximum(std_M, 1e-3)).astype(np.float32)
