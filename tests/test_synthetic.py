"""Tests for cnnrnn_jax/tasks/synthetic.py: label rules, batch contracts, config errors."""

import math

import ml_collections
import numpy as np
import pytest

from cnnrnn_jax import tasks
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import synthetic
from cnnrnn_jax.tasks.synthetic import (
  CONTRAST_VOCAB,
  MOTIF_KEY,
  ORDER_A,
  ORDER_B,
  contrast_label,
  decode_ids,
  encode_words,
  motif_label,
  order_label,
)

NAMES = ("motif", "order", "contrast", "adding", "copy_memory")


def data(**knobs) -> ml_collections.ConfigDict:
  """A config.data with all four knobs present (None unless given), as the trainer passes it."""
  return ml_collections.ConfigDict({k: knobs.get(k) for k in synthetic.KNOBS})


def build(name: str, seed: int = 0, **knobs):
  return tasks.build(name, data(**knobs), seed)


# ---------------------------------------------------------------------------------------------
# contracts shared by every task


def test_all_registered():
  assert set(NAMES) <= set(tasks.names())


@pytest.mark.parametrize(
  "name,spec",
  [
    ("motif", tasks.TaskSpec("classify", 2, 64, vocab_size=33)),
    ("order", tasks.TaskSpec("classify", 2, 32, vocab_size=17)),
    ("contrast", tasks.TaskSpec("classify", 2, 10, vocab_size=len(CONTRAST_VOCAB))),
    ("adding", tasks.TaskSpec("regress", 1, 100, input_dim=2, metric="mse", baseline=1 / 6)),
    (
      "copy_memory",
      tasks.TaskSpec("per_step", 9, 120, vocab_size=11, baseline=10 * math.log(8) / 120),
    ),
  ],
)
def test_default_specs(name, spec):
  assert build(name).spec == spec


@pytest.mark.parametrize("name", NAMES)
def test_batch_shapes_and_dtypes(name):
  task = build(name)
  spec, batch = task.spec, task.train_batch(0, 8)
  length = spec.seq_len
  assert set(batch) == {"inputs", "lengths", "targets", "weights"}
  if spec.vocab_size is not None:
    assert batch["inputs"].shape == (8, length) and batch["inputs"].dtype == np.int32
    assert batch["inputs"].min() >= 0 and batch["inputs"].max() < spec.vocab_size
  else:
    assert batch["inputs"].shape == (8, length, spec.input_dim)
    assert batch["inputs"].dtype == np.float32
  assert batch["lengths"].shape == (8,) and batch["lengths"].dtype == np.int32
  target_shape = (8, length) if spec.per_step else (8,)
  target_dtype = np.float32 if spec.kind == "regress" else np.int32
  assert batch["targets"].shape == target_shape and batch["targets"].dtype == target_dtype
  assert batch["weights"].shape == target_shape and batch["weights"].dtype == np.float32
  if spec.kind == "classify":
    assert set(np.unique(batch["targets"])) <= {0, 1}


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
  a, b = build(name, seed=3), build(name, seed=3)
  same, again = a.train_batch(7, 16), b.train_batch(7, 16)
  for key in same:
    np.testing.assert_array_equal(same[key], again[key])
  assert not np.array_equal(same["inputs"], a.train_batch(8, 16)["inputs"])
  assert not np.array_equal(same["inputs"], build(name, seed=4).train_batch(7, 16)["inputs"])


@pytest.mark.parametrize("name", NAMES)
def test_eval_set_fixed_and_padded(name):
  task = build(name, eval_size=50)
  batches = list(task.eval_batches(16))
  assert len(batches) == 4
  assert all(len(b["lengths"]) == 16 for b in batches)
  weights = np.concatenate([b["weights"] for b in batches])
  per_row = weights.reshape(64, -1).max(axis=1)
  np.testing.assert_array_equal(per_row, np.r_[np.ones(50), np.zeros(14)])
  again = list(build(name, eval_size=50).eval_batches(16))
  for first, second in zip(batches, again):
    np.testing.assert_array_equal(first["inputs"], second["inputs"])
  train = task.train_batch(0, 16)
  assert not np.array_equal(batches[0]["inputs"], train["inputs"])


