"""Sequence-to-sequence tasks: a source sequence in, a different target sequence out.

Shape key: B batch, S source steps, T target steps (one width W = S = T per batch bucket).

A seq2seq batch (TaskSpec.kind 'seq2seq') holds, besides the usual keys:
  inputs          int32 B x W  source ids (0 = PAD, 1 = UNK), `lengths` the source lengths
  decoder_inputs  int32 B x W  teacher forcing: BOS, y_1 .. y_n, then PAD
  targets         int32 B x W  y_1 .. y_n, EOS, then PAD
  weights         float32 B x W  1 on the n + 1 scored steps (the EOS included)
so the trainer's per-step cross-entropy (metrics.loss_and_sums) is the teacher-forced loss and
its `accuracy` the token accuracy. The metrics of *generated* outputs (phoneme and word error
rates, sequence accuracy) come from decoding.py, which reads `references()`.

Tasks:
  cmudict       grapheme-to-phoneme on the CMU Pronouncing Dictionary (data.train_path =
                cmudict.dict): a seeded split by word (85% train, 5% validation, 10% test; all
                pronunciations of a word on one side), every pronunciation a training pair;
                a word with several is scored against the closest one (decoding.py).
                data.stress=False drops the stress digits from the targets.
  parallel_tsv  your own pairs: `source<TAB>target` per line (data.train_path, data.eval_path or
                a seeded data.eval_fraction of the lines), tokens by data.level: char | word.
  reverse, sort, addition   transductions drawn from (seed, step): strings of 1..seq_len
                symbols (addition: two numbers of 1..seq_len digits, '123+45' -> '168') for
                training; the eval set has exactly data.eval_len symbols (digits), 0 = seq_len,
                to measure length generalisation.

Real data comes in length buckets (widths from the data's length quantiles): a training step
draws one bucket (in proportion to its size) and a batch from it, so a batch of short words is
not padded to the longest word, and each step compiles once per bucket.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import text
from cnnrnn_jax.tasks.base import (
  EVAL_STREAM,
  TRAIN_STREAM,
  Batch,
  Task,
  TaskSpec,
  check_int,
  register,
  rng_for,
  split_into_batches,
)

PAD, UNK = 0, 1  # source side
BOS, EOS = 1, 2  # target side (0 is PAD there too)
SOURCE_SPECIALS = ("<pad>", "<unk>")
TARGET_SPECIALS = ("<pad>", "<s>", "</s>")

Tokens = list[str]
Pair = tuple[Tokens, Tokens]


class Vocab:
  """Token <-> id; the first ids are the specials."""

  def __init__(self, specials: Sequence[str], tokens: Sequence[str]):
    self.itos = list(specials) + sorted(set(tokens) - set(specials))
    self.stoi = {t: i for i, t in enumerate(self.itos)}

  def __len__(self) -> int:
    return len(self.itos)

  def ids(self, tokens: Tokens) -> list[int]:
    """Ids of `tokens`; unknown ones become UNK (sources) -- targets are never unknown."""
    return [self.stoi.get(t, UNK) for t in tokens]

  def tokens(self, ids: Sequence[int]) -> Tokens:
    """Tokens of `ids` up to (not including) the first EOS or PAD (targets)."""
    out = []
    for i in ids:
      if i in (PAD, EOS):
        break
      out.append(self.itos[int(i)])
    return out


def encode_pairs(pairs: Sequence[Pair], source: Vocab, target: Vocab, width: int) -> Batch:
  """Pairs -> one batch of `width` steps (see the module docstring for the keys)."""
  n = len(pairs)
  inputs = np.zeros((n, width), np.int32)
  decoder_inputs = np.zeros((n, width), np.int32)
  targets = np.zeros((n, width), np.int32)
  weights = np.zeros((n, width), np.float32)
  lengths = np.zeros((n,), np.int32)
  for row, (src, tgt) in enumerate(pairs):
    if len(src) > width or len(tgt) + 1 > width:
      raise ValueError(f"pair {src}->{tgt} is longer than the batch width {width}")
    ids = source.ids(src)
    out = [target.stoi[t] for t in tgt]
    inputs[row, : len(ids)] = ids
    lengths[row] = max(len(ids), 1)
    decoder_inputs[row, : len(out) + 1] = [BOS] + out
    targets[row, : len(out) + 1] = out + [EOS]
    weights[row, : len(out) + 1] = 1.0
  return {
    "inputs": inputs,
    "lengths": lengths,
    "decoder_inputs": decoder_inputs,
    "targets": targets,
    "weights": weights,
  }


def pair_width(pair: Pair) -> int:
  """Steps a pair needs: its source, and its target plus EOS."""
  return max(len(pair[0]), len(pair[1]) + 1)


def bucket_widths(widths: Sequence[int], quantiles=(0.5, 0.9, 0.99)) -> tuple[int, ...]:
  """A few batch widths covering `widths`: its quantiles rounded up to a multiple of 4, and
  the maximum."""
  w = np.asarray(widths)
  edges = {int(-(-np.quantile(w, q) // 4) * 4) for q in quantiles} | {int(w.max())}
  return tuple(sorted(e for e in edges if e <= w.max()))


class Seq2SeqTask(Task):
  """Fixed lists of training and evaluation pairs, batched in length buckets.

  `groups` (optional) gives each eval pair's reference group: pairs of one group share a
  source (a word with several pronunciations) and are scored together by `references()`.
  `stressed_phones`: targets are ARPAbet phones with stress digits (decoding.py then also
  scores them without).
  """

  stressed_phones = False

  def __init__(
    self,
    train: Sequence[Pair],
    evaluation: Sequence[Pair],
    seed: int,
    groups: Sequence[int] | None = None,
    source_vocab: Vocab | None = None,
    target_vocab: Vocab | None = None,
  ):
    if not train or not evaluation:
      raise ConfigError("a seq2seq task needs training and evaluation pairs; check the data files")
    self.seed = seed
    self.source = source_vocab or Vocab(SOURCE_SPECIALS, [t for s, _ in train for t in s])
    self.target = target_vocab or Vocab(TARGET_SPECIALS, [t for _, y in train for t in y])
    unknown = sorted({t for _, y in evaluation for t in y} - set(self.target.stoi))
    if unknown:
      raise ConfigError(
        f"evaluation targets hold tokens never seen in training: {' '.join(unknown[:10])}; "
        "add them to the training pairs"
      )
    self.train, self.evaluation = list(train), list(evaluation)
    self.groups = list(groups) if groups is not None else list(range(len(evaluation)))
    everything = [pair_width(p) for p in self.train + self.evaluation]
    self.widths = bucket_widths(everything)
    self._train_buckets = self._bucketed(self.train)
    sizes = np.array([len(b) for b in self._train_buckets.values()], np.float64)
    self._bucket_p = sizes / sizes.sum()
    self.spec = TaskSpec(
      kind="seq2seq",
      num_outputs=len(self.target),
      seq_len=self.widths[-1],
      vocab_size=len(self.source),
      target_len=self.widths[-1],
    )

  def _bucketed(self, pairs: Sequence[Pair]) -> dict[int, list[int]]:
    """width -> indices of the pairs that need no more than it (and more than the one before)."""
    buckets: dict[int, list[int]] = {w: [] for w in self.widths}
    for i, pair in enumerate(pairs):
      need = pair_width(pair)
      buckets[next(w for w in self.widths if w >= need)].append(i)
    return {w: idx for w, idx in buckets.items() if idx}

  def train_batch(self, step: int, batch_size: int) -> Batch:
    rng = rng_for(self.seed, TRAIN_STREAM, step)
    widths = list(self._train_buckets)
    width = widths[rng.choice(len(widths), p=self._bucket_p)]
    idx = self._train_buckets[width]
    chosen = rng.choice(len(idx), batch_size, replace=len(idx) < batch_size)
    return encode_pairs([self.train[idx[i]] for i in chosen], self.source, self.target, width)

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    for width, idx in self._bucketed(self.evaluation).items():
      batch = encode_pairs([self.evaluation[i] for i in idx], self.source, self.target, width)
      yield from split_into_batches(batch, batch_size)

  def references(self) -> tuple[list[Tokens], list[list[Tokens]]]:
    """(sources, references): each distinct eval source once, with all its targets."""
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(self.groups):
      by_group.setdefault(g, []).append(i)
    sources = [self.evaluation[idx[0]][0] for idx in by_group.values()]
    refs = [[self.evaluation[i][1] for i in idx] for idx in by_group.values()]
    return sources, refs


# ---------------------------------------------------------------------------------------------
# CMUdict grapheme-to-phoneme

SPLIT_FRACTIONS = {"train": 0.85, "validation": 0.05, "test": 0.10}


def read_cmudict(path: str, stress: bool = True) -> dict[str, list[Tokens]]:
  """word -> its pronunciations (phone lists) from a cmudict.dict file.

  'word(2)' lines are alternatives of 'word'; a '#' starts a comment; with stress=False the
  digits 0/1/2 are dropped from the vowels (and duplicate pronunciations merged).
  """
  entries: dict[str, list[Tokens]] = {}
  for number, line in enumerate(text.split_lines(text.read_text(path)), start=1):
    line = line.split("#", 1)[0].strip()
    if not line:
      continue
    fields = line.split()
    if len(fields) < 2:
      raise ConfigError(f"{path}:{number}: a word without phones; is this a cmudict.dict file?")
    word = fields[0]
    if word.endswith(")") and "(" in word:
      word = word[: word.rindex("(")]
    phones = fields[1:] if stress else [p.rstrip("012") for p in fields[1:]]
    prons = entries.setdefault(word, [])
    if phones not in prons:
      prons.append(phones)
  if not entries:
    raise ConfigError(f"{path} holds no entries; pass the cmudict.dict file")
  return entries


def split_words(words: Sequence[str], seed: int) -> dict[str, list[str]]:
  """A seeded split of the sorted words into train / validation / test (SPLIT_FRACTIONS)."""
  order = sorted(words)
  perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,))).permutation(len(order))
  n_test = int(round(SPLIT_FRACTIONS["test"] * len(order)))
  n_val = int(round(SPLIT_FRACTIONS["validation"] * len(order)))
  shuffled = [order[i] for i in perm]
  return {
    "test": shuffled[:n_test],
    "validation": shuffled[n_test : n_test + n_val],
    "train": shuffled[n_test + n_val :],
  }


CMUDICT_SPLIT_SEED = 0  # the word split is fixed: every run seed trains on the same words


@register("cmudict", defaults={"stress": True})
def _cmudict(data_config, seed: int) -> Seq2SeqTask:
  path = data_config.get("train_path")
  if not path:
    raise ConfigError("cmudict needs --config.data.train_path=$D/cmudict/cmudict.dict")
  split = data_config.get("eval_split") or "test"
  if split not in ("validation", "test"):
    raise ConfigError(f"cmudict: eval_split={split!r} is not validation or test")
  entries = read_cmudict(path, bool(data_config.get("stress", True)))
  words = split_words(list(entries), CMUDICT_SPLIT_SEED)
  train = [(list(w), p) for w in words["train"] for p in entries[w]]
  evaluation, groups = [], []
  for g, w in enumerate(words[split]):
    for p in entries[w]:
      evaluation.append((list(w), p))
      groups.append(g)
  task = Seq2SeqTask(train, evaluation, seed, groups)
  task.stressed_phones = bool(data_config.get("stress", True))  # scored also without stress
  return task


# ---------------------------------------------------------------------------------------------
# Your own pairs: source<TAB>target


LEVELS = ("char", "word")


def read_pairs(path: str, level: str, encoding: str | None, errors: text.RowErrors) -> list[Pair]:
  """[(source tokens, target tokens)] from a TSV of `source<TAB>target` lines.

  Blank lines are skipped; a line without exactly one tab, or with an empty side, is a bad
  row (`file:line: problem`).
  """
  pairs = []
  for number, line in enumerate(text.split_lines(text.read_text(path, encoding)), start=1):
    if not line.strip():
      continue
    fields = line.split("\t")
    if len(fields) != 2:
      errors.bad(f"{path}:{number}", f"expected source<TAB>target, found {len(fields)} field(s)")
      continue
    src, tgt = (f.strip() for f in fields)
    if not src or not tgt:
      errors.bad(f"{path}:{number}", f"empty {'source' if not src else 'target'}")
      continue
    split = list if level == "char" else str.split
    pairs.append((split(src), split(tgt)))
  errors.report(path)
  if not pairs:
    raise ConfigError(f"{path} holds no source<TAB>target pairs; check --config.data.train_path")
  return pairs


@register("parallel_tsv")
def _parallel_tsv(data_config, seed: int) -> Seq2SeqTask:
  path = data_config.get("train_path")
  if not path or not os.path.exists(path):
    raise ConfigError(
      "parallel_tsv needs --config.data.train_path=FILE.tsv of source<TAB>target lines; "
      f"got {path!r}"
    )
  level = data_config.get("level") or "char"
  if level not in LEVELS:
    raise ConfigError(f"parallel_tsv: level={level!r} is not one of {LEVELS}")
  encoding = data_config.get("encoding")
  errors = text.RowErrors(data_config.get("skip_bad_rows", False))
  pairs = read_pairs(path, level, encoding, errors)
  if data_config.get("eval_path"):
    return Seq2SeqTask(pairs, read_pairs(data_config.eval_path, level, encoding, errors), seed)
  fraction = data_config.get("eval_fraction") or 0.1
  if not 0.0 < fraction < 1.0:
    raise ConfigError(f"parallel_tsv: eval_fraction={fraction} must be in (0, 1)")
  perm = rng_for(seed, EVAL_STREAM).permutation(len(pairs))
  n_eval = max(1, int(round(fraction * len(pairs))))
  if n_eval >= len(pairs):
    raise ConfigError(f"{path}: {len(pairs)} pair(s) are too few to hold out {fraction:.0%}")
  held = [pairs[i] for i in perm[:n_eval]]
  return Seq2SeqTask([pairs[i] for i in perm[n_eval:]], held, seed)


# ---------------------------------------------------------------------------------------------
# Synthetic transductions with a length knob

DIGITS = [str(d) for d in range(10)]


class Transduction(Task):
  """Pairs drawn from (seed, step): lengths 1..seq_len in training, exactly eval_len in the
  fixed eval set of eval_size pairs. Subclasses define `symbols` and `make(rng, length)`."""

  name: str
  symbols: list[str]
  default_len: int

  def __init__(self, seed: int, seq_len, vocab_size, eval_size, eval_len):
    self.seed = seed
    self.n = check_int(self.name, "seq_len", seq_len, self.default_len, 1)
    self.eval_len = check_int(self.name, "eval_len", eval_len or None, self.n, 1)
    self.eval_size = check_int(self.name, "eval_size", eval_size, 1000, 1)
    self.vocab_size = check_int(self.name, "vocab_size", vocab_size, 10, 2)
    self.source = Vocab(SOURCE_SPECIALS, self.symbols)
    self.target = Vocab(TARGET_SPECIALS, self.symbols)
    self.train_width = self.width(self.n)
    width = max(self.train_width, self.width(self.eval_len))
    self.spec = TaskSpec(
      kind="seq2seq",
      num_outputs=len(self.target),
      seq_len=width,
      vocab_size=len(self.source),
      target_len=width,
    )
    self._eval: list[Pair] | None = None

  def width(self, n: int) -> int:
    """Batch width for inputs of n symbols."""
    return n + 1

  def make(self, rng: np.random.Generator, length: int, exact: bool) -> Pair:
    """One pair of `length` symbols (a training pair may draw shorter parts unless `exact`)."""
    raise NotImplementedError

  def train_batch(self, step: int, batch_size: int) -> Batch:
    rng = rng_for(self.seed, TRAIN_STREAM, step)
    pairs = [self.make(rng, int(n), False) for n in rng.integers(1, self.n + 1, batch_size)]
    return encode_pairs(pairs, self.source, self.target, self.train_width)

  def eval_pairs(self) -> list[Pair]:
    """The fixed eval set (cached)."""
    if self._eval is None:
      rng = rng_for(self.seed, EVAL_STREAM)
      self._eval = [self.make(rng, self.eval_len, True) for _ in range(self.eval_size)]
    return self._eval

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    width = self.width(self.eval_len)
    batch = encode_pairs(self.eval_pairs(), self.source, self.target, width)
    return split_into_batches(batch, batch_size)

  def references(self) -> tuple[list[Tokens], list[list[Tokens]]]:
    pairs = self.eval_pairs()
    return [s for s, _ in pairs], [[t] for _, t in pairs]


TRANSDUCTION_DEFAULTS = {"eval_len": 0}  # 0: the eval set has seq_len symbols (digits)


def _transduction(name: str):
  def deco(cls):
    cls.name = name

    def factory(data_config, seed: int) -> Task:
      return cls(
        seed,
        data_config.get("seq_len"),
        data_config.get("vocab_size"),
        data_config.get("eval_size"),
        data_config.get("eval_len"),
      )

    register(name, TRANSDUCTION_DEFAULTS)(factory)
    return cls

  return deco


@_transduction("reverse")
class Reverse(Transduction):
  """'3 1 4' -> '4 1 3' over vocab_size symbols (default 10); seq_len 20."""

  default_len = 20

  @property
  def symbols(self) -> list[str]:
    return [chr(ord("a") + i) for i in range(self.vocab_size)]

  def make(self, rng, length, exact):
    src = [self.symbols[i] for i in rng.integers(0, self.vocab_size, length)]
    return src, src[::-1]


@_transduction("sort")
class Sort(Reverse):
  """'3 1 4' -> '1 3 4' over vocab_size symbols; seq_len 20."""

  def make(self, rng, length, exact):
    src = [self.symbols[i] for i in rng.integers(0, self.vocab_size, length)]
    return src, sorted(src)


@_transduction("addition")
class Addition(Transduction):
  """'123+45' -> '168': two numbers of 1..seq_len digits (default 5); eval: eval_len digits."""

  default_len = 5
  symbols = DIGITS + ["+"]

  def width(self, n: int) -> int:
    return 2 * n + 1

  def make(self, rng, length, exact):
    digits = (length, length) if exact else rng.integers(1, length + 1, 2)
    a, b = (int(rng.integers(10 ** (d - 1) if d > 1 else 0, 10**d)) for d in digits)
    return list(f"{a}+{b}"), list(str(a + b))
