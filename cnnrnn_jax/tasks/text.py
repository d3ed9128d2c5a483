"""Text in, token ids out: careful decoding, line splitting, and a saved vocabulary.

Files in the wild are not all UTF-8 and not all '\\n'-terminated, so every text task reads
through `read_text` and `split_lines`:

  read_text(path, encoding)  bytes -> str; UTF-8 (a BOM is dropped) unless `encoding` is
                             given; an undecodable byte fails with `file:line` and the fix
                             (--config.data.encoding=latin-1)
  split_lines(text)          splits on '\\n' only and drops one trailing '\\r' per line.
                             Never `str.splitlines()`: it also splits on U+0085, which is
                             what Latin-1 byte 0x85 (a Windows-1252 ellipsis) decodes to.

`Vocabulary` maps tokens (words or characters) to ids: id 0 is PAD, id 1 is OOV, then the
kept tokens by falling count (ties alphabetical). It is built from the training split only,
saved as JSON (never pickle) next to the run (`WORKDIR/vocab.json`, written by the trainer
through `Task.save_assets`), and loaded again with `--config.data.vocab_path=...` so that
evaluation, generation and later runs see the same ids. Class names of a classification
task travel in the same file (`labels`).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Sequence

import ml_collections
import numpy as np

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays
from cnnrnn_jax.tasks.base import TaskSpec, check_int

PAD, OOV = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1
LEVELS = ("word", "char")
VOCAB_FILE = "vocab.json"
_FORMAT = "cnnrnn_jax.vocabulary/1"

# Words keep inner apostrophes ("n't", "it's"); every other non-space character is its own
# token, so any non-blank text has at least one token. The LM variant keeps line breaks.
_WORD_RE = re.compile(r"[\w']+|[^\w\s]")
_WORD_LM_RE = re.compile(r"[\w']+|[^\w\s]|\n")


def read_bytes(path: str) -> bytes:
  """The bytes of the regular file `path`; a ConfigError for a device, FIFO or socket (whose
  read may never end: /dev/zero) or an unreadable file."""
  try:
    with open(path, "rb") as f:
      if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        raise ConfigError(
          f"{path} is not a regular file (a device, pipe or socket); point "
          "--config.data.train_path / eval_path at a file or folder"
        )
      return f.read()
  except OSError as e:
    raise ConfigError(
      f"cannot read {path} ({e.strerror}); check --config.data.train_path / eval_path"
    ) from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_text(path: str, encoding: str | None = None) -> str:
  """The decoded contents of `path` (UTF-8 unless `encoding` is given). `encoding='auto'`:
  UTF-8 when the whole file decodes as UTF-8, else Latin-1 (every byte is a character; Kim's
  MR files are Latin-1)."""
  data = read_bytes(path)
  if encoding == "auto":
    try:
      return data.decode("utf-8-sig")
    except UnicodeDecodeError:
      logging.info("%s is not UTF-8: read as Latin-1 (encoding='auto')", path)
      return data.decode("latin-1")
  if encoding is None and data[:2] in _UTF16_BOMS:
    raise ConfigError(
      f"{path} starts with a UTF-16 byte-order mark; pass --config.data.encoding=utf-16"
    )
  if encoding is None and data[:4096].count(b"\0") > len(data[:4096]) // 4:
    raise ConfigError(  # valid UTF-8, but text in UTF-16 without a byte-order mark
      f"{path} is mostly NUL bytes, as UTF-16 text is; pass --config.data.encoding=utf-16-le "
      "(or utf-16-be)"
    )
  codec = encoding or "utf-8-sig"
  try:
    return data.decode(codec)
  except LookupError:
    raise ConfigError(
      f"unknown encoding {encoding!r}; pass a Python codec name such as "
      "--config.data.encoding=latin-1"
    ) from None
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    hint = (
      "pass --config.data.encoding=latin-1 (or the file's encoding)"
      if encoding is None
      else "check --config.data.encoding"
    )
    raise ConfigError(
      f"{path}:{line}: byte 0x{data[e.start]:02x} is not valid {encoding or 'UTF-8'}; {hint}"
    ) from None


def split_lines(text: str) -> list[str]:
  """Lines split on '\\n' only, each without its trailing '\\r' (CRLF files).

  The piece after a final '\\n' is kept (an empty string), so index i is line i + 1 of the
  file; callers skip blank lines. U+0085 and other Unicode breaks stay inside their line.
  """
  return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def normalize_newlines(text: str) -> str:
  """CRLF -> LF for corpora (a lone '\\r' is kept: it is content, not a line break here)."""
  return text.replace("\r\n", "\n")


def tokenize(text: str, level: str, lowercase: bool, keep_newlines: bool = False) -> list[str]:
  """Words (`[\\w']+` or one punctuation mark each) or characters."""
  if lowercase:
    text = text.lower()
  if level == "char":
    return list(text)
  return (_WORD_LM_RE if keep_newlines else _WORD_RE).findall(text)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Token <-> id maps (0 = PAD, 1 = OOV) plus how text was tokenized, and class names.

  keep_newlines: word-level language models keep '\\n' as a token (so generated text has
  line breaks); classifiers drop it with the other whitespace.
  """

  tokens: tuple[str, ...]
  level: str = "word"
  lowercase: bool = True
  keep_newlines: bool = False
  labels: tuple[str, ...] | None = None

  def __post_init__(self):
    if self.level not in LEVELS:
      raise ConfigError(f"level={self.level!r} is not one of {LEVELS}; set --config.data.level")
    if tuple(self.tokens[:2]) != (PAD, OOV):
      raise ValueError(f"a vocabulary starts with {PAD!r}, {OOV!r}; got {self.tokens[:2]}")
    if len(set(self.tokens)) != len(self.tokens):
      raise ValueError("a vocabulary lists each token once")
    object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

  @classmethod
  def build(
    cls,
    texts: Iterable[str],
    level: str = "word",
    lowercase: bool = True,
    max_size: int | None = None,
    min_count: int = 1,
    keep_newlines: bool = False,
    labels: Sequence[str] | None = None,
  ) -> Vocabulary:
    """Counts tokens of `texts`; keeps those seen >= min_count times, most frequent first,
    at most `max_size` ids in all (PAD and OOV included)."""
    if level not in LEVELS:
      raise ConfigError(f"level={level!r} is not one of {LEVELS}; set --config.data.level")
    if max_size is not None and max_size < 3:
      raise ConfigError(f"vocab_size={max_size} must be >= 3 (PAD, OOV and one token)")
    counts = collections.Counter()
    for text in texts:
      counts.update(tokenize(text, level, lowercase, keep_newlines))
    for special in (PAD, OOV):
      counts.pop(special, None)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    if max_size is not None:
      kept = kept[: max_size - 2]
    return cls(
      (PAD, OOV, *kept), level, lowercase, keep_newlines, None if labels is None else tuple(labels)
    )

  def __len__(self) -> int:
    return len(self.tokens)

  def encode(self, text: str, max_len: int | None = None) -> np.ndarray:
    """int32 ids of `text` (unknown tokens -> OOV_ID), truncated to `max_len`."""
    pieces = tokenize(text, self.level, self.lowercase, self.keep_newlines)[:max_len]
    ids = self._ids  # type: ignore[attr-defined]
    return np.fromiter((ids.get(t, OOV_ID) for t in pieces), np.int32, len(pieces))

  def decode(self, ids: Iterable[int]) -> str:
    """Ids -> text (PAD dropped); characters are joined as they are, words with spaces."""
    pieces = [self.tokens[int(i)] for i in ids if int(i) != PAD_ID]
    if self.level == "char":
      return "".join(pieces)
    return " ".join(pieces).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n")

  def label_id(self, label: str) -> int | None:
    """The class id of `label`, None when the vocabulary has no labels or not this one."""
    if self.labels is None:
      return None
    try:
      return self.labels.index(label)
    except ValueError:
      return None

  def to_json(self) -> dict:
    """The vocabulary as JSON data (what `save` writes)."""
    return {
      "format": _FORMAT,
      "level": self.level,
      "lowercase": self.lowercase,
      "keep_newlines": self.keep_newlines,
      "labels": self.labels,
      "tokens": list(self.tokens),
    }

  def save(self, path: str) -> None:
    """Writes the vocabulary to `path` as JSON (vocab.json), atomically."""
    text = json.dumps(self.to_json(), ensure_ascii=False, indent=0) + "\n"
    workdir_module.write_atomic(path, text)

  @classmethod
  def load(cls, path: str) -> Vocabulary:
    """Reads a vocabulary `save` wrote; a ConfigError naming the file when it cannot."""
    try:
      record = json.loads(workdir_module.read_text(path))
    except OSError as e:
      raise ConfigError(
        f"cannot read vocabulary {path} ({e.strerror}); point "
        "--config.data.vocab_path at a vocab.json a run wrote"
      ) from None
    except ValueError as e:
      raise ConfigError(f"{path} is not a vocabulary JSON file ({e})") from None
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
      raise ConfigError(
        f"{path} is not a cnnrnn_jax vocabulary (no format {_FORMAT!r}); "
        "point --config.data.vocab_path at a vocab.json a run wrote"
      )
    labels = record.get("labels")
    return cls(
      tuple(record["tokens"]),
      record["level"],
      record["lowercase"],
      record.get("keep_newlines", False),
      None if labels is None else tuple(labels),
    )

  def save_in(self, workdir: str) -> str:
    """Writes WORKDIR/vocab.json; refuses to overwrite a different vocabulary there."""
    path = os.path.join(workdir, VOCAB_FILE)
    if workdir_module.exists(path) and Vocabulary.load(path) != self:
      raise ConfigError(
        f"{path} holds a different vocabulary than this run built; pass "
        f"--config.data.vocab_path={path} to reuse it, or use a new --workdir"
      )
    self.save(path)
    return path


