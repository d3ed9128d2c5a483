"""Speech: spoken digits (keyword spotting) and digit strings (recognition with CTC).

Shape key: N clips, B batch, T frames, M features per frame (mel bands), S digits per string.

  spoken_digit   the Free Spoken Digit Dataset (FSDD, Jackson et al.): tfds `spoken_digit`,
                 or the recordings folder when `--config.data.train_path` points at it
  audio_files    your own folder of WAV files: the label is the file name's part before the
                 first `_` (FSDD's `{digit}_{speaker}_{index}.wav`) or, when the WAVs sit in
                 sub-folders, the sub-folder's name
  digit_strings  connected speech scored with CTC (tasks/digit_strings.py), built from the
                 same recordings, splits and features

Splits (classification and strings alike): `--config.data.eval_path` (another folder, e.g. a
new speaker's recordings) is the eval set; without it `--config.data.split` picks one:
'index' (FSDD's official split: recordings 0-4 of each digit and speaker are the test set,
the default when every name has an index), 'speaker' (hold out `eval_speakers`, e.g.
`--config.data.eval_speakers=theo`) or 'random' (a seeded `eval_fraction`, 0.1, the same for
every run seed; the default for names without an index).

Input: 16-bit mono PCM WAV (audio.read_wav refuses anything else, naming the file). Files at
another sample rate than `sample_rate` (8000) are resampled to it (band-limited, by FFT) and
counted in a log line. Files in the folder whose name does not end in .wav are skipped and
counted in a log line. A name without a label, a folder with one class and a recording
shorter than one window stop the run with a one-line error naming the file.

Features (audio.py, in JAX): 40 log-mel bands of 25 ms windows every 10 ms (or 13 MFCCs:
`--config.data.features=mfcc`), computed once per dataset and kept in memory, then
normalised per utterance (`normalize`='utterance', the default: each band's mean and
variance over the clip, which removes a speaker's and a microphone's fixed spectral tilt and
loudness, what speaker-independent recognition needs), only the mean removed ('mean', cepstral
mean normalisation), with the training set's statistics ('global') or not at all ('none').
A batch is padded to the smallest of 32, 64, 128, ... frames that holds it. Optional
augmentation for training only, drawn from (seed, step) like the batch itself, so resume
stays exact (all off by default): SpecAugment (Park et al. 2019)
`freq_masks` masks of up to 8 bands and `time_masks` masks of up to 10 frames, and a
vocal-tract-length-like warp of the band axis by a factor in [1 - `freq_warp`, 1 + `freq_warp`]
(VTLP, Jaitly and Hinton 2013); and on the waveforms, whose features are then recomputed for
each batch (`WaveAugment`): a speed in [1 - `speed_perturb`, 1 + `speed_perturb`] (tempo and
pitch together, Ko et al. 2015), a low-pass at a cutoff in [`lowpass_hz`, Nyquist] and white
noise at an SNR in [`noise_snr`, 40] dB. The augmentation is tasks/audio_augment.py.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Sequence

import ml_collections
import numpy as np

from cnnrnn_jax import audio
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays
from cnnrnn_jax.tasks.audio_augment import (
  AUGMENT_STREAM,
  WAVE_STREAM,
  TrainWaves,
  augmentation,
  spec_augment,
  wave_augmentation,
)
from cnnrnn_jax.tasks.base import (
  Batch,
  Task,
  TaskSpec,
  check_int,
  default_if_none,
  register,
  rng_for,
)

SPLITS = ("index", "speaker", "random")
NORMALIZE = ("utterance", "mean", "global", "none")
FSDD_TEST_INDICES = 5  # FSDD: recordings 0-4 of each digit and speaker are the test set
DEFAULT_EVAL_FRACTION = 0.1
AUDIO_DEFAULTS = {
  "eval_speakers": "",
  "features": "logmel",
  "n_mels": 40,
  "normalize": "utterance",
  "sample_rate": 8000,
  "freq_masks": 0,
  "time_masks": 0,
  "freq_warp": 0.0,
  "speed_perturb": 0.0,
  "noise_snr": 0.0,
  "lowpass_hz": 0.0,
}


@dataclasses.dataclass(frozen=True)
class Clip:
  """One recording: where it came from, its label and (when the name says) speaker and index."""

  source: str
  label: str
  speaker: str | None = None
  index: int | None = None


def parse_name(stem: str) -> tuple[str | None, int | None]:
  """(speaker, index) of `LABEL_SPEAKER_INDEX` (FSDD); None for the parts a name lacks."""
  parts = stem.split("_")
  speaker = parts[1] if len(parts) > 1 and parts[1] else None
  index = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
  return speaker, index


def scan_folder(path: str, what: str) -> list[Clip]:
  """The WAV files of a folder as Clips (flat FSDD-style names, or one sub-folder per label)."""
  if not os.path.isdir(path):
    raise ConfigError(f"{what}: {path} is not a folder; point the path at a folder of WAV files")
  entries = sorted(os.listdir(path))
  folders = [e for e in entries if os.path.isdir(os.path.join(path, e))]
  per_folder = {
    f: sorted(n for n in os.listdir(os.path.join(path, f)) if n.lower().endswith(".wav"))
    for f in folders
  }
  top_wavs = [e for e in entries if e.lower().endswith(".wav") and e not in folders]
  nested = any(per_folder.values())
  if nested and top_wavs:
    raise ConfigError(
      f"{what}: {path} has WAV files both at the top ({top_wavs[0]}) and in sub-folders; "
      "put every file in its label's sub-folder, or flatten the folder"
    )
  clips, skipped = [], []
  if nested:
    for label, names in per_folder.items():
      for name in names:
        speaker, index = parse_name(os.path.splitext(name)[0])
        clips.append(Clip(os.path.join(path, label, name), label, speaker, index))
      skipped += [
        os.path.join(label, n)
        for n in os.listdir(os.path.join(path, label))
        if not n.lower().endswith(".wav")
      ]
  else:
    for name in top_wavs:
      stem = os.path.splitext(name)[0]
      label = stem.split("_")[0]
      if "_" not in stem or not label:
        raise ConfigError(
          f"{what}: {os.path.join(path, name)} has no label in its name; name files "
          "LABEL_SPEAKER_INDEX.wav (the part before the first _ is the label) or put them in "
          "one sub-folder per label"
        )
      speaker, index = parse_name(stem)
      clips.append(Clip(os.path.join(path, name), label, speaker, index))
    skipped = [e for e in entries if e not in top_wavs and e not in folders]
  if skipped:
    logging.warning(
      "%s: skipped %d files in %s whose names do not end in .wav (e.g. %s)",
      what,
      len(skipped),
      path,
      skipped[0],
    )
  if not clips:
    raise ConfigError(f"{what}: no .wav files in {path}; point the path at a folder of WAVs")
  return clips


def resample(x_N: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """Band-limited resampling by FFT: the spectrum cut (or zero-padded) to the new rate."""
  return audio.resample_to(x_N, max(1, int(round(len(x_N) * rate_out / rate_in))))


def check_waves(
  clips: Sequence[Clip], waves: list[np.ndarray], rates: list[int], front: audio.FrontEnd, what
) -> list[np.ndarray]:
  """Waves at the front end's rate (others resampled, counted in a log line); a one-line
  error for one shorter than a window."""
  out, resampled = [], 0
  for clip, x, rate in zip(clips, waves, rates):
    if rate != front.sample_rate:
      x, resampled = resample(x, rate, front.sample_rate), resampled + 1
    if len(x) < front.window:
      raise ConfigError(
        f"{what}: {clip.source} is {len(x)} samples long, shorter than one "
        f"{1000 * front.window_s:.0f} ms window ({front.window} samples at "
        f"{front.sample_rate} Hz); remove it or pad it with silence"
      )
    out.append(x)
  if resampled:
    logging.info("%s: resampled %d recordings to %d Hz", what, resampled, front.sample_rate)
  return out


@functools.lru_cache(maxsize=4)
def read_folder(
  path: str, front: audio.FrontEnd, what: str
) -> tuple[tuple[Clip, ...], tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
  """(clips, waveforms, features) of a folder, read once per process (the seeds of a run
  share them)."""
  clips = scan_folder(path, what)
  pairs = [audio.read_wav(c.source) for c in clips]
  waves = check_waves(clips, [p[0] for p in pairs], [p[1] for p in pairs], front, what)
  return tuple(clips), tuple(waves), tuple(audio.featurize(waves, front))


@functools.lru_cache(maxsize=4)
def read_tfds(data_dir: str | None, front: audio.FrontEnd, what: str):
  """(clips, waveforms, features) of tfds `spoken_digit` (one `train` split: FSDD v1.0.9)."""
  from cnnrnn_jax.tasks import tfds_tasks

  data = ml_collections.ConfigDict({"data_dir": data_dir})
  raw = tfds_tasks.load_split("spoken_digit", "train", data, what, ragged=True)
  clips, waves, rates = [], [], []
  for i, (samples, label, name) in enumerate(
    zip(raw["audio"], raw["label"], raw["audio/filename"])
  ):
    stem = os.path.splitext(name.decode("utf-8"))[0]
    speaker, index = parse_name(stem)
    clips.append(Clip(f"spoken_digit:train[{i}] {stem}", str(int(label)), speaker, index))
    waves.append(np.asarray(samples, np.float32) / 32768.0)
    rates.append(8000)
  waves = check_waves(clips, waves, rates, front, what)
  return tuple(clips), tuple(waves), tuple(audio.featurize(waves, front))


def front_end(data_config, what: str) -> audio.FrontEnd:
  """The FrontEnd of `config.data`, validated."""
  features = data_config.get("features", "logmel")
  if features not in audio.FEATURES:
    raise ConfigError(
      f"{what}: features={features!r} is not one of {audio.FEATURES}; set --config.data.features"
    )
  n_mels = check_int(what, "n_mels", data_config.get("n_mels"), 40, 2)
  rate = check_int(what, "sample_rate", data_config.get("sample_rate"), 8000, 1000)
  front = audio.FrontEnd(sample_rate=rate, n_mels=n_mels, features=features)
  if features == "mfcc" and front.n_mfcc > n_mels:
    raise ConfigError(f"{what}: 13 MFCCs need n_mels >= 13, not {n_mels}; raise n_mels")
  return front


def load_source(data_config, what: str, use_tfds: bool):
  """(train (clips, waves), eval (clips, waves) or None, front end) from train_path /
  eval_path, or tfds when `use_tfds` and no train_path is set."""
  front = front_end(data_config, what)
  train_path, eval_path = data_config.get("train_path"), data_config.get("eval_path")
  if train_path:
    train = read_folder(os.path.abspath(train_path), front, what)
  elif use_tfds:
    train = read_tfds(data_config.get("data_dir"), front, what)
  else:
    raise ConfigError(f"{what} needs --config.data.train_path=FOLDER (a folder of WAV files)")
  held = read_folder(os.path.abspath(eval_path), front, what) if eval_path else None
  return train, held, front


def split_rows(clips: Sequence[Clip], data_config, what: str) -> tuple[np.ndarray, np.ndarray]:
  """(train rows, eval rows) of one folder's clips by `config.data.split`."""
  split = data_config.get("split") or (
    "index" if all(c.index is not None for c in clips) else "random"
  )
  if split not in SPLITS:
    raise ConfigError(
      f"{what}: split={split!r} is not one of {SPLITS}; set --config.data.split "
      "(or give --config.data.eval_path)"
    )
  rows = np.arange(len(clips))
  if split == "random":
    fraction = default_if_none(data_config.get("eval_fraction"), DEFAULT_EVAL_FRACTION)
    return arrays.holdout_split(len(clips), fraction, what)
  if split == "index":
    missing = [c for c in clips if c.index is None]
    if missing:
      raise ConfigError(
        f"{what}: split=index needs LABEL_SPEAKER_INDEX.wav names, but {missing[0].source} has "
        "no index; use --config.data.split=random or speaker"
      )
    held = np.array([c.index < FSDD_TEST_INDICES for c in clips])
  else:
    wanted = {s.strip() for s in str(data_config.get("eval_speakers") or "").split(",")}
    wanted.discard("")
    speakers = sorted({c.speaker for c in clips if c.speaker})
    unknown = sorted(wanted - set(speakers))
    if not wanted or unknown:
      raise ConfigError(
        f"{what}: split=speaker holds out --config.data.eval_speakers, which names "
        f"{sorted(unknown) or 'nobody'}; name one or more of {speakers}"
      )
    held = np.array([c.speaker in wanted for c in clips])
  if held.all() or not held.any():
    raise ConfigError(
      f"{what}: split={split} leaves an empty train or eval part; use another split or "
      "give --config.data.eval_path"
    )
  return rows[~held], rows[held]