@pytest.mark.parametrize(
  "name", ["motif", "presence", "order", "contrast", "relative_order", "contrast_context"]
)
def test_tokens_fill_exactly_the_valid_part(name):
  task = build(name)
  batch = task.train_batch(0, 256)
  valid = np.arange(task.spec.seq_len)[None, :] < batch["lengths"][:, None]
  np.testing.assert_array_equal(batch["inputs"] != 0, valid)
  assert batch["lengths"].min() < batch["lengths"].max()  # padding is exercised


@pytest.mark.parametrize(
  "name", ["motif", "presence", "order", "contrast", "relative_order", "contrast_context"]
)
def test_labels_balanced(name):
  assert abs(build(name).train_batch(0, 2000)["targets"].mean() - 0.5) < 0.04


@pytest.mark.parametrize("name", ["motif", "presence", "order", "relative_order"])
def test_lengths_span_half_to_full(name):
  task = build(name)
  lengths = task.train_batch(0, 2000)["lengths"]
  assert lengths.min() == task.spec.seq_len // 2 and lengths.max() == task.spec.seq_len


def test_presence_label_is_the_key_anywhere_in_the_valid_part():
  batch = build("presence", seq_len=40).train_batch(0, 500)
  for ids, length, label in zip(batch["inputs"], batch["lengths"], batch["targets"]):
    assert int((ids[:length] == 1).sum()) == label


# ---------------------------------------------------------------------------------------------
# motif


def test_motif_label_rule():
  assert motif_label(np.array([5, 1, 2, 3, 6, 0]), 5) == 1
  assert motif_label(np.array([1, 2, 3]), 3) == 1
  assert motif_label(np.array([3, 2, 1, 2, 4, 3]), 6) == 0  # key tokens, no key n-gram
  assert motif_label(np.array([1, 2, 5, 3, 0, 0]), 4) == 0
  assert motif_label(np.array([4, 5, 1, 2, 3]), 4) == 0  # the key lies past the length
  assert motif_label(np.array([1, 2]), 2) == 0


def test_motif_batches_follow_the_rule_and_negatives_hold_key_tokens():
  batch = build("motif").train_batch(0, 2000)
  ids, lengths, labels = batch["inputs"], batch["lengths"], batch["targets"]
  assert [motif_label(i, n) for i, n in zip(ids, lengths)] == labels.tolist()
  negative_rows = np.flatnonzero(labels == 0)
  assert not any(motif_label(ids[i], lengths[i]) for i in negative_rows)  # no key in negatives
  negatives, positives = ids[labels == 0], ids[labels == 1]
  for token in MOTIF_KEY:
    # Every example holds each key token; per-example counts match across classes.
    assert (negatives == token).any(axis=1).mean() > 0.99
    assert (positives == token).any(axis=1).all()
    count_gap = (negatives == token).sum(1).mean() - (positives == token).sum(1).mean()
    assert abs(count_gap) < 0.1


# ---------------------------------------------------------------------------------------------
# order


def test_order_label_rule():
  assert order_label(np.array([4, ORDER_A, 5, ORDER_B, 0]), 4) == 1
  assert order_label(np.array([ORDER_B, 3, ORDER_A]), 3) == 0
  with pytest.raises(ValueError, match="exactly one A and one B"):
    order_label(np.array([ORDER_A, 3, ORDER_B, 0]), 2)  # B lies past the length


def test_order_batches_follow_the_rule_and_swapping_flips_the_label():
  batch = build("order").train_batch(0, 512)
  for ids, length, label in zip(batch["inputs"], batch["lengths"], batch["targets"]):
    assert order_label(ids, length) == label
    swapped = np.where(ids == ORDER_A, ORDER_B, np.where(ids == ORDER_B, ORDER_A, ids))
    assert order_label(swapped, length) == 1 - label
    np.testing.assert_array_equal(np.sort(swapped), np.sort(ids))  # same bag of tokens


def test_order_bag_is_label_independent():
  batch = build("order").train_batch(0, 4000)
  ids, labels = batch["inputs"], batch["targets"]
  assert ((ids == ORDER_A).sum(1) == 1).all() and ((ids == ORDER_B).sum(1) == 1).all()
  counts = np.stack([(ids == t).sum(1) for t in range(1, 17)], axis=1)
  mean_gap = counts[labels == 1].mean(0) - counts[labels == 0].mean(0)
  assert np.abs(mean_gap).max() < 0.15


