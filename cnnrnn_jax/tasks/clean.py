"""Probes that cannot cheat: order and context tasks where no position gives the label away.

  relative_order    which marker comes first, read in the "voice" the distractors set
  contrast_context  'i loved the plot ... but ... the ending was awful': link the contrast
                    word to the clause D words away

Why. In `order` (synthetic.py) the first marker's position leaks the label: a marker in the
first D positions can only be the first one, and at D = L - 1 the markers sit at the two ends,
so a model that knows *where* a token is (a position-specific MLP, or a CNN through the edge
windows) solves it without relating the markers. Any task whose label is "is A before B"
leaks this way: no placement makes the first marker's position distributed like the second's,
and logistic regression over (token, position) features then separates it with a ramp.

How. Each task here draws a cue, independent of everything else, that flips which reading
is label 1, so every single (token, position) feature is independent of the label:
P(label = 1 | token t at position p) = 1/2 for every t and p. A model linear in those
features (logreg) is then at chance at its optimum, and an order-blind bag sees nothing.
(A position-specific MLP is not blind: it can compare where two tokens are, which is order.)
The cue is visible in every window (the distractors' "voice", the fillers' register), so a
model only has to relate the two ends of the dependency, D tokens apart. Which end is which
must not be visible locally either: max-pooling ORs detections from anywhere, so a CNN that
could tell the first marker (or clause) from the second by its neighbourhood would XOR that
with the cue and solve any distance. Markers and clauses therefore keep a margin of MARGIN
distractors from both ends of every sequence, and lengths vary. Then a CNN solves the task
while D fits in its receptive field and is at chance beyond, and a recurrent model as far
as it can carry one bit.

`position_leak` measures the property on a batch: the accuracy of the best classifier that
reads the token at one position (1.0 for `order` at D = L - 1, ~0.5 here).

Shape key: B batch, L length (seq_len), V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.tasks.base import Batch, GeneratedTask, TaskSpec, check_int, register_generated
from cnnrnn_jax.tasks.synthetic import (  # the grammar of `contrast`
  _DETERMINERS,
  _NEGATIVE_ADJECTIVES,
  _NEGATIVE_VERBS,
  _NOUNS,
  _POSITIVE_ADJECTIVES,
  _POSITIVE_VERBS,
  _SUBJECTS,
  SENTIMENT,
  _classify_batch,
  check_sentence_fits,
  clause_forms_Bx4,
)

# The widest window any default model reads at once (Kim CNN kernels are <= 5 wide): no
# marker or clause sits closer than this to either end of a sequence.
MARGIN = 6


def position_leak(inputs_BxL: np.ndarray, labels_B: np.ndarray) -> float:
  """The accuracy of the best classifier that sees only the token at one position: the
  maximum over positions p of sum over tokens t of max_y count(t at p, y) / B."""
  best = 0.0
  for column in np.asarray(inputs_BxL).T:
    table_VxY = np.zeros((int(column.max()) + 1, 2))
    np.add.at(table_VxY, (column, np.asarray(labels_B)), 1)
    best = max(best, table_VxY.max(axis=1).sum() / len(labels_B))
  return float(best)


def log_uniform_distances(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
  """n integers in low..high, each octave of (d - low + 1) about equally often: as many
  short dependencies as long ones, so every distance is learned from."""
  offset_B = np.exp(rng.uniform(0, np.log(high - low + 2), n)).astype(np.int64) - 1
  return low + np.clip(offset_B, 0, high - low)


# ---------------------------------------------------------------------------------------------
# relative_order

ORDER_A, ORDER_B = 1, 2


def relative_order_label(ids_L: np.ndarray, length: int, vocab_size: int) -> int:
  """1 iff A (id 1) comes before B (id 2) in the active voice (distractors from the lower
  half of 3..vocab_size) or after it in the passive voice (the upper half)."""
  valid_L = np.asarray(ids_L)[:length]
  pos_a, pos_b = np.flatnonzero(valid_L == ORDER_A), np.flatnonzero(valid_L == ORDER_B)
  if len(pos_a) != 1 or len(pos_b) != 1:
    raise ValueError(f"needs exactly one A and one B; got {len(pos_a)} and {len(pos_b)}")
  distractors = valid_L[valid_L > ORDER_B]
  passive = distractors[0] > _voice_split(vocab_size)
  return int((pos_a[0] < pos_b[0]) != passive)


def _voice_split(vocab_size: int) -> int:
  """The last id of the active voice's distractors: 3..split active, split+1..V passive."""
  return ORDER_B + (vocab_size - ORDER_B) // 2


