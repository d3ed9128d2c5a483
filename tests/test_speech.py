"""Speech: the WAV reader and its refusals, the log-mel front end against a numpy reference,
the spoken-digit and digit-string tasks on synthetic tones written to a tmp folder (and a mocked
tfds), CTC against a brute-force sum over alignments, greedy decoding and edit distance, the
crnn (strides, padding invariance, pinned sizes) and runs end to end."""

import functools
import itertools
import json
import math
import os
import wave

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from cnnrnn_jax import audio, conv2d, metrics, models, selection, speech_report, tasks, train
from cnnrnn_jax.configs import default, speech
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import TaskSpec, audio_augment
from cnnrnn_jax.tasks import audio as audio_task
from experiments import score

RATE = 8000
TONES = {"0": 400.0, "1": 1000.0, "2": 2200.0}  # label -> tone frequency (Hz)


def write_wav(path, samples, rate=RATE, channels=1, width=2):
  """Writes integer samples (N, or N x channels) as a PCM WAV of `width` bytes per sample."""
  data = np.asarray(samples)
  with wave.open(str(path), "wb") as f:
    f.setnchannels(channels)
    f.setsampwidth(width)
    f.setframerate(rate)
    if width == 3:
      as32 = data.astype("<i4").reshape(-1)
      f.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in as32))
    else:
      f.writeframes(data.astype("<i2").tobytes())


def tone(freq, seconds, rate=RATE, phase=0.0):
  t = np.arange(int(seconds * rate)) / rate
  return (0.5 * 32767 * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)


@pytest.fixture
def tone_folder(tmp_path):
  """FSDD-style LABEL_SPEAKER_INDEX.wav tones: 3 labels x 2 speakers x 8 indices."""
  folder = tmp_path / "tones"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for label, freq in TONES.items():
    for speaker, shift in (("ann", 1.0), ("bob", 1.06)):
      for index in range(8):
        seconds = 0.15 + 0.1 * rng.random()
        samples = tone(freq * shift, seconds, phase=rng.random() * 6)
        write_wav(folder / f"{label}_{speaker}_{index}.wav", samples)
  return folder


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


# ---------------------------------------------------------------------------------------------
# The WAV reader and its refusals


@pytest.mark.parametrize(
  "make, message",
  [
    (lambda p: p.write_bytes(b"not a wav at all"), "not a PCM WAV file"),
    (lambda p: p.write_bytes(b""), r"not a PCM WAV file \(the file ends inside its header\)"),
    (lambda p: write_wav(p, np.zeros((100, 2), np.int16) + 5, channels=2), "2 channels"),
    (lambda p: write_wav(p, np.full(300, 5), width=3), "24-bit samples"),
    (lambda p: write_wav(p, np.zeros(0, np.int16)), "holds no samples"),
    (lambda p: write_wav(p, np.zeros(400, np.int16)), "silent recording"),
  ],
)
def test_read_wav_refuses_bad_files_naming_them(tmp_path, make, message):
  path = tmp_path / "0_x_0.wav"
  make(path)
  with pytest.raises(ConfigError, match=message) as e:
    audio.read_wav(str(path))
  assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_read_wav_scales_16_bit_samples(tmp_path):
  write_wav(tmp_path / "a.wav", np.array([0, 16384, -32768, 32767]))
  x, rate = audio.read_wav(str(tmp_path / "a.wav"))
  assert rate == RATE and x.dtype == np.float32
  np.testing.assert_allclose(x, [0.0, 0.5, -1.0, 32767 / 32768])


# ---------------------------------------------------------------------------------------------
# The front end against an independent numpy reference