@pytest.mark.parametrize("distance", [1, 20, 31])
def test_order_distance_is_exact(distance):
  ids = build("order", distance=distance).train_batch(0, 256)["inputs"]
  gap = np.abs(np.argmax(ids == ORDER_A, 1) - np.argmax(ids == ORDER_B, 1))
  np.testing.assert_array_equal(gap, distance)


def test_order_default_distance_covers_the_range():
  ids = build("order").train_batch(0, 4000)["inputs"]
  gap = np.abs(np.argmax(ids == ORDER_A, 1) - np.argmax(ids == ORDER_B, 1))
  assert gap.min() == 1 and gap.max() == 31


# ---------------------------------------------------------------------------------------------
# contrast


def test_contrast_vocab_encodes_the_lesson_sentences():
  assert CONTRAST_VOCAB[0] == "<pad>" and len(set(CONTRAST_VOCAB)) == len(CONTRAST_VOCAB)
  for text in ["i love this movie", "i love this movie but hate the ending"]:
    ids = encode_words(text)
    assert ids.dtype == np.int32 and (ids > 0).all()
    assert decode_ids(ids) == text.split()
  np.testing.assert_array_equal(
    encode_words("I love this movie!"), encode_words("i love this movie")
  )
  with pytest.raises(ValueError, match=r"words \['popcorn'\] are not in CONTRAST_VOCAB"):
    encode_words("i love popcorn")


def test_contrast_label_rule():
  assert contrast_label("i love this movie".split()) == 1
  assert contrast_label("i love this movie but hate the ending".split()) == 0
  assert contrast_label("the acting was awful yet really quite great music".split()) == 1
  assert contrast_label("i hated the film however loved the music".split()) == 1
  with pytest.raises(ValueError, match="no sentiment word"):
    contrast_label("i love the film but the music".split())


def test_contrast_batches_follow_the_rule_and_first_clause_is_uninformative():
  batch = build("contrast").train_batch(0, 2000)
  first_sentiments = []
  for ids, length, label in zip(batch["inputs"], batch["lengths"], batch["targets"]):
    words = decode_ids(ids[:length])
    assert contrast_label(words) == label
    assert sum(w in synthetic.CONTRAST_WORDS for w in words) == 1
    first_sentiments.append(contrast_label(words[:4]))
  agreement = np.mean(np.array(first_sentiments) == batch["targets"])
  assert abs(agreement - 0.5) < 0.05


@pytest.mark.parametrize("distance", [0, 3, 7])
def test_contrast_distance_is_exact(distance):
  task = build("contrast", distance=distance)
  assert task.spec.seq_len == 8 + distance
  batch = task.train_batch(0, 128)
  for ids, length in zip(batch["inputs"], batch["lengths"]):
    words = decode_ids(ids[:length])
    assert words[4] in synthetic.CONTRAST_WORDS
    assert all(w in synthetic.CONTRAST_FILLERS for w in words[5 : 5 + distance])
    assert words[5 + distance] in synthetic.SENTIMENT


def test_contrast_longer_seq_len_only_pads():
  batch = build("contrast", seq_len=32).train_batch(0, 64)
  assert batch["inputs"].shape == (64, 32) and batch["lengths"].max() == 10
  assert (batch["inputs"][:, 10:] == 0).all()


# ---------------------------------------------------------------------------------------------
# adding


def test_adding_targets_and_constant_baseline():
  task = build("adding")
  batch = task.train_batch(0, 16384)
  inputs, targets = batch["inputs"], batch["targets"]
  markers = inputs[..., 1]
  assert ((markers == 0) | (markers == 1)).all()
  assert (markers[:, :50].sum(1) == 1).all() and (markers[:, 50:].sum(1) == 1).all()
  assert inputs[..., 0].min() >= 0 and inputs[..., 0].max() <= 1
  np.testing.assert_allclose(
    targets[:4], [synthetic.adding_target(x) for x in inputs[:4]], rtol=1e-6
  )
  np.testing.assert_array_equal(batch["lengths"], 100)
  assert abs(np.mean((targets - 1.0) ** 2) - 1 / 6) < 0.01
  assert task.spec.baseline == pytest.approx(0.1667, abs=1e-4)


