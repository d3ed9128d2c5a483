"""tasks/clean.py: probes where no single (token, position) predicts the label."""

import numpy as np
import pytest

from cnnrnn_jax import tasks
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import clean
from cnnrnn_jax.tasks.synthetic import OrderTask

N = 20_000  # the leak estimate's noise floor at this size is ~0.52 (a max over positions)


def _batch(task, n=N, seed=1):
  return task.generate(np.random.default_rng(seed), n)


def test_position_leak_finds_the_plain_order_probe_at_its_longest_distance():
  """At D = L - 1 the markers sit at the two ends: the first token alone gives the label."""
  leaky = _batch(OrderTask(0, seq_len=32, distance=31))
  assert clean.position_leak(leaky["inputs"], leaky["targets"]) == 1.0


@pytest.mark.parametrize(
  "task",
  [
    clean.RelativeOrderTask(0),
    clean.RelativeOrderTask(0, seq_len=64, distance=51),
    clean.ContrastContextTask(0, seq_len=64),
    clean.ContrastContextTask(0, seq_len=64, distance=18),
  ],
  ids=["relative_order", "relative_order-longest", "contrast_context", "contrast_context-18"],
)
def test_no_position_gives_the_label_away(task):
  batch = _batch(task)
  assert clean.position_leak(batch["inputs"], batch["targets"]) < 0.53
  assert abs(batch["targets"].mean() - 0.5) < 0.02


def test_relative_order_labels_distances_and_margins():
  task = clean.RelativeOrderTask(0, seq_len=40)
  batch = _batch(task, 2000)
  distances = []
  for ids, length, label in zip(batch["inputs"], batch["lengths"], batch["targets"]):
    assert clean.relative_order_label(ids, length, task.vocab) == label
    (a,), (b,) = np.flatnonzero(ids == clean.ORDER_A), np.flatnonzero(ids == clean.ORDER_B)
    assert min(a, b) >= clean.MARGIN and max(a, b) < length - clean.MARGIN
    assert np.all(ids[length:] == 0) and np.all(ids[:length] > 0)
    distances.append(abs(a - b))
  assert min(distances) == 1 and max(distances) == task.max_distance == 40 - 2 * clean.MARGIN - 1
  assert np.mean(np.array(distances) <= 3) > 0.3  # log-uniform: short ones are common
  fixed = _batch(clean.RelativeOrderTask(0, seq_len=40, distance=5), 200)
  a_B, b_B = (
    (fixed["inputs"] == clean.ORDER_A).argmax(1),
    (fixed["inputs"] == clean.ORDER_B).argmax(1),
  )
  assert np.all(np.abs(a_B - b_B) == 5)


def test_relative_order_voice_flips_the_label():
  """The same marker order is label 1 in one voice and 0 in the other."""
  active = np.array([3] * 6 + [clean.ORDER_A, 3, clean.ORDER_B] + [4] * 6)
  passive = np.where(active > clean.ORDER_B, active + 7, active)
  assert clean.relative_order_label(active, len(active), 16) == 1
  assert clean.relative_order_label(passive, len(passive), 16) == 0


def test_contrast_context_labels_and_distances():
  task = clean.ContrastContextTask(0, seq_len=64, distance=7)
  batch = _batch(task, 500)
  after = before = 0
  for ids, length, label in zip(batch["inputs"], batch["lengths"], batch["targets"]):
    words = [clean.CONTEXT_VOCAB[i] for i in ids[:length]]
    assert clean.contrast_context_label(words) == label
    (cut,) = [i for i, w in enumerate(words) if w in clean.CONTEXT_AFTER + clean.CONTEXT_BEFORE]
    fillers = clean.FILLERS_AFTER if words[cut] in clean.CONTEXT_AFTER else clean.FILLERS_BEFORE
    around = words[cut - 7 : cut] + words[cut + 1 : cut + 8]
    edges = words[: clean.MARGIN] + words[-clean.MARGIN :]
    assert all(w in fillers for w in around + edges)
    after += words[cut] in clean.CONTEXT_AFTER
    before += words[cut] in clean.CONTEXT_BEFORE
  assert after > 200 and before > 200
  words = "just " * 6 + "i loved this film so although just the ending was awful" + " so" * 6
  assert clean.contrast_context_label(words.split()) == 1


def test_bad_knobs_are_config_errors_naming_the_fix():
  with pytest.raises(ConfigError, match="seq_len >= 36"):
    clean.RelativeOrderTask(0, seq_len=32, distance=23)
  with pytest.raises(ConfigError, match="raise --config.data.seq_len to >= 43"):
    clean.ContrastContextTask(0, seq_len=40, distance=8)


def test_both_are_registered_tasks():
  assert {"relative_order", "contrast_context"} <= set(tasks.names())
