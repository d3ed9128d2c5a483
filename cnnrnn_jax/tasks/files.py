"""Your own files as tasks: text classification, a text corpus, a CSV time series, IDX images.

  text_files   classify texts from a TSV/CSV file (a text and a label column; header
               detected), a `<label> <sentence>` file (one per line, as Kim 2014's data
               ships), or one-file-per-class text files (one example per non-blank line; the
               file stem is the label): a folder of them or a comma-separated list
  text_corpus  character- (default) or word-level language modelling on a plain text file
  csv_series   forecasting on chosen numeric columns of a CSV file (tasks/forecast.py);
               empty cells stop the run unless `interpolate_missing` fills them linearly
  read_idx     the IDX format of the MNIST files (used by the *_mnist tasks)

Point a task at data with `--config.data.train_path=P` and optionally `eval_path=P`;
without an eval path, text_files holds out a seeded `eval_fraction` (default 0.1, the same
examples for every run seed) and text_corpus the last `eval_fraction` of the text. Files are
read as UTF-8 unless `--config.data.encoding` says otherwise (e.g. latin-1); CRLF endings,
blank lines and a trailing newline create no examples. A malformed row stops the run with
`file:line: what is wrong`, or, with `--config.data.skip_bad_rows=True`, is skipped and
counted (the count is logged and kept in `task.skipped`).

`--config.data.format` says how a file is read: `table` (TSV/CSV), `label_first` (the label,
whitespace, the sentence) or None (detect: a file named *.tsv/*.csv, or one holding a tab, is a
table; one whose first lines all start with an integer and a space is label_first).
`--config.data.encoding=auto` reads UTF-8, or Latin-1 when a file is not valid UTF-8.

Model selection and cross-validation (text_files): `dev_path` (a file) or a seeded
`dev_fraction` of the training part is the dev split; `--config.data.eval_split=dev` evaluates
on it (what `--config.select_on=dev` does). `cv_folds=K` with `cv_fold=k` makes fold k of a
seeded, stratified K-fold partition of train_path the eval part and trains on the other folds
(crossval.py runs every fold). `split_seed` (0) seeds the folds and the dev fraction.

The vocabulary comes from the training split (or `--config.data.vocab_path`) and is written
to WORKDIR/vocab.json by the trainer (`save_assets`).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
from collections.abc import Sequence

import ml_collections
import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays, forecast, splits, text
from cnnrnn_jax.tasks.base import default_if_none, register

TEXT_NAMES = ("sentence", "text", "review", "content", "document", "comment", "body", "tweet")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y", "polarity")
DEFAULT_EVAL_FRACTION = 0.1


def _need_path(data_config, name: str, what: str) -> str:
  path = data_config.get("train_path")
  if not path:
    raise ConfigError(f"{name} needs --config.data.train_path={what}")
  for part in path.split(",") if name == "text_files" else [path]:
    if not os.path.exists(part):
      raise ConfigError(
        f"{name}: train_path {part} does not exist; point --config.data.train_path at your data"
      )
  return path


def _records(path: str, body: str, delimiter: str) -> list[tuple[int, list[str] | None, str]]:
  """(line, fields, error) per non-blank record; fields None when the CSV syntax is broken.

  Lines are split with `text.split_lines` (never str.splitlines) and fed to the csv module
  one by one, so quoted fields may span lines and `line` is where a record starts.
  """
  lines = [line + "\n" for line in text.split_lines(body)]
  quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
  reader = csv.reader(iter(lines), delimiter=delimiter, quoting=quoting, strict=True)
  out, start = [], 1
  while True:
    try:
      fields = next(reader)
    except StopIteration:
      break
    except csv.Error as e:
      out.append((start, None, f"malformed CSV ({e})"))
      start = reader.line_num + 1
      continue
    if any(field.strip() for field in fields):
      out.append((start, fields, ""))
    start = reader.line_num + 1
  return out


def _delimiter(path: str, first_line: str) -> str:
  lower = path.lower()
  if lower.endswith(".tsv") or lower.endswith(".tab"):
    return "\t"
  if lower.endswith(".csv"):
    return ","
  return "\t" if "\t" in first_line else ","


def _column(spec, header: list[str] | None, what: str, path: str) -> int | None:
  """A column knob ('name' or a 0-based index) -> index; None when unset."""
  if spec is None or spec == "":
    return None
  spec = str(spec)
  if re.fullmatch(r"\d+", spec):
    return int(spec)
  if header is None:
    raise ConfigError(
      f"{path} has no header row, so {what}={spec!r} cannot name a column; "
      f"give a 0-based index instead or set --config.data.header=True"
    )
  names = [h.strip().lower() for h in header]
  if spec.strip().lower() not in names:
    raise ConfigError(
      f"{path}: no column named {spec!r} in the header {header}; set "
      f"--config.data.{what} to one of them"
    )
  return names.index(spec.strip().lower())


def _is_int(value: str) -> bool:
  return re.fullmatch(r"[+-]?\d+", value.strip()) is not None


def _detect_header(rows, data_config) -> bool:
  """`config.data.header` if set; else the first row is a header when one of its cells is a
  usual column name (TEXT_NAMES, LABEL_NAMES) or a column knob's name, or when a column
  holds integers in every later row but not in the first ('stars' above 5, 3, 1)."""
  if data_config.get("header") is not None:
    return bool(data_config.get("header"))
  first = [f.strip().lower() for f in rows[0][1]]
  if set(first) & set(TEXT_NAMES + LABEL_NAMES):
    return True
  for spec in (data_config.get("text_column"), data_config.get("label_column")):
    if spec is not None and not re.fullmatch(r"\d+", str(spec)) and spec.lower() in first:
      return True
  later = [fields for _, fields, _ in rows[1:] if fields is not None]
  return bool(later) and any(
    not _is_int(cell) and all(len(f) > i and _is_int(f[i]) for f in later)
    for i, cell in enumerate(rows[0][1])
  )


def _pick_columns(rows, header, data_config, path: str) -> tuple[int, int]:
  text_col = _column(data_config.get("text_column"), header, "text_column", path)
  label_col = _column(data_config.get("label_column"), header, "label_column", path)
  width = len(rows[0][1]) if not header else len(header)
  if header is not None:
    names = [h.strip().lower() for h in header]
    if text_col is None:
      text_col = next((names.index(n) for n in TEXT_NAMES if n in names), None)
    if label_col is None:
      label_col = next((names.index(n) for n in LABEL_NAMES if n in names), None)
  if (text_col is None or label_col is None) and width == 2:
    if text_col is not None or label_col is not None:
      known = text_col if text_col is not None else label_col
      text_col, label_col = (known, 1 - known) if text_col is not None else (1 - known, known)
    else:  # the label column is the one with fewer distinct values
      distinct = [len({r[1][i].strip() for r in rows if r[1] and len(r[1]) > i}) for i in (0, 1)]
      label_col = 0 if distinct[0] < distinct[1] else 1
      text_col = 1 - label_col
  if text_col is None or label_col is None:
    raise ConfigError(
      f"{path} has {width} columns; say which hold the text and the label with "
      "--config.data.text_column and --config.data.label_column (name or index)"
    )
  if text_col == label_col or max(text_col, label_col) >= width:
    raise ConfigError(
      f"{path}: text_column={text_col} and label_column={label_col} must be "
      f"two different columns among 0..{width - 1}"
    )
  return text_col, label_col


def read_table(
  path: str,
  data_config: ml_collections.ConfigDict,
  errors: text.RowErrors,
  columns: tuple[int, int] | None = None,
) -> tuple[list, tuple[int, int]]:
  """[(text, label, line)] from a TSV/CSV file, and the (text, label) columns used."""
  body = text.read_text(path, data_config.get("encoding"))
  first_line = next((l for l in text.split_lines(body) if l.strip()), "")
  rows = _records(path, body, _delimiter(path, first_line))
  if not rows:
    raise ConfigError(f"{path} holds no rows; check --config.data.train_path / eval_path")
  header = None
  if rows[0][1] is not None and _detect_header(rows, data_config):
    header, rows = rows[0][1], rows[1:]
  good = [r for r in rows if r[1] is not None]
  if not good:
    raise ConfigError(f"{path} holds a header but no examples")
  text_col, label_col = columns or _pick_columns(good, header, data_config, path)
  width = len(header) if header is not None else len(good[0][1])
  kind = "tab" if _delimiter(path, first_line) == "\t" else "comma"
  examples = []
  for line, fields, problem in rows:
    if fields is None:
      errors.bad(f"{path}:{line}", problem)
    elif len(fields) != width:
      errors.bad(f"{path}:{line}", f"expected {width} {kind}-separated fields, found {len(fields)}")
    elif not fields[text_col].strip():
      errors.bad(f"{path}:{line}", f"empty text in column {text_col}")
    elif not fields[label_col].strip():
      errors.bad(f"{path}:{line}", f"empty label in column {label_col}")
    else:
      examples.append((fields[text_col].strip(), fields[label_col].strip(), line))
  return examples, (text_col, label_col)


def _class_files(folder: str) -> list[tuple[str, str]]:
  """[(label, path)] for the visible regular files of `folder` (or of the comma-separated
  file list `folder`): label = file stem, or the suffix when stems collide
  (rt-polarity.pos / rt-polarity.neg -> pos, neg)."""
  if "," in folder:
    paths = sorted(p for p in folder.split(",") if p)
  else:
    paths = sorted(
      os.path.join(folder, f)
      for f in os.listdir(folder)
      if not f.startswith(".") and os.path.isfile(os.path.join(folder, f))
    )
  if len(paths) < 2:
    raise ConfigError(
      f"{folder} holds {len(paths)} files; a class folder needs one text file "
      "per class (>= 2), the file stem being the label"
    )
  stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
  suffixes = [os.path.splitext(p)[1].lstrip(".") for p in paths]
  if len(set(stems)) == len(stems):
    labels = stems
  elif all(suffixes) and len(set(suffixes)) == len(suffixes):
    labels = suffixes
  else:
    raise ConfigError(
      f"{folder}: files {[os.path.basename(p) for p in paths]} do not have "
      "distinct stems; name them <label>.txt"
    )
  return list(zip(labels, paths))


def read_class_folder(folder: str, data_config: ml_collections.ConfigDict) -> list:
  """[(text, label, line, path)] with one example per non-blank line of each class file."""
  examples = []
  for label, path in _class_files(folder):
    for number, line in enumerate(
      text.split_lines(text.read_text(path, data_config.get("encoding"))), start=1
    ):
      if line.strip():
        examples.append((line.strip(), label, number, path))
  return examples


FORMATS = ("table", "label_first")
_LABEL_FIRST_RE = re.compile(r"[+-]?\d+(\s|$)")


def file_format(path: str, body: str, data_config: ml_collections.ConfigDict) -> str:
  """'table' or 'label_first': `config.data.format`, or detected (see the module docstring)."""
  chosen = data_config.get("format")
  if chosen:
    if chosen not in FORMATS:
      raise ConfigError(
        f"data.format={chosen!r} is not one of {FORMATS}; set --config.data.format "
        "(or leave it None to detect)"
      )
    return chosen
  if path.lower().endswith((".tsv", ".tab", ".csv")):
    return "table"
  first = [l for l in text.split_lines(body) if l.strip()][:20]
  if first and all("\t" not in l and _LABEL_FIRST_RE.match(l) for l in first):
    return "label_first"
  return "table"


def read_label_first(path: str, body: str, errors: text.RowErrors) -> list:
  """[(text, label, line)] from `<label> <sentence>` lines (label = the first word)."""
  examples = []
  for number, line in enumerate(text.split_lines(body), start=1):
    if not line.strip():
      continue
    label, _, sentence = line.strip().partition(" ")
    label, sentence = label.strip(), sentence.strip()
    if not sentence:
      errors.bad(f"{path}:{number}", f"label {label!r} and no sentence after it")
    else:
      examples.append((sentence, label, number))
  return examples


def _read_examples(path: str, data_config, errors: text.RowErrors, columns=None):
  """[(text, label, where)] from a table file, a `<label> <sentence>` file or class files,
  and the columns used (tables only)."""
  if os.path.isdir(path) or "," in path:
    return [(t, l, f"{p}:{n}") for t, l, n, p in read_class_folder(path, data_config)], None
  body = text.read_text(path, data_config.get("encoding"))
  if file_format(path, body, data_config) == "label_first":
    return [(t, l, f"{path}:{n}") for t, l, n in read_label_first(path, body, errors)], None
  rows, columns = read_table(path, data_config, errors, columns)
  return [(t, l, f"{path}:{n}") for t, l, n in rows], columns


def _label_names(labels: Sequence[str]) -> list[str]:
  """Sorted class names: numerically when every label is an integer ('2' < '10')."""
  unique = set(labels)
  if all(_is_int(l) for l in unique):
    return sorted(unique, key=int)
  return sorted(unique)


def text_file_splits(data_config: ml_collections.ConfigDict, errors: text.RowErrors):
  """(train, test, dev) lists of (text, label, 'file:line') that text_files reads: test from
  eval_path, a cross-validation fold or a held-out eval_fraction; dev ([] when none) from
  dev_path or a seeded dev_fraction of what remains for training."""
  name = "text_files"
  path = _need_path(data_config, name, "FILE.tsv|FILE.csv|FILE|FOLDER|FILE1,FILE2")
  train, columns = _read_examples(path, data_config, errors)
  if data_config.get("cv_folds"):
    train, evaluation = splits.cv_split(train, data_config, name)
  elif data_config.get("eval_path"):
    if not os.path.exists(data_config.eval_path):
      raise ConfigError(
        f"{name}: eval_path {data_config.eval_path} does not exist; fix --config.data.eval_path"
      )
    evaluation, _ = _read_examples(data_config.eval_path, data_config, errors, columns)
  else:
    fraction = default_if_none(data_config.get("eval_fraction"), DEFAULT_EVAL_FRACTION)
    train_rows, eval_rows = arrays.holdout_split(len(train), fraction, name)
    train, evaluation = [train[i] for i in train_rows], [train[i] for i in eval_rows]
  dev = []
  if data_config.get("dev_path"):
    if not os.path.exists(data_config.dev_path):
      raise ConfigError(f"{name}: dev_path {data_config.dev_path} does not exist; fix it")
    dev, _ = _read_examples(data_config.dev_path, data_config, errors, columns)
  elif data_config.get("dev_fraction"):
    kept, held = splits.dev_rows(
      len(train), data_config.dev_fraction, data_config.get("split_seed") or 0
    )
    train, dev = [train[i] for i in kept], [train[i] for i in held]
  return train, evaluation, dev


@register("text_files")
def _text_files(data_config, seed: int) -> text.TextClassifyTask:
  name = "text_files"
  errors = text.RowErrors(data_config.get("skip_bad_rows"))
  train, evaluation, dev = text_file_splits(data_config, errors)
  split = data_config.get("eval_split") or "test"
  if split not in ("test", "dev"):
    raise ConfigError(
      f"{name}: eval_split={split!r} must be test or dev; set --config.data.eval_split"
    )
  if split == "dev" and not dev:
    raise ConfigError(
      f"{name}: evaluating (or selecting) on dev needs a dev split; set "
      "--config.data.dev_path or --config.data.dev_fraction"
    )
  evaluation, other = (dev, evaluation) if split == "dev" else (evaluation, dev)
  return text.TextClassifyTask(
    name,
    data_config,
    seed,
    train,
    evaluation,
    _label_names([label for _, label, _ in train]),
    errors,
    also_lengths=other,
  )


@register("text_corpus")
def _text_corpus(data_config, seed: int) -> text.CorpusTask:
  path = _need_path(data_config, "text_corpus", "FILE.txt")
  encoding = data_config.get("encoding")
  corpus = text.normalize_newlines(text.read_text(path, encoding))
  if data_config.get("eval_path"):
    train_text = corpus
    eval_text = text.normalize_newlines(text.read_text(data_config.eval_path, encoding))
  else:
    fraction = default_if_none(data_config.get("eval_fraction"), DEFAULT_EVAL_FRACTION)
    if not 0.0 < fraction < 1.0:
      raise ConfigError(
        f"text_corpus: eval_fraction={fraction} must be in (0, 1); set --config.data.eval_fraction"
      )
    cut = int(round(len(corpus) * (1.0 - fraction)))
    train_text, eval_text = corpus[:cut], corpus[cut:]
  return text.CorpusTask("text_corpus", data_config, seed, train_text, eval_text)


# ---------------------------------------------------------------------------------------------
# csv_series


def read_series(
  path: str, data_config: ml_collections.ConfigDict, errors: text.RowErrors
) -> tuple[np.ndarray, list[str]]:
  """float64 T x C of the chosen `columns` (first = forecast target; default: last column;
  `all`: every column whose first row is numeric, e.g. all but an ETT file's date).

  With `interpolate_missing`, empty cells become NaN here and `fill_missing` fills them."""
  body = text.read_text(path, data_config.get("encoding"))
  rows = _records(
    path, body, _delimiter(path, next((l for l in text.split_lines(body) if l.strip()), ""))
  )
  if not rows or rows[0][1] is None:
    raise ConfigError(f"{path} holds no CSV rows; check --config.data.train_path")

  def numeric(value: str) -> bool:  # nan and inf are missing values, not numbers, here
    try:
      return math.isfinite(float(value))
    except ValueError:
      return False

  header = None
  explicit = data_config.get("header")
  if explicit or (explicit is None and not all(numeric(f) for f in rows[0][1])):
    header, rows = rows[0][1], rows[1:]
  width = len(header) if header is not None else len(rows[0][1])
  wanted = data_config.get("columns")
  if wanted == "all":
    first = next((fields for _, fields, _ in rows if fields is not None), [])
    picked = [c for c, value in enumerate(first) if numeric(value.strip())]
    if not picked:
      raise ConfigError(f"{path}: columns='all' found no numeric column in its first row")
  elif wanted:
    picked = [_column(c.strip(), header, "columns", path) for c in str(wanted).split(",")]
  else:
    picked = [width - 1]
  if any(c >= width for c in picked):
    raise ConfigError(f"{path}: columns={wanted!r} points past the {width} columns of the file")
  names = [header[c].strip() if header else str(c) for c in picked]
  values = []
  for line, fields, problem in rows:
    if fields is None:
      errors.bad(f"{path}:{line}", problem)
      continue
    if len(fields) != width:
      errors.bad(f"{path}:{line}", f"expected {width} fields, found {len(fields)}")
      continue
    cells = [fields[c].strip() for c in picked]
    missing_ok = bool(data_config.get("interpolate_missing"))  # empty cells: NaN, filled later
    bad = next((n for n, v in zip(names, cells) if not numeric(v) and (v or not missing_ok)), None)
    if bad is not None:
      value = cells[names.index(bad)]
      errors.bad(
        f"{path}:{line}",
        f"column {bad!r} holds {value!r}, not a finite number"
        if value
        else f"column {bad!r} is empty (a missing value)",
      )
      continue
    values.append([float(v) if v else math.nan for v in cells])
  if not values:
    raise ConfigError(f"{path} holds no numeric rows in columns {names}")
  return np.asarray(values), names


def fill_missing(series_TxC: np.ndarray) -> tuple[np.ndarray, int]:
  """(series with each NaN replaced linearly between its column's neighbours, and the ends
  held at the nearest value; how many were filled). A gap never borrows from the future
  beyond its own next observation."""
  filled_TxC, rows_T = series_TxC.copy(), np.arange(len(series_TxC))
  for c in range(series_TxC.shape[1]):
    known_T = ~np.isnan(series_TxC[:, c])
    if not known_T.any():
      raise ConfigError(f"csv_series: column {c} holds no values at all")
    filled_TxC[:, c] = np.interp(rows_T, rows_T[known_T], series_TxC[known_T, c])
  return filled_TxC, int(np.isnan(series_TxC).sum())


@register("csv_series")
def _csv_series(data_config, seed: int):
  path = _need_path(data_config, "csv_series", "FILE.csv")
  errors = text.RowErrors(data_config.get("skip_bad_rows"))
  series_TxC, names = read_series(path, data_config, errors)
  errors.report("csv_series")
  series_TxC, filled = fill_missing(series_TxC)
  if filled:
    logging.info("csv_series: %d empty cells of %s filled by linear interpolation", filled, path)
  task = forecast.ForecastTask("csv_series", series_TxC, seed, data_config)
  task.skipped, task.columns, task.filled = errors.count, names, filled
  return task