def train_and_eval(data_config, what: str, use_tfds: bool):
  """(front, train part, eval part, labels) with every check done; a part is a tuple of
  lists (clips, waveforms, features)."""
  source, held, front = load_source(data_config, what, use_tfds)
  if held is None:
    train_rows, eval_rows = split_rows(source[0], data_config, what)
    parts = [tuple([column[i] for i in r] for column in source) for r in (train_rows, eval_rows)]
  else:
    parts = [tuple(list(column) for column in source), tuple(list(column) for column in held)]
  labels = sorted({c.label for c in parts[0][0]})
  if len(labels) < 2:
    raise ConfigError(
      f"{what}: the training recordings have one class ({labels[0]!r}); a classifier needs "
      "two or more: add recordings of other labels"
    )
  unknown = [c for c in parts[1][0] if c.label not in labels]
  if unknown:
    raise ConfigError(
      f"{what}: {unknown[0].source} has label {unknown[0].label!r}, which no training "
      f"recording has ({', '.join(labels)}); remove it or add training recordings of it"
    )
  return front, parts[0], parts[1], labels


def normalizer(mode: str, train_feats: Sequence[np.ndarray], what: str):
  """The feature normalisation `mode` as a function of one clip's T x M features."""
  if mode not in NORMALIZE:
    raise ConfigError(
      f"{what}: normalize={mode!r} is not one of {NORMALIZE}; set --config.data.normalize"
    )
  if mode == "utterance":
    return audio.normalize_utterance
  if mode == "mean":  # cepstral mean normalisation: each band's mean over the clip removed
    return lambda x: (x - x.mean(axis=0, keepdims=True)).astype(np.float32)
  if mode == "none":
    return lambda x: x
  stacked = np.concatenate(list(train_feats))
  mean_M, std_M = stacked.mean(axis=0), np.maximum(stacked.std(axis=0), 1e-3)
  return lambda x: ((x - mean_M) / std_M).astype(np.float32)