def reference_log_mel(x, rate, n_mels):
  """Log-mel of x by explicit loops in float64: the reference the JAX front end must match."""
  window, hop = int(0.025 * rate), int(0.010 * rate)
  n_fft = 2 ** math.ceil(math.log2(window))
  hann = np.array(
    [0.5 - 0.5 * math.cos(2 * math.pi * (n + 1) / (window + 1)) for n in range(window)]
  )
  mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
  inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
  top = mel(rate / 2)
  edges = [inv(top * i / (n_mels + 1)) for i in range(n_mels + 2)]
  out = []
  for start in range(0, len(x) - window + 1, hop):
    frame = x[start : start + window] * hann
    power = np.abs(np.fft.rfft(frame, n_fft)) ** 2 / window
    bands = []
    for m in range(n_mels):
      lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
      total = 0.0
      for k, p in enumerate(power):
        f = k * rate / n_fft
        weight = (f - lo) / (mid - lo) if f <= mid else (hi - f) / (hi - mid)
        total += max(weight, 0.0) * p
      bands.append(math.log(max(total, audio.LOG_FLOOR)))
    out.append(bands)
  return np.array(out)


def test_log_mel_matches_a_numpy_reference_on_a_chirp():
  t = np.arange(1600) / RATE
  chirp = (0.4 * np.sin(2 * np.pi * (100 * t + 0.5 * 3500 / 0.2 * t**2))).astype(np.float32)
  front = audio.FrontEnd(n_mels=16)
  got = np.asarray(audio.log_mel(jnp.asarray(chirp), front, front.num_frames(len(chirp))))
  want = reference_log_mel(chirp.astype(np.float64), RATE, 16)
  assert got.shape == want.shape == (18, 16)
  np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_a_pure_tone_peaks_in_the_mel_band_around_its_frequency(freq):
  front = audio.FrontEnd()
  x = tone(freq, 0.2).astype(np.float32) / 32768
  feats = audio.featurize([x], front)[0]
  assert feats.shape == (front.num_frames(len(x)), 40)
  band = int(np.argmax(feats.mean(axis=0)))
  edges = audio.mel_to_hz(np.linspace(0, audio.hz_to_mel(RATE / 2), 42))
  assert edges[band] <= freq <= edges[band + 2]  # inside the peak band's triangle


@pytest.mark.slow
def test_mfcc_is_the_orthonormal_dct_of_log_mel():
  basis = audio.dct_matrix(40, 40)
  np.testing.assert_allclose(basis.T @ basis, np.eye(40), atol=1e-5)
  x = jnp.asarray(tone(700.0, 0.1).astype(np.float32) / 32768)
  mel = audio.log_mel(x, audio.FrontEnd(), 8)
  mfcc = audio.log_mel(x, audio.FrontEnd(features="mfcc"), 8)
  np.testing.assert_allclose(mfcc, mel @ basis[:, :13], rtol=1e-4, atol=1e-3)


def test_resampling_keeps_a_tone_at_its_frequency():
  x = tone(500.0, 0.5, rate=16000).astype(np.float32)
  y = audio_task.resample(x, 16000, RATE)
  assert len(y) == 4000
  spectrum = np.abs(np.fft.rfft(y))
  assert abs(np.argmax(spectrum) * RATE / len(y) - 500.0) < 3.0


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_change_speed_scales_duration_and_frequency_together(factor):
  x = tone(1000.0, 0.5).astype(np.float32) / 32768.0
  y = audio_augment.change_speed(x, factor)
  assert len(y) == round(4000 / factor)
  spectrum = np.abs(np.fft.rfft(y))
  assert abs(np.argmax(spectrum) * RATE / len(y) - 1000.0 * factor) < 3.0
  assert abs(np.abs(y).max() - np.abs(x).max()) < 0.05  # the loudness stays


def test_low_pass_removes_a_tone_above_its_cutoff_and_keeps_one_below():
  low, high = (tone(f, 0.5).astype(np.float32) / 32768.0 for f in (1000.0, 3000.0))
  np.testing.assert_allclose(audio_augment.low_pass(low + high, 2000.0, RATE), low, atol=1e-4)


