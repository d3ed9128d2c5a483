"""Seeded synthetic tasks that isolate one folklore claim each.

  motif        keyword spotting: is a 3-token key n-gram present?   (locality; a CNN's home)
  presence     is one key token anywhere?                           (trainability at length)
  order        does marker A come before marker B?                   (order awareness)
  contrast     "i love this movie but hate the ending"               (order decides sentiment)
  adding       sum of two marked reals, Hochreiter & Schmidhuber 1997 / Bai et al. 2018
  copy_memory  recall 10 digits after a long blank gap, Bai et al. 2018  (long memory)

(adding and copy_memory live in long_memory.py; their names are importable from here too.)

Shape key: B batch, L length (seq_len), W key-sized windows (L - 2), D fillers (max distance).

Every task is built from four optional knobs of `config.data` (None = the task's default):
`seq_len`, `distance` (dependency distance), `vocab_size` and `eval_size` (default 1024).
For token tasks `vocab_size` counts the non-PAD ids (key/marker tokens included), so
`spec.vocab_size = vocab_size + 1`. Each task's label is a pure function of its input
(`motif_label`, `order_label`, `contrast_label`, ...), which the tests check batches against.
Batches are generated vectorised with numpy from `rng_for(seed, TRAIN_STREAM, step)`; the eval
set is drawn once from `rng_for(seed, EVAL_STREAM)` and cached (tasks/base.py `GeneratedTask`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.tasks.base import (  # noqa: F401  (KNOBS, DEFAULT_EVAL_SIZE re-exported)
  DEFAULT_EVAL_SIZE,
  KNOBS,
  Batch,
  GeneratedTask,
  TaskSpec,
  check_int,
  register_generated,
)
from cnnrnn_jax.tasks.long_memory import (  # noqa: F401  (re-exported: they lived here)
  COPY_BLANK,
  COPY_DELIMITER,
  COPY_DIGITS,
  COPY_RECALL,
  AddingTask,
  CopyMemoryTask,
  adding_target,
  copy_memory_baseline,
)


def _classify_batch(ids_BxL: np.ndarray, lengths_B: np.ndarray, labels_B: np.ndarray) -> Batch:
  return {
    "inputs": ids_BxL.astype(np.int32),
    "lengths": lengths_B.astype(np.int32),
    "targets": labels_B.astype(np.int32),
    "weights": np.ones(len(labels_B), np.float32),
  }


# ---------------------------------------------------------------------------------------------
# motif: keyword spotting

MOTIF_KEY = np.array([1, 2, 3], np.int32)
_PERMUTATIONS_6x3 = np.array(list(itertools.permutations(range(3))))  # row 0 is the identity


def _key_hits_BxW(ids_BxL: np.ndarray) -> np.ndarray:
  """True where the key n-gram starts (W = L - 2 windows); PAD never matches."""
  windows_BxWx3 = np.lib.stride_tricks.sliding_window_view(ids_BxL, 3, axis=1)
  return np.all(windows_BxWx3 == MOTIF_KEY, axis=-1)


def motif_label(ids_L: np.ndarray, length: int) -> int:
  """1 iff MOTIF_KEY occurs contiguously in `ids_L[:length]`."""
  valid_L = np.asarray(ids_L)[:length]
  if len(valid_L) < len(MOTIF_KEY):
    return 0
  return int(_key_hits_BxW(valid_L[None]).any())


@register_generated("motif")
class MotifTask(GeneratedTask):
  """Keyword spotting: label 1 iff the key n-gram MOTIF_KEY = (1, 2, 3) occurs contiguously.

  Tokens are uniform over ids 1..vocab_size (default 32) at each valid position; lengths are
  uniform in [seq_len // 2, seq_len] (default seq_len 64). Every example then gets the three key
  tokens planted once: positives as the key itself at a random place; negatives in a shuffled,
  non-key order, contiguous or scattered. So positives and negatives hold the key tokens equally
  often and a bag-of-tokens model is at chance; accidental key occurrences in negatives are
  broken by replacing their middle token with a non-key token. Labels are balanced.
  `distance` is not used.
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    del distance  # keyword spotting has no dependency distance
    seq_len = check_int("motif", "seq_len", seq_len, 64, 6)
    self.vocab = check_int("motif", "vocab_size", vocab_size, 32, 4)
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=self.vocab + 1),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len = self.spec.seq_len
    rows_Bx1 = np.arange(n)[:, None]
    lengths_B = rng.integers(seq_len // 2, seq_len + 1, n)
    valid_BxL = mask_BxL(lengths_B, seq_len, np)
    labels_B = rng.integers(0, 2, n)
    ids_BxL = rng.integers(1, self.vocab + 1, (n, seq_len))

    start_B = rng.integers(0, lengths_B - 2)
    contiguous_Bx3 = start_B[:, None] + np.arange(3)
    random_order_BxL = np.where(valid_BxL, rng.random((n, seq_len)), np.inf)
    scattered_Bx3 = np.sort(np.argsort(random_order_BxL, axis=1)[:, :3], axis=1)
    use_scattered_B = (labels_B == 0) & (rng.random(n) < 0.5)
    positions_Bx3 = np.where(use_scattered_B[:, None], scattered_Bx3, contiguous_Bx3)
    permutation_B = np.where(labels_B == 1, 0, rng.integers(1, len(_PERMUTATIONS_6x3), n))
    ids_BxL[rows_Bx1, positions_Bx3] = MOTIF_KEY[_PERMUTATIONS_6x3[permutation_B]]
    ids_BxL[~valid_BxL] = 0

    row, start = np.nonzero(_key_hits_BxW(ids_BxL) & (labels_B == 0)[:, None])
    ids_BxL[row, start + 1] = rng.integers(len(MOTIF_KEY) + 1, self.vocab + 1, len(row))
    return _classify_batch(ids_BxL, lengths_B, labels_B)


# ---------------------------------------------------------------------------------------------
# presence: is one key token anywhere?

PRESENCE_KEY = 1


@register_generated("presence")
class PresenceTask(GeneratedTask):
  """Is the key token PRESENCE_KEY (id 1) anywhere in the sequence? (label 1 iff it is).

  The simplest long-range task: every model can represent it (a CNN or a bag pools it, a
  recurrence latches it), so a run that fails to learn it failed to train; the comparison's
  stability grid uses it. Other tokens are uniform over ids 2..vocab_size (default 16);
  positives hold the key once, at a uniform position; lengths are uniform in
  [seq_len // 2, seq_len] (default seq_len 64). Labels are balanced. `distance` is not used.
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    del distance  # the key may be anywhere
    seq_len = check_int("presence", "seq_len", seq_len, 64, 2)
    self.vocab = check_int("presence", "vocab_size", vocab_size, 16, 2)
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=self.vocab + 1),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len = self.spec.seq_len
    lengths_B = rng.integers(max(seq_len // 2, 1), seq_len + 1, n)
    labels_B = rng.integers(0, 2, n)
    ids_BxL = rng.integers(PRESENCE_KEY + 1, self.vocab + 1, (n, seq_len))
    rows_B = np.flatnonzero(labels_B == 1)
    ids_BxL[rows_B, rng.integers(0, lengths_B[rows_B])] = PRESENCE_KEY
    ids_BxL[~mask_BxL(lengths_B, seq_len, np)] = 0
    return _classify_batch(ids_BxL, lengths_B, labels_B)


# ---------------------------------------------------------------------------------------------
# order: which marker comes first

ORDER_A, ORDER_B = 1, 2


def order_label(ids_L: np.ndarray, length: int) -> int:
  """1 iff the (single) ORDER_A comes before the (single) ORDER_B in `ids_L[:length]`."""
  valid_L = np.asarray(ids_L)[:length]
  pos_a, pos_b = np.flatnonzero(valid_L == ORDER_A), np.flatnonzero(valid_L == ORDER_B)
  if len(pos_a) != 1 or len(pos_b) != 1:
    raise ValueError(
      f"order_label needs exactly one A and one B; got {len(pos_a)} and {len(pos_b)}"
    )
  return int(pos_a[0] < pos_b[0])


@register_generated("order")
class OrderTask(GeneratedTask):
  """Order awareness: label 1 iff marker A = ORDER_A (id 1) comes before B = ORDER_B (id 2).

  A and B occur exactly once each among distractors uniform over ids 3..vocab_size (default
  16). `distance` = |pos_A - pos_B|: exactly that when given (1 <= distance < seq_len), else
  uniform over 1..length-1. Lengths are uniform in [max(seq_len // 2, distance + 1), seq_len]
  (default seq_len 32). Swapping A and B flips the label and keeps the multiset of tokens, and
  both orders are equally likely, so an order-blind (bag) model is at chance.
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    seq_len = check_int("order", "seq_len", seq_len, 32, 2)
    self.distance = check_int("order", "distance", distance, None, 1)
    self.vocab = check_int("order", "vocab_size", vocab_size, 16, 3)
    if self.distance is not None and self.distance >= seq_len:
      raise ConfigError(
        f"order: distance={self.distance} must be < seq_len={seq_len}; lower "
        "--config.data.distance or raise --config.data.seq_len"
      )
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=self.vocab + 1),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len = self.spec.seq_len
    rows_B = np.arange(n)
    min_length = max(seq_len // 2, (self.distance or 1) + 1)
    lengths_B = rng.integers(min_length, seq_len + 1, n)
    if self.distance is None:
      gap_B = rng.integers(1, lengths_B)
    else:
      gap_B = np.full(n, self.distance)
    first_B = rng.integers(0, lengths_B - gap_B)
    labels_B = rng.integers(0, 2, n)

    ids_BxL = rng.integers(ORDER_B + 1, self.vocab + 1, (n, seq_len))
    ids_BxL[~mask_BxL(lengths_B, seq_len, np)] = 0
    ids_BxL[rows_B, np.where(labels_B == 1, first_B, first_B + gap_B)] = ORDER_A
    ids_BxL[rows_B, np.where(labels_B == 1, first_B + gap_B, first_B)] = ORDER_B
    return _classify_batch(ids_BxL, lengths_B, labels_B)


# ---------------------------------------------------------------------------------------------
# contrast: "i love this movie but hate the ending"

_POSITIVE_VERBS = ("love", "loved", "liked", "enjoyed")
_NEGATIVE_VERBS = ("hate", "hated", "disliked", "despised")
_POSITIVE_ADJECTIVES = ("great", "good", "wonderful", "brilliant")
_NEGATIVE_ADJECTIVES = ("awful", "bad", "terrible", "boring")
_SUBJECTS = ("i", "we")
_DETERMINERS = ("this", "the")
_NOUNS = ("movie", "film", "ending", "plot", "acting", "music", "story", "cast")
CONTRAST_WORDS = ("but", "however", "yet")
CONTRAST_FILLERS = ("really", "truly", "quite", "honestly", "just")

CONTRAST_VOCAB: list[str] = [
  "<pad>",
  *_SUBJECTS,
  *_POSITIVE_VERBS,
  *_NEGATIVE_VERBS,
  *_POSITIVE_ADJECTIVES,
  *_NEGATIVE_ADJECTIVES,
  *_DETERMINERS,
  *_NOUNS,
  "was",
  *CONTRAST_WORDS,
  *CONTRAST_FILLERS,
]
_WORD_ID = {word: i for i, word in enumerate(CONTRAST_VOCAB)}
SENTIMENT = {
  **{w: 1 for w in _POSITIVE_VERBS + _POSITIVE_ADJECTIVES},
  **{w: 0 for w in _NEGATIVE_VERBS + _NEGATIVE_ADJECTIVES},
}

_CLAUSE1_LEN, _CLAUSE2_MAX_LEN, _DEFAULT_MAX_DISTANCE = 4, 3, 2


def encode_words(text: str) -> np.ndarray:
  """'I love this movie!' -> int32 ids of CONTRAST_VOCAB (lower-cased, punctuation dropped)."""
  words = re.findall(r"[a-z<>']+", text.lower())
  unknown = [w for w in words if w not in _WORD_ID]
  if unknown:
    raise ValueError(
      f"words {unknown} are not in CONTRAST_VOCAB; use only: {' '.join(CONTRAST_VOCAB[1:])}"
    )
  return np.array([_WORD_ID[w] for w in words], np.int32)


def decode_ids(ids: Sequence[int] | np.ndarray) -> list[str]:
  """Ids -> words of CONTRAST_VOCAB (PAD decodes to '<pad>', so positions stay aligned)."""
  return [CONTRAST_VOCAB[int(i)] for i in ids]


def contrast_label(words: Sequence[str]) -> int:
  """Sentiment (1 positive, 0 negative) of the first sentiment word after the first contrast
  word; without a contrast word, of the first sentiment word ('i love this movie' -> 1)."""
  after = next((i + 1 for i, w in enumerate(words) if w in CONTRAST_WORDS), 0)
  for word in words[after:]:
    if word in SENTIMENT:
      return SENTIMENT[word]
  raise ValueError(f"no sentiment word after position {after} in {' '.join(words)!r}")


def _word_ids(words: Sequence[str]) -> np.ndarray:
  return np.array([_WORD_ID[w] for w in words], np.int64)


def check_sentence_fits(task: str, seq_len: int | None, longest: int, distance: int) -> int:
  """`seq_len` (default: the longest sentence), or a ConfigError when it is shorter."""
  seq_len = check_int(task, "seq_len", seq_len, longest, 1)
  if seq_len < longest:
    raise ConfigError(
      f"{task}: seq_len={seq_len} is shorter than the longest sentence ({longest} words at "
      f"distance {distance}); raise --config.data.seq_len to >= {longest} or lower "
      "--config.data.distance"
    )
  return seq_len


def clause_forms_Bx4(
  rng: np.random.Generator, polarity_B: np.ndarray, word_id: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
  """One clause of each 4-word form per row, with the row's sentiment (1 positive):
  'SUBJ VERB DET NOUN' ('i love this movie') and 'DET NOUN was ADJ' ('the acting was great'),
  as ids of `word_id` (the vocabulary of the task that uses them)."""
  n = len(polarity_B)

  def pick(words: Sequence[str]) -> np.ndarray:
    return np.array([word_id[w] for w in words], np.int64)[rng.integers(0, len(words), n)]

  def sentiment(positive: Sequence[str], negative: Sequence[str]) -> np.ndarray:
    return np.where(polarity_B == 1, pick(positive), pick(negative))

  verb_Bx4 = np.stack(
    [
      pick(_SUBJECTS),
      sentiment(_POSITIVE_VERBS, _NEGATIVE_VERBS),
      pick(_DETERMINERS),
      pick(_NOUNS),
    ],
    axis=1,
  )
  adjective_Bx4 = np.stack(
    [
      pick(_DETERMINERS),
      pick(_NOUNS),
      np.full(n, word_id["was"]),
      sentiment(_POSITIVE_ADJECTIVES, _NEGATIVE_ADJECTIVES),
    ],
    axis=1,
  )
  return verb_Bx4, adjective_Bx4


@register_generated("contrast")
class ContrastTask(GeneratedTask):
  """Contrast sentiment: the clause after 'but'/'however'/'yet' decides the label.

  Sentences are `clause1 contrast filler* clause2`, all words from CONTRAST_VOCAB:
    clause1  'i love this movie' | 'the acting was great'       (4 words, random sentiment)
    clause2  'hate the ending'   | 'awful music'                (starts with the label's word)
  e.g. 'the acting was great but really awful music' -> 0. The label is clause2's sentiment
  (= contrast_label(words)); clause1's sentiment is drawn independently, so a model that keys
  on the first sentiment word is at chance. `distance` = number of fillers ('really', 'truly',
  ...) between the contrast word and the deciding word: exactly that when given (>= 0), else
  uniform in 0..2. The default seq_len is the longest sentence, 8 + max distance (10); lengths
  come from the grammar (7 .. 8 + distance). The vocabulary is fixed: `vocab_size` is not used
  (spec.vocab_size = len(CONTRAST_VOCAB)).
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    del vocab_size  # the grammar fixes the vocabulary
    self.distance = check_int("contrast", "distance", distance, None, 0)
    self.max_distance = _DEFAULT_MAX_DISTANCE if self.distance is None else self.distance
    longest = _CLAUSE1_LEN + 1 + self.max_distance + _CLAUSE2_MAX_LEN
    seq_len = check_sentence_fits("contrast", seq_len, longest, self.max_distance)
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=len(CONTRAST_VOCAB)),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    def pick(words: Sequence[str]) -> np.ndarray:
      return _word_ids(words)[rng.integers(0, len(words), n)]

    def sentiment_word(
      polarity_B: np.ndarray, positive: Sequence[str], negative: Sequence[str]
    ) -> np.ndarray:
      return np.where(polarity_B == 1, pick(positive), pick(negative))

    first_polarity_B = rng.integers(0, 2, n)
    labels_B = rng.integers(0, 2, n)
    verb_clause1_Bx4, adjective_clause1_Bx4 = clause_forms_Bx4(rng, first_polarity_B, _WORD_ID)
    verb_clause2_Bx3 = np.stack(
      [
        sentiment_word(labels_B, _POSITIVE_VERBS, _NEGATIVE_VERBS),
        pick(_DETERMINERS),
        pick(_NOUNS),
      ],
      axis=1,
    )
    adjective_clause2_Bx3 = np.stack(
      [
        sentiment_word(labels_B, _POSITIVE_ADJECTIVES, _NEGATIVE_ADJECTIVES),
        pick(_NOUNS),
        np.zeros(n, np.int64),
      ],
      axis=1,
    )
    verb_first_B = rng.integers(0, 2, n) == 1
    verb_second_B = rng.integers(0, 2, n) == 1
    if self.distance is None:
      distance_B = rng.integers(0, self.max_distance + 1, n)
    else:
      distance_B = np.full(n, self.distance)

    ids_BxL = np.zeros((n, self.spec.seq_len), np.int64)
    ids_BxL[:, :4] = np.where(verb_first_B[:, None], verb_clause1_Bx4, adjective_clause1_Bx4)
    ids_BxL[:, 4] = pick(CONTRAST_WORDS)
    fillers_BxD = _word_ids(CONTRAST_FILLERS)[
      rng.integers(0, len(CONTRAST_FILLERS), (n, self.max_distance))
    ]
    ids_BxL[:, 5 : 5 + self.max_distance] = fillers_BxD
    clause2_Bx3 = np.where(verb_second_B[:, None], verb_clause2_Bx3, adjective_clause2_Bx3)
    ids_BxL[np.arange(n)[:, None], 5 + distance_B[:, None] + np.arange(3)] = clause2_Bx3
    lengths_B = 5 + distance_B + np.where(verb_second_B, 3, 2)
    ids_BxL[~mask_BxL(lengths_B, self.spec.seq_len, np)] = 0
    return _classify_batch(ids_BxL, lengths_B, labels_B)