def pad_features(feats: Sequence[np.ndarray], width: int | None = None) -> Batch:
  """inputs B x T x M (T = the bucket of the longest, or `width`) and lengths of feature arrays."""
  lengths_B = np.array([len(f) for f in feats], np.int32)
  width = width or audio.bucket(int(lengths_B.max()))
  x_BxTxM = np.zeros((len(feats), width, feats[0].shape[1]), np.float32)
  for i, f in enumerate(feats):
    x_BxTxM[i, : len(f)] = f
  return {"inputs": x_BxTxM, "lengths": lengths_B}


class AudioClassifyTask(arrays.ExampleTask):
  """One label per recording; features padded to the batch's bucket (see the module docstring)."""

  def __init__(
    self,
    seed: int,
    train: tuple[Sequence[np.ndarray], np.ndarray],
    evaluation: tuple[Sequence[np.ndarray], np.ndarray],
    labels: Sequence[str],
    augment: tuple[int, int, float] = (0, 0, 0.0),
    waves: TrainWaves | None = None,
  ):
    self.feats = {"train": list(train[0]), "eval": list(evaluation[0])}
    self.targets = {"train": np.asarray(train[1], np.int32), "eval": np.asarray(evaluation[1])}
    self.labels, self.augment, self.waves = list(labels), augment, waves
    longest = max(len(f) for f in self.feats["train"] + self.feats["eval"])
    if waves is not None:
      longest = max(longest, waves.longest_frames())
    spec = TaskSpec(
      kind="classify",
      num_outputs=len(labels),
      seq_len=audio.bucket(longest),
      input_dim=self.feats["train"][0].shape[1],
    )
    super().__init__(spec, seed, len(self.feats["train"]), len(self.feats["eval"]))

  def eval_order(self) -> np.ndarray:
    return np.argsort([len(f) for f in self.feats["eval"]], kind="stable")

  def collate(self, split: str, rows: np.ndarray, feats=None) -> Batch:
    """The batch of `rows`; `feats`, when given, replace their stored features."""
    batch = pad_features(feats or [self.feats[split][r] for r in rows])
    batch["targets"] = self.targets[split][rows].astype(np.int32)
    batch["weights"] = np.ones(len(rows), np.float32)
    return batch

  def train_batch(self, step: int, batch_size: int) -> Batch:
    rows = arrays.epoch_rows(self.seed, step, batch_size, self.num_train)
    feats = None
    if self.waves is not None:
      feats = self.waves.features(rows, rng_for(self.seed, WAVE_STREAM, step))
    batch = self.collate("train", rows, feats)
    if any(self.augment):
      rng = rng_for(self.seed, AUGMENT_STREAM, step)
      batch["inputs"] = spec_augment(batch["inputs"], batch["lengths"], rng, *self.augment)
    return batch


def _classify_task(what: str, use_tfds: bool):
  def factory(data_config, seed: int) -> Task:
    front, (train_clips, train_waves, train_feats), (eval_clips, _, eval_feats), labels = (
      train_and_eval(data_config, what, use_tfds)
    )
    norm = normalizer(data_config.get("normalize", "utterance"), train_feats, what)
    wave_aug = wave_augmentation(data_config, what)
    index = {label: i for i, label in enumerate(labels)}
    n_eval = arrays.cap_eval(len(eval_clips), data_config.get("eval_size"), what)
    task = AudioClassifyTask(
      seed,
      ([norm(f) for f in train_feats], [index[c.label] for c in train_clips]),
      ([norm(f) for f in eval_feats[:n_eval]], [index[c.label] for c in eval_clips[:n_eval]]),
      labels,
      augmentation(data_config, what),
      TrainWaves(wave_aug, train_waves, front, norm) if wave_aug else None,
    )
    task.clips = {"train": train_clips, "eval": eval_clips[:n_eval]}
    return task

  register(what, AUDIO_DEFAULTS)(factory)


_classify_task("spoken_digit", use_tfds=True)
_classify_task("audio_files", use_tfds=False)