def test_add_noise_hits_its_signal_to_noise_ratio():
  x = tone(500.0, 1.0).astype(np.float32) / 32768.0
  noise = audio_augment.add_noise(x, 20.0, np.random.default_rng(0)) - x
  snr = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
  assert abs(snr - 20.0) < 0.2


# ---------------------------------------------------------------------------------------------
# The classification task: splits, eval_path, bad folders, augmentation


def test_splits_by_index_speaker_and_random(tone_folder):
  task = tasks.build("audio_files", data(train_path=str(tone_folder)), seed=0)
  assert task.spec.kind == "classify" and task.spec.num_outputs == 3
  assert task.labels == ["0", "1", "2"] and task.spec.input_dim == 40
  assert task.num_eval == 3 * 2 * 5 and all(c.index < 5 for c in task.clips["eval"])
  task = tasks.build(
    "audio_files", data(train_path=str(tone_folder), split="speaker", eval_speakers="bob"), 0
  )
  assert {c.speaker for c in task.clips["eval"]} == {"bob"}
  assert {c.speaker for c in task.clips["train"]} == {"ann"}
  task = tasks.build("audio_files", data(train_path=str(tone_folder), split="random"), 0)
  assert task.num_eval == round(0.1 * 48) and task.num_train == 48 - task.num_eval
  batch = task.train_batch(3, 8)
  assert batch["inputs"].shape[1] in (32, 64) and batch["inputs"].shape[2] == 40
  assert (batch["lengths"] <= batch["inputs"].shape[1]).all()
  padded = np.arange(batch["inputs"].shape[1])[None, :] >= batch["lengths"][:, None]
  assert not batch["inputs"][padded].any()
  np.testing.assert_array_equal(batch["inputs"], task.train_batch(3, 8)["inputs"])


def test_eval_path_scores_a_new_speaker_and_subfolders_carry_labels(tone_folder, tmp_path):
  new = tmp_path / "new_speaker"
  for label, freq in TONES.items():
    (new / label).mkdir(parents=True)
    write_wav(new / label / "take.wav", tone(freq * 0.95, 0.2))
  task = tasks.build("audio_files", data(train_path=str(tone_folder), eval_path=str(new)), seed=0)
  assert task.num_train == 48 and task.num_eval == 3
  assert sorted(c.label for c in task.clips["eval"]) == ["0", "1", "2"]


def test_band_warp_moves_a_peak_by_its_factor():
  x = np.zeros((3, 40), np.float32)
  x[:, 20] = 1.0
  np.testing.assert_array_equal(audio_augment.warp_bands(x, 1.0), x)
  assert np.argmax(audio_augment.warp_bands(x, 1.1)[0]) == 22  # band 22 reads 22 / 1.1 = 20
  assert np.argmax(audio_augment.warp_bands(x, 0.9)[0]) == 18


def test_spec_augment_masks_only_training_batches_reproducibly(tone_folder):
  knobs = data(train_path=str(tone_folder), freq_masks=2, time_masks=2, freq_warp=0.1)
  task = tasks.build("audio_files", knobs, seed=0)
  plain = tasks.build("audio_files", data(train_path=str(tone_folder)), seed=0)
  a, b = task.train_batch(5, 8), plain.train_batch(5, 8)
  assert (a["inputs"] == 0).sum() > (b["inputs"] == 0).sum()
  np.testing.assert_array_equal(a["inputs"], task.train_batch(5, 8)["inputs"])
  np.testing.assert_array_equal(
    next(task.eval_batches(8))["inputs"], next(plain.eval_batches(8))["inputs"]
  )