@register_generated("relative_order")
class RelativeOrderTask(GeneratedTask):
  """Order without positional shortcuts: does A come first, in the sequence's voice?

  Markers A (id 1) and B (id 2) occur once each, `distance` = |pos_A - pos_B| apart, among
  distractors. The distractors of one sequence all come from one half of 3..vocab_size
  (default 16): the lower half is the active voice (label 1 iff A comes first), the upper
  half the passive voice (label 1 iff B comes first). Voice and order are independent and
  uniform, so no single token at any position says anything about the label, and the voice
  is visible in every window (docs of this module). The pair sits at a uniform offset at
  least MARGIN tokens from both ends; lengths are uniform in [max(seq_len // 2, D + 1 +
  2 MARGIN), seq_len] (default seq_len 64). `distance`: exactly that when given, else
  log-uniform over 1..seq_len - 2 MARGIN - 1 in training (as many short as long ones).
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    seq_len = check_int("relative_order", "seq_len", seq_len, 64, 2 * MARGIN + 2)
    self.distance = check_int("relative_order", "distance", distance, None, 1)
    self.vocab = check_int("relative_order", "vocab_size", vocab_size, 16, 6)
    self.max_distance = seq_len - 2 * MARGIN - 1
    if self.distance is not None and self.distance > self.max_distance:
      raise ConfigError(
        f"relative_order: distance={self.distance} needs seq_len >= "
        f"{self.distance + 2 * MARGIN + 1} (a margin of {MARGIN} on each side); raise "
        f"--config.data.seq_len or lower --config.data.distance"
      )
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=self.vocab + 1),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len, rows_B = self.spec.seq_len, np.arange(n)
    if self.distance is None:
      gap_B = log_uniform_distances(rng, 1, self.max_distance, n)
    else:
      gap_B = np.full(n, self.distance)
    lengths_B = rng.integers(np.maximum(seq_len // 2, gap_B + 1 + 2 * MARGIN), seq_len + 1)
    first_B = rng.integers(MARGIN, lengths_B - MARGIN - gap_B)
    a_first_B = rng.integers(0, 2, n) == 1
    passive_B = rng.integers(0, 2, n) == 1

    split = _voice_split(self.vocab)
    low_B = np.where(passive_B, split + 1, ORDER_B + 1)
    high_B = np.where(passive_B, self.vocab + 1, split + 1)
    ids_BxL = (low_B[:, None] + rng.random((n, seq_len)) * (high_B - low_B)[:, None]).astype(
      np.int64
    )
    ids_BxL[~mask_BxL(lengths_B, seq_len, np)] = 0
    ids_BxL[rows_B, np.where(a_first_B, first_B, first_B + gap_B)] = ORDER_A
    ids_BxL[rows_B, np.where(a_first_B, first_B + gap_B, first_B)] = ORDER_B
    return _classify_batch(ids_BxL, lengths_B, a_first_B != passive_B)


# ---------------------------------------------------------------------------------------------
# contrast_context

CONTEXT_AFTER = ("but", "however", "yet")  # the clause after the contrast word decides
CONTEXT_BEFORE = ("although", "though", "whereas")  # the clause before it decides
# Each kind of sentence has its own register of fillers, so the kind is visible in every
# window (as the voice is in relative_order) while which clause it selects is not.
FILLERS_AFTER = ("really", "truly", "quite")
FILLERS_BEFORE = ("honestly", "just", "so")

CONTEXT_VOCAB: list[str] = [
  "<pad>",
  *_SUBJECTS,
  *_POSITIVE_VERBS,
  *_NEGATIVE_VERBS,
  *_POSITIVE_ADJECTIVES,
  *_NEGATIVE_ADJECTIVES,
  *_DETERMINERS,
  *_NOUNS,
  "was",
  *CONTEXT_AFTER,
  *CONTEXT_BEFORE,
  *FILLERS_AFTER,
  *FILLERS_BEFORE,
]
_CONTEXT_ID = {word: i for i, word in enumerate(CONTEXT_VOCAB)}
_CLAUSE_LEN = 4  # 'i love this movie' | 'the acting was great'
_EDGE_JITTER = 3  # MARGIN..MARGIN + 3 fillers before the first and after the last clause


def contrast_context_label(words: Sequence[str]) -> int:
  """Sentiment (1 positive) of the clause after 'but'/'however'/'yet', or of the clause
  before 'although'/'though'/'whereas': its one sentiment word decides."""
  (cut,) = [i for i, w in enumerate(words) if w in CONTEXT_AFTER + CONTEXT_BEFORE]
  side = words[cut + 1 :] if words[cut] in CONTEXT_AFTER else words[:cut]
  (polarity,) = [SENTIMENT[w] for w in side if w in SENTIMENT]
  return polarity


@register_generated("contrast_context")
class ContrastContextTask(GeneratedTask):
  """Contrast across a distance: 'i loved this film [D fillers] but [D fillers] the ending
  was awful' -> 0; 'the plot was great [D fillers] although [D fillers] i hated the cast' -> 1.

  Two 4-word clauses of opposite sentiment, drawn from the same grammar ('SUBJ VERB DET
  NOUN' or 'DET NOUN was ADJ'), around a contrast word with `distance` fillers on each side,
  and MARGIN..MARGIN + 3 fillers before and after the sentence, so that both clauses have
  fillers on both sides and no window tells them apart. After 'but', 'however', 'yet' the
  second clause decides the label; before 'although', 'though', 'whereas' the first one does
  (= contrast_context_label). The kind of contrast word is uniform and independent of the
  sentiments, so each sentiment word is the deciding one half the time wherever it stands;
  each kind has its own fillers (FILLERS_AFTER: 'really', ...; FILLERS_BEFORE: 'honestly',
  ...), so the kind is visible everywhere and only the side of the contrast word must be
  linked across the distance. The contrast word is `distance` + 1 or more words from either
  clause's sentiment word. `distance` >= 0: exactly that when given, else log-uniform in
  training over 0..(seq_len - 27) // 2 (default seq_len 31: 0..2); seq_len >= the longest
  sentence, 2 * distance + 27.
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
    self.distance = check_int("contrast_context", "distance", distance, None, 0)
    shortest = 2 * _CLAUSE_LEN + 1 + 2 * (MARGIN + _EDGE_JITTER)  # the longest at distance 0
    if self.distance is not None:
      self.max_distance = self.distance
    elif seq_len is not None:
      self.max_distance = max((seq_len - shortest) // 2, 0)
    else:
      self.max_distance = 2
    longest = shortest + 2 * self.max_distance
    seq_len = check_sentence_fits("contrast_context", seq_len, longest, self.max_distance)
    super().__init__(
      TaskSpec(kind="classify", num_outputs=2, seq_len=seq_len, vocab_size=len(CONTEXT_VOCAB)),
      seed,
      eval_size,
    )

  def _clauses_Bx4(self, rng: np.random.Generator, polarity_B: np.ndarray) -> np.ndarray:
    verb_Bx4, adjective_Bx4 = clause_forms_Bx4(rng, polarity_B, _CONTEXT_ID)
    return np.where(rng.integers(0, 2, len(polarity_B))[:, None] == 1, verb_Bx4, adjective_Bx4)

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len, rows_Bx1 = self.spec.seq_len, np.arange(n)[:, None]
    labels_B = rng.integers(0, 2, n)
    after_B = rng.integers(0, 2, n) == 1  # 'but' kind: the second clause decides
    first_polarity_B = np.where(after_B, 1 - labels_B, labels_B)
    if self.distance is None:
      distance_B = log_uniform_distances(rng, 0, self.max_distance, n)
    else:
      distance_B = np.full(n, self.distance)
    lead_B = rng.integers(MARGIN, MARGIN + _EDGE_JITTER + 1, n)
    tail_B = rng.integers(MARGIN, MARGIN + _EDGE_JITTER + 1, n)
    cut_B = lead_B + _CLAUSE_LEN + distance_B  # the contrast word's position
    lengths_B = cut_B + 1 + distance_B + _CLAUSE_LEN + tail_B

    after_ids = np.array([_CONTEXT_ID[w] for w in FILLERS_AFTER])
    before_ids = np.array([_CONTEXT_ID[w] for w in FILLERS_BEFORE])
    pick_BxL = rng.integers(0, len(FILLERS_AFTER), (n, seq_len))
    ids_BxL = np.where(after_B[:, None], after_ids[pick_BxL], before_ids[pick_BxL])
    ids_BxL[rows_Bx1, lead_B[:, None] + np.arange(_CLAUSE_LEN)] = self._clauses_Bx4(
      rng, first_polarity_B
    )
    ids_BxL[rows_Bx1, cut_B[:, None] + 1 + distance_B[:, None] + np.arange(_CLAUSE_LEN)] = (
      self._clauses_Bx4(rng, 1 - first_polarity_B)
    )
    kinds_B = np.where(
      after_B,
      np.array([_CONTEXT_ID[w] for w in CONTEXT_AFTER])[rng.integers(0, 3, n)],
      np.array([_CONTEXT_ID[w] for w in CONTEXT_BEFORE])[rng.integers(0, 3, n)],
    )
    ids_BxL[np.arange(n), cut_B] = kinds_B
    ids_BxL[~mask_BxL(lengths_B, seq_len, np)] = 0
    return _classify_batch(ids_BxL, lengths_B, labels_B)