# ---------------------------------------------------------------------------------------------
# copy memory


def test_copy_memory_layout():
  task = build("copy_memory", distance=5)
  batch = task.train_batch(0, 4)
  assert task.spec.seq_len == 25
  inputs, targets = batch["inputs"], batch["targets"]
  digits = inputs[:, :10] - 1
  assert digits.min() >= 1 and digits.max() <= 8
  np.testing.assert_array_equal(inputs[:, 10:14], 1)  # T - 1 = 4 blanks
  np.testing.assert_array_equal(inputs[:, 14], 10)  # delimiter
  np.testing.assert_array_equal(inputs[:, 15:], 1)
  np.testing.assert_array_equal(targets[:, :15], 0)
  np.testing.assert_array_equal(targets[:, 15:], digits)
  np.testing.assert_array_equal(batch["weights"], 1)


@pytest.mark.parametrize("gap", [5, 100])
def test_copy_memory_memoryless_predictor_reaches_the_baseline(gap):
  task = build("copy_memory", distance=gap)
  assert task.spec.baseline == pytest.approx(10 * math.log(8) / (gap + 20))
  batch = task.train_batch(0, 32)
  length = gap + 20
  # Blank with certainty for the first T + 10 steps, then uniform over the 8 digits.
  probs_LxK = np.zeros((length, 9))
  probs_LxK[: length - 10, 0] = 1
  probs_LxK[length - 10 :, 1:] = 1 / 8
  picked_BxL = probs_LxK[np.arange(length)[None, :], batch["targets"]]
  loss = -np.sum(batch["weights"] * np.log(picked_BxL)) / batch["weights"].sum()
  assert loss == pytest.approx(task.spec.baseline, rel=1e-9)


def test_copy_memory_seq_len_derives_the_gap():
  assert build("copy_memory", seq_len=50).spec.seq_len == 50
  assert build("copy_memory", seq_len=50).spec.baseline == pytest.approx(10 * math.log(8) / 50)
  assert build("copy_memory", seq_len=50, distance=30).spec.seq_len == 50


# ---------------------------------------------------------------------------------------------
# config errors


@pytest.mark.parametrize(
  "name,knobs,message",
  [
    (
      "motif",
      {"seq_len": 5},
      r"^motif: seq_len=5 must be an integer >= 6; set "
      r"--config.data.seq_len",
    ),
    ("motif", {"vocab_size": 3}, r"^motif: vocab_size=3 must be an integer >= 4"),
    ("motif", {"eval_size": 0}, r"^motif: eval_size=0 must be an integer >= 1"),
    (
      "order",
      {"seq_len": 64, "distance": 70},
      r"^order: distance=70 must be < seq_len=64; lower --config.data.distance or raise "
      r"--config.data.seq_len$",
    ),
    ("order", {"distance": 0}, r"^order: distance=0 must be an integer >= 1"),
    ("order", {"vocab_size": 2}, r"^order: vocab_size=2 must be an integer >= 3"),
    ("order", {"seq_len": 1.5}, r"^order: seq_len=1.5 must be an integer >= 2"),
    ("contrast", {"distance": -1}, r"^contrast: distance=-1 must be an integer >= 0"),
    (
      "contrast",
      {"seq_len": 9},
      r"^contrast: seq_len=9 is shorter than the longest sentence \(10 words at distance 2\); "
      r"raise --config.data.seq_len to >= 10 or lower --config.data.distance$",
    ),
    ("contrast", {"seq_len": 12, "distance": 5}, r"seq_len=12 is shorter .* >= 13"),
    ("adding", {"seq_len": 1}, r"^adding: seq_len=1 must be an integer >= 2"),
    (
      "copy_memory",
      {"seq_len": 50, "distance": 10},
      r"^copy_memory: seq_len=50 must be distance \+ 20 = 30; leave --config.data.seq_len "
      r"unset or set it to 30$",
    ),
    ("copy_memory", {"seq_len": 20}, r"^copy_memory: seq_len=20 must be an integer >= 21"),
    ("copy_memory", {"distance": 0}, r"^copy_memory: distance=0 must be an integer >= 1"),
  ],
)
def test_config_errors(name, knobs, message):
  with pytest.raises(ConfigError, match=message) as error:
    build(name, **knobs)
  assert "\n" not in str(error.value)