@pytest.mark.slow
def test_wave_augmentation_changes_only_training_features_reproducibly(tone_folder):
  knobs = data(train_path=str(tone_folder), speed_perturb=0.2, noise_snr=10.0, lowpass_hz=2e3)
  task = tasks.build("audio_files", knobs, seed=0)
  plain = tasks.build("audio_files", data(train_path=str(tone_folder)), seed=0)
  a, b = task.train_batch(5, 8), plain.train_batch(5, 8)
  np.testing.assert_array_equal(a["targets"], b["targets"])  # the same recordings
  assert (a["lengths"] != b["lengths"]).any() and a["inputs"].shape[1] <= task.spec.seq_len
  padded = np.arange(a["inputs"].shape[1])[None, :] >= a["lengths"][:, None]
  assert not a["inputs"][padded].any()
  np.testing.assert_array_equal(a["inputs"], task.train_batch(5, 8)["inputs"])
  np.testing.assert_array_equal(
    next(task.eval_batches(8))["inputs"], next(plain.eval_batches(8))["inputs"]
  )
  strings = data(train_path=str(tone_folder), max_digits=3, eval_size=4)
  fast = tasks.build("digit_strings", data(**{**strings, "speed_perturb": 0.2}), seed=0)
  noisy = tasks.build("digit_strings", data(**{**strings, "noise_snr": 10.0}), seed=0)
  s, t = fast.train_batch(1, 4), tasks.build("digit_strings", strings, 0).train_batch(1, 4)
  np.testing.assert_array_equal(s["targets"], t["targets"])
  assert (s["lengths"] != t["lengths"]).any()
  np.testing.assert_array_equal(s["inputs"], fast.train_batch(1, 4)["inputs"])
  n = noisy.train_batch(1, 4)
  np.testing.assert_array_equal(n["lengths"], t["lengths"])  # noise keeps the lengths
  assert not np.array_equal(n["inputs"], t["inputs"])


def test_bad_folders_are_one_line_errors_naming_the_file(tone_folder, tmp_path):
  def build(path, **knobs):
    with pytest.raises(ConfigError) as e:
      tasks.build("audio_files", data(train_path=str(path), **knobs), seed=0)
    assert "\n" not in str(e.value)
    return str(e.value)

  write_wav(tone_folder / "nolabel.wav", tone(500.0, 0.1))
  assert "nolabel.wav has no label" in build(tone_folder)
  os.remove(tone_folder / "nolabel.wav")
  write_wav(tone_folder / "1_ann_99.wav", tone(500.0, 0.01))
  assert "1_ann_99.wav is 80 samples long, shorter than one 25 ms window" in build(tone_folder)
  os.remove(tone_folder / "1_ann_99.wav")
  assert "names nobody" in build(tone_folder, split="speaker")
  assert "['zed']" in build(tone_folder, split="speaker", eval_speakers="zed")
  one = tmp_path / "one"
  one.mkdir()
  for i in range(6):
    write_wav(one / f"7_ann_{i}.wav", tone(500.0, 0.1))
  assert "one class ('7')" in build(one)
  (one / "notes.txt").write_text("a recording log")  # skipped with a log line, not an error
  assert "one class" in build(one)


# ---------------------------------------------------------------------------------------------
# Digit strings and CTC


def test_digit_strings_join_utterances_into_ctc_targets(tone_folder):
  knobs = data(train_path=str(tone_folder), max_digits=3, eval_size=5)
  task = tasks.build("digit_strings", knobs, seed=0)
  assert task.spec.kind == "ctc" and task.spec.num_outputs == 11
  batch = task.train_batch(0, 6)
  assert batch["targets"].shape == (6, 3)
  k_B = (batch["targets"] > 0).sum(axis=1)
  assert ((k_B >= 1) & (k_B <= 3)).all()
  for row in batch["targets"]:  # digits first, then padding
    assert (row[: (row > 0).sum()] > 0).all() and set(row[row > 0]) <= {1, 2, 3}
  assert (batch["lengths"] >= 15 * k_B).all()  # each tone is >= 0.15 s = 13+ frames
  np.testing.assert_array_equal(batch["inputs"], task.train_batch(0, 6)["inputs"])
  evals = list(task.eval_batches(4))
  assert len(evals) == 2 and evals[1]["weights"].tolist() == [1, 0, 0, 0]