def vocabulary_for(
  data_config: ml_collections.ConfigDict,
  texts: Iterable[str] | None,
  *,
  level: str,
  lowercase: bool,
  max_size: int | None,
  min_count: int,
  keep_newlines: bool = False,
  labels: Sequence[str] | None = None,
) -> Vocabulary:
  """The vocabulary at `config.data.vocab_path` if set (checked against the task's
  tokenization), else one built from `texts` (the training split)."""
  path = data_config.get("vocab_path")
  if not path:
    return Vocabulary.build(
      texts or (), level, lowercase, max_size, min_count, keep_newlines, labels
    )
  vocab = Vocabulary.load(path)
  if labels is not None and vocab.labels is None:
    raise ConfigError(
      f"{path} has no class labels (it comes from a language model); a "
      "classification task needs the vocab.json of a classification run"
    )
  wanted = (level, lowercase, keep_newlines)
  if (vocab.level, vocab.lowercase, vocab.keep_newlines) != wanted:
    raise ConfigError(
      f"{path} tokenizes with level={vocab.level} lowercase={vocab.lowercase}"
      f" but this task asks level={level} lowercase={lowercase}; set "
      "--config.data.level/lowercase to match or drop --config.data.vocab_path"
    )
  if labels is not None and vocab.labels is not None and tuple(labels) != vocab.labels:
    missing = sorted(set(labels) - set(vocab.labels))
    if missing:
      raise ConfigError(
        f"labels {missing} are not among the classes {list(vocab.labels)} of "
        f"{path}; train with a vocabulary built from these files instead"
      )
  return vocab