def brute_force_ctc(log_probs_TxK, label):
  """-log of the total probability of every alignment that collapses to `label`."""
  T, K = log_probs_TxK.shape
  total = 0.0
  for path in itertools.product(range(K), repeat=T):
    collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
    if collapsed == list(label):
      total += math.exp(sum(log_probs_TxK[t, c] for t, c in enumerate(path)))
  return -math.log(total)


@pytest.mark.slow
@pytest.mark.parametrize("label", [(1,), (1, 2), (2, 2), (1, 2, 1)])
def test_optax_ctc_loss_equals_a_brute_force_sum_over_alignments(label):
  logits = jax.random.normal(jax.random.PRNGKey(len(label)), (1, 5, 3))
  labels = jnp.array([list(label) + [0] * (3 - len(label))])
  loss = optax.ctc_loss(logits, jnp.zeros((1, 5)), labels, (labels == 0).astype(jnp.float32))
  want = brute_force_ctc(np.asarray(jax.nn.log_softmax(logits[0]), np.float64), label)
  np.testing.assert_allclose(float(loss[0]), want, rtol=1e-4)


def levenshtein(a, b):
  row = list(range(len(b) + 1))
  for i, x in enumerate(a, 1):
    prev, row[0] = row[0], i
    for j, y in enumerate(b, 1):
      prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
  return row[-1]


@pytest.mark.slow
def test_greedy_decoding_and_edit_distance_match_python():
  rng = np.random.default_rng(0)
  frames_BxT = rng.integers(0, 4, size=(40, 9))
  lengths_B = rng.integers(1, 10, size=40)
  refs_BxS = np.zeros((40, 4), np.int32)
  for b in range(40):
    k = rng.integers(1, 5)
    refs_BxS[b, :k] = rng.integers(1, 4, size=k)
  logits = jax.nn.one_hot(frames_BxT, 4) * 5.0
  best, emit = metrics.greedy_decode(logits, jnp.asarray(lengths_B))
  errors = jax.vmap(metrics.edit_distance)(best, emit, jnp.asarray(refs_BxS))
  for b in range(40):
    path = frames_BxT[b, : lengths_B[b]].tolist()
    hyp = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
    assert np.asarray(best[b])[np.asarray(emit[b])].tolist() == hyp
    assert int(errors[b]) == levenshtein(hyp, [r for r in refs_BxS[b] if r])


@pytest.mark.slow
def test_ctc_sums_and_the_label_error_rate():
  spec = TaskSpec(kind="ctc", num_outputs=3, seq_len=8, input_dim=2)
  frames = np.array([[1, 1, 0, 2, 0, 0], [1, 0, 1, 0, 0, 0]])  # decodes to 1 2 and 1 1
  batch = {
    "inputs": np.zeros((2, 12, 2), np.float32),  # stride 2: 12 input frames -> 6 outputs
    "lengths": np.array([12, 7]),  # the second row has ceil(7 / 2) = 4 output frames
    "targets": np.array([[1, 2, 0], [1, 2, 2]]),
    "weights": np.ones(2, np.float32),
  }
  sums_of = jax.jit(lambda logits, batch: metrics.loss_and_sums(spec, logits, batch)[1])
  sums = sums_of(jax.nn.one_hot(frames, 3) * 9.0, batch)
  out = metrics.summarize(spec, sums)
  assert out["string_accuracy"] == 0.5
  assert out["label_error_rate"] == pytest.approx(2 / 5)  # two substitutions-or-deletions
  assert metrics.headline(spec) == "label_error_rate" and not selection.higher_is_better(spec)


# ---------------------------------------------------------------------------------------------
# The crnn and the other models on frames x mel bands


@pytest.mark.slow
def test_strided_conv_forms_equal_forward_and_backward():
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  kernel, bias = jax.random.normal(keys[0], (3, 3, 2, 3)), jax.random.normal(keys[1], (3,))
  x = jax.random.normal(keys[2], (9, 8, 2))

  def loss(impl):
    return lambda k: jnp.sum(conv2d.convnd(k, bias, x, "same", impl, (2, 2)) ** 2)

  ys = [conv2d.convnd(kernel, bias, x, "same", impl, (2, 2)) for impl in conv2d.IMPLS]
  grads = [jax.grad(loss(impl))(kernel) for impl in conv2d.IMPLS]
  assert ys[0].shape == (5, 4, 3)
  for y, g in zip(ys[1:], grads[1:]):
    np.testing.assert_allclose(y, ys[0], atol=1e-5)
    np.testing.assert_allclose(g, grads[0], atol=1e-4)


SPEECH_SPEC = TaskSpec(kind="classify", num_outputs=10, seq_len=256, input_dim=40)
PINNED = {
  "crnn": 93130,
  "cnn": 101290,
  "gru": 81418,
  "lstm": 85690,
  "cnn_lstm": 93418,
  "tcn": 85402,
  "transformer": 108410,
  "lru": 108410,
}


def test_variants_set_their_data_settings_on_any_preset():
  spk = speech.get_config("cnn_lstm_spk,strings")
  assert (spk.model, spk.task, spk.data.features) == ("cnn_lstm", "digit_strings", "mfcc")
  assert spk.data.speed_perturb == 0.1 and spk.data.noise_snr == 10.0
  assert spk.data.normalize == "mean"
  assert speech.get_config("crnn_aug").data.freq_masks == 2
  assert speech.get_config("crnn").data.speed_perturb == 0.0
  with pytest.raises(ValueError, match="VARIANT in \\['aug', 'spk'\\]"):
    speech.get_config("crnn_loud")


@pytest.mark.slow
def test_preset_parameter_counts_are_pinned():
  for preset, count in PINNED.items():
    config = speech.get_config(preset)
    model = models.build_model(config.model, config.arch, SPEECH_SPEC)
    assert models.parameter_counts(model)[0] == count, preset


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classify", "ctc"])
def test_every_preset_runs_on_frames_x_mel_bands(kind):
  spec = TaskSpec(kind=kind, num_outputs=11, seq_len=32, input_dim=40)
  x, lengths = jax.ShapeDtypeStruct((2, 32, 40), jnp.float32), jnp.array([10, 32])
  for preset in PINNED:
    config = speech.get_config(preset)
    model = models.build_model(config.model, config.arch, spec)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(1), x, lengths)
    out, _ = jax.eval_shape(functools.partial(model.apply, lengths_B=lengths), params, x)
    frames = 32 // 4 if preset == "crnn" else 32
    assert out.shape == ((2, 11) if kind == "classify" else (2, frames, 11)), preset


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classify", "ctc"])
def test_crnn_is_padding_invariant(kind):
  spec = TaskSpec(kind=kind, num_outputs=11, seq_len=16, input_dim=12)
  config = speech.get_config("crnn")
  config.arch.hidden, config.arch.crnn_filters = 8, (4, 4)
  model = models.build_model("crnn", config.arch, spec)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 12))
  lengths = jnp.array([9, 16])
  params = jax.jit(model.init)(jax.random.PRNGKey(1), x, lengths)
  apply = jax.jit(lambda x: model.apply(params, x, lengths)[0])
  out, out_noisy = apply(x), apply(x.at[0, 9:].set(7.0))  # garbage past row 0's length
  if kind == "ctc":  # the frames within ceil(9 / 4) = 3 of the first row
    out, out_noisy = out[:, :3], out_noisy[:, :3]
  np.testing.assert_allclose(out_noisy, out, atol=1e-5)
  short, _ = jax.jit(model.apply)(params, x[:, :12], lengths.at[1].set(12))  # a shorter bucket
  np.testing.assert_allclose(short[0, :3] if kind == "ctc" else short[0], out[0], atol=1e-5)