def with_saved_assets(config: ml_collections.ConfigDict, workdir: str) -> ml_collections.ConfigDict:
  """A copy of `config` whose data.vocab_path is WORKDIR/vocab.json when the run saved one
  there and the config names none: a restored run rebuilds its task with the same ids."""
  path = os.path.join(workdir, VOCAB_FILE)
  if not workdir_module.exists(path) or config.data.get("vocab_path"):
    return config
  config = copy.deepcopy(config)
  with config.unlocked():
    config.data.vocab_path = path
  return config


def length_buckets(
  longest: int, count: int = 4, multiple: int = 8, minimum: int = 8
) -> tuple[int, ...]:
  """A few padded lengths (e.g. 56 -> (16, 32, 56)) so each step compiles once per bucket:
  `longest`, and longest / 2, / 4, ... rounded up to `multiple`, none below `minimum`."""
  buckets = {longest}
  for k in range(1, count):
    size = -(-(longest >> k) // multiple) * multiple
    if size >= minimum:
      buckets.add(min(size, longest))
  return tuple(sorted(buckets))


class RowErrors:
  """Fails at the first bad row (`file:line: problem; fix`), or counts them when skipping."""

  def __init__(self, skip: bool = False):
    self.skip = bool(skip)
    self.count = 0
    self.first: str | None = None

  def bad(self, where: str, problem: str) -> None:
    """`where` is 'file:line'."""
    if not self.skip:
      raise ConfigError(f"{where}: {problem}; fix the row or set --config.data.skip_bad_rows=True")
    self.count += 1
    self.first = self.first or f"{where}: {problem}"

  def report(self, what: str) -> None:
    """Logs how many rows were skipped and the first of them, if any."""
    if self.count:
      logging.warning(
        "%s: skipped %d malformed row(s) (skip_bad_rows=True); first: %s",
        what,
        self.count,
        self.first,
      )


DEFAULT_MAX_LEN = 256
DEFAULT_VOCAB = 30000


class TextClassifyTask(arrays.TokenTask):
  """Texts with one class each -> word (or char) ids truncated to `max_len`, in buckets.

  `train` and `evaluation` are [(text, label name, 'file:line')]. The vocabulary (knobs
  level 'word', lowercase True, vocab_size 30000 ids, min_count 2 for words) and the class
  list `label_names` come from the training part, or from `--config.data.vocab_path`.
  Unknown eval labels are bad rows. `skipped` counts the rows `errors` skipped. The texts of
  `also_lengths` (examples of another split) only size the length buckets.
  """

  def __init__(
    self,
    name: str,
    data_config,
    seed: int,
    train,
    evaluation,
    label_names: Sequence[str],
    errors: RowErrors | None = None,
    also_lengths: Sequence = (),
  ):
    errors = errors or RowErrors(data_config.get("skip_bad_rows"))
    level = data_config.get("level") or "word"
    lowercase = data_config.get("lowercase")
    self.vocab = vocabulary_for(
      data_config,
      (t for t, _, _ in train),
      level=level,
      lowercase=True if lowercase is None else bool(lowercase),
      max_size=check_int(name, "vocab_size", data_config.get("vocab_size"), DEFAULT_VOCAB, 3),
      min_count=check_int(
        name, "min_count", data_config.get("min_count"), 2 if level == "word" else 1, 1
      ),
      labels=label_names,
    )
    seen = sorted({label for _, label, _ in train})
    if len(seen) < 2:
      raise ConfigError(
        f"{name}: the training examples hold {len(seen)} class {seen}; a classifier needs at "
        "least 2: check the file and --config.data.label_column"
      )
    max_len = check_int(name, "max_len", data_config.get("max_len"), DEFAULT_MAX_LEN, 1)

    def encode(examples):
      ids, labels = [], []
      for t, label, where in examples:
        label_id = self.vocab.label_id(label)
        if label_id is None:
          errors.bad(
            where, f"label {label!r} is not one of the training labels {list(self.vocab.labels)}"
          )
          continue
        ids.append(self.vocab.encode(t, max_len))
        labels.append(label_id)
      return ids, np.array(labels, np.int32)

    train_xy, eval_xy = encode(train), encode(evaluation)
    errors.report(name)
    self.skipped = errors.count
    n_eval = arrays.cap_eval(len(eval_xy[0]), data_config.get("eval_size"), name)
    eval_xy = eval_xy[0][:n_eval], eval_xy[1][:n_eval]
    # `also_lengths` (the split not evaluated: dev or test) sizes the buckets too, so a task
    # built per split (train.py's selection task) has the same shapes for every one.
    longest = max(
      [len(x) for x in train_xy[0] + eval_xy[0]]
      + [len(self.vocab.encode(t, max_len)) for t, _, _ in also_lengths]
    )
    buckets = length_buckets(-(-longest // 8) * 8)
    spec = TaskSpec(
      kind="classify",
      num_outputs=len(self.vocab.labels),
      seq_len=buckets[-1],
      vocab_size=len(self.vocab),
    )
    super().__init__(spec, seed, train_xy, eval_xy, buckets)
    logging.info(
      "%s: %d train / %d eval examples, %d classes %s, vocabulary %d, buckets %s",
      name,
      self.num_train,
      self.num_eval,
      len(self.vocab.labels),
      list(self.vocab.labels)[:10],
      len(self.vocab),
      buckets,
    )

  def save_assets(self, workdir: str) -> None:
    self.vocab.save_in(workdir)


class CorpusTask(arrays.StreamLMTask):
  """Language modelling on a text (StreamLMTask): char level (bits per character) unless
  `level` is word (perplexity). Knobs: seq_len (128), level, lowercase (False), vocab_size
  (char: every character; word: 30000), min_count (1), vocab_path, eval_size."""

  def __init__(self, name: str, data_config, seed: int, train_text: str, eval_text: str):
    level = data_config.get("level") or "char"
    default_vocab = DEFAULT_VOCAB if level == "word" else None  # char: every character
    lowercase = data_config.get("lowercase")
    self.vocab = vocabulary_for(
      data_config,
      [train_text],
      level=level,
      lowercase=False if lowercase is None else bool(lowercase),
      max_size=check_int(name, "vocab_size", data_config.get("vocab_size"), default_vocab, 3),
      min_count=check_int(name, "min_count", data_config.get("min_count"), 1, 1),
      keep_newlines=True,
    )
    seq_len = check_int(name, "seq_len", data_config.get("seq_len"), 128, 1)
    spec = TaskSpec(
      kind="lm",
      num_outputs=len(self.vocab),
      seq_len=seq_len,
      vocab_size=len(self.vocab),
      metric="bits_per_char" if level == "char" else "perplexity",
    )
    super().__init__(
      spec,
      seed,
      self.vocab.encode(train_text),
      self.vocab.encode(eval_text),
      data_config.get("eval_size"),
      name,
    )
    logging.info(
      "%s: %d train / %d eval tokens (%s level), vocabulary %d",
      name,
      len(self.train_ids_T),
      len(self.eval_ids_T),
      level,
      len(self.vocab),
    )

  def save_assets(self, workdir: str) -> None:
    self.vocab.save_in(workdir)