@pytest.mark.slow
def test_crnn_shortens_lengths_by_its_time_stride():
  config = speech.get_config("crnn")
  model = models.build_model("crnn", config.arch, SPEECH_SPEC)
  x, lengths = jnp.zeros((2, 32, 40)), jnp.array([32, 9])
  params = jax.jit(model.init)(jax.random.PRNGKey(0), x, lengths)
  _, aux = jax.jit(model.apply)(params, x, lengths)
  assert aux["frame_lengths"].tolist() == [8, 3]
  assert [m.shape for m in aux["conv_maps"]] == [(2, 16, 20, 16), (2, 8, 10, 32)]
  with pytest.raises(ConfigError, match="crnn convolves frames"):
    models.build_model(
      "crnn", config.arch, TaskSpec(kind="classify", num_outputs=2, seq_len=8, vocab_size=5)
    )


# ---------------------------------------------------------------------------------------------
# End to end


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["crnn", "crnn,strings"])
def test_train_and_evaluate_on_tones(tone_folder, tmp_path, preset):
  config = speech.get_config(preset)
  config.data.train_path = str(tone_folder)
  config.data.normalize = "global"  # per-band CMVN flattens a steady tone to zeros
  config.data.max_digits = 2
  config.data.eval_size = 8
  config.arch.hidden = 16
  config.arch.crnn_filters = (8, 8)
  config.batch_size = 8
  config.train_steps = 40 if preset == "crnn" else 2
  config.eval_every = config.checkpoint_every = config.train_steps
  config.log_every = config.train_steps
  out = train.train_and_evaluate(config, str(tmp_path / "w"))
  if preset == "crnn":
    assert out["accuracy"] > 0.6  # three tones are easy (chance: 1/3)
    new = tmp_path / "new_speaker"  # scored by the trained run, nothing trained again
    for label, freq in TONES.items():
      (new / label).mkdir(parents=True)
      write_wav(new / label / "take.wav", tone(freq * 0.97, 0.2))
    scored = score.score(str(tmp_path / "w"), str(new))
    assert set(scored) >= {"accuracy", "loss"} and scored["accuracy"] in (0, 1 / 3, 2 / 3, 1)
  else:
    assert 0.0 <= out["label_error_rate"] and "string_accuracy" in out
    scored = score.score(str(tmp_path / "w"), None, ["min_digits=2", "max_digits=2"])
    assert set(scored) >= {"label_error_rate", "string_accuracy", "loss"}
    with pytest.raises(ConfigError, match="no field 'digits'"):
      score.score(str(tmp_path / "w"), None, ["digits=2"])


@pytest.mark.slow
def test_spoken_digit_from_mocked_tfds():
  tfds = pytest.importorskip("tensorflow_datasets")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  names = [f"{d}_{s}_{i}.wav" for d in range(3) for s in ("ann", "bob") for i in range(6)]

  def as_dataset(self, split, **kwargs):
    del self, split, kwargs
    rng = np.random.default_rng(0)
    examples = [
      {
        "audio": tone(300.0 * (int(n[0]) + 1), 0.12 + 0.1 * rng.random()).astype(np.int64),
        "label": int(n[0]),
        "audio/filename": n,
      }
      for n in names
    ]
    return tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={
        "audio": tf.TensorSpec([None], tf.int64),
        "label": tf.TensorSpec([], tf.int64),
        "audio/filename": tf.TensorSpec([], tf.string),
      },
    )

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    task = tasks.build("spoken_digit", data(), seed=0)
  assert task.labels == ["0", "1", "2"] and task.num_eval == 30 and task.num_train == 6
  assert task.clips["eval"][0].source.startswith("spoken_digit:train[")
  assert task.train_batch(0, 4)["inputs"].shape[2] == 40


def test_mean_normalisation_removes_only_each_bands_mean():
  x = np.random.default_rng(0).normal(3.0, 2.0, (50, 4)).astype(np.float32)
  y = audio_task.normalizer("mean", [x], "audio_files")(x)
  np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=0), x.std(axis=0), rtol=1e-5)


def test_knob_errors():
  with pytest.raises(ConfigError, match="features='fft'"):
    audio_task.front_end(ml_collections.ConfigDict({"features": "fft"}), "audio_files")
  with pytest.raises(ConfigError, match="needs --config.data.train_path"):
    tasks.build("audio_files", data(), seed=0)
  for knob, value in (("speed_perturb", 0.5), ("noise_snr", -3.0), ("lowpass_hz", 4000.0)):
    with pytest.raises(ConfigError, match=f"{knob}={value} must be in"):
      audio_augment.wave_augmentation(ml_collections.ConfigDict({knob: value}), "audio_files")


@pytest.mark.slow
def test_speech_tables_come_from_the_runs_files(tmp_path):
  def fake_run(name, model, accuracy=(0.9, 0.8), task="spoken_digit", **data_knobs):
    config = speech.get_config(model + (",strings" if task == "digit_strings" else ""))
    config.data.update(data_knobs)
    metric = "label_error_rate" if task == "digit_strings" else "accuracy"
    for seed in range(len(accuracy)):
      seed_dir = tmp_path / "runs" / name / f"seed_{seed}"
      seed_dir.mkdir(parents=True)
      (seed_dir / "config.json").write_text(config.to_json())
      line = {"step": 200, "split": "train", "seed": seed, "steps_per_sec": 10.0}
      (seed_dir / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    results = {s: {metric: a, "string_accuracy": 0.5} for s, a in enumerate(accuracy)}
    (tmp_path / "runs" / name / "seeds.json").write_text(json.dumps(metrics.seed_summary(results)))

  fake_run("crnn", "crnn")
  fake_run("heldout/gru_theo", "gru", (0.7,), split="speaker", eval_speakers="theo")
  fake_run("heldout/gru_aug_theo", "gru_aug", (0.8,), split="speaker", eval_speakers="theo")
  for speaker, accuracy in (("theo", (0.8, 0.9)), ("nicolas", (0.6, 0.9))):
    knobs = {"split": "speaker", "eval_speakers": speaker}
    fake_run(f"heldout/crnn_spk_{speaker}", "crnn_spk", accuracy, **knobs)
  fake_run("crnn_strings", "crnn", task="digit_strings", accuracy=(0.04,))
  records = speech_report.collect(str(tmp_path / "runs"))
  official = speech_report.official_table(records)
  assert "| crnn | crnn | 85.0 ± 7.1 (2) | 93,130 | 7.0 |" in official  # 2250 / 32 / 10 steps/s
  heldout = speech_report.heldout_table(records)
  assert "| gru | - | - | 70.0 | - | 1 |" in heldout
  assert "| gru_aug | freq_masks=2 time_masks=2 freq_warp=0.1 | - | 80.0 | - | 1 |" in heldout
  # each seed's mean over the speakers: 70.0 and 90.0
  spk = "features=mfcc normalize=mean speed_perturb=0.1 noise_snr=10.0"
  assert f"| crnn_spk | {spk} | 75.0 | 85.0 | 80.0 ± 14.1 | 2 |" in heldout
  assert "| crnn_strings | crnn | 4.0 (1) | 50.0 (1) |" in (speech_report.strings_table(records))
  lengths = tmp_path / "lengths"
  lengths.mkdir()
  scored = {"workdir": "runs/crnn_strings/seed_0", "data": ["min_digits=3", "max_digits=3"]}
  scored.update(label_error_rate=0.02, string_accuracy=0.95, loss=0.1)
  (lengths / "crnn_3.json").write_text(json.dumps(scored))
  assert "| 2.0 / 95.0 |" in speech_report.length_table(str(lengths))
