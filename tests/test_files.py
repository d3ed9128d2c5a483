"""Your own files as tasks: text_files, text_corpus, csv_series and the IDX reader.

Every fixture is generated here in tmp_path (no test reads ../shared/data).
"""

import gzip
import struct

import numpy as np
import pytest

from cnnrnn_jax import tasks
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays, idx


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


def build(name, seed=0, **knobs):
  return tasks.build(name, data(**knobs), seed)


def all_eval(task, batch_size=4):
  batches = list(task.eval_batches(batch_size))
  keep = np.concatenate([b["weights"] for b in batches]) > 0
  return {k: np.concatenate([b[k] for b in batches])[keep] for k in ("targets", "lengths")}


def decode_rows(task, batch):
  return [task.vocab.decode(ids[:n]) for ids, n in zip(batch["inputs"], batch["lengths"])]


# ---------------------------------------------------------------------------------------------
# text_files: TSV / CSV


def test_tsv_with_header_crlf_blank_lines_and_trailing_newline(tmp_path):
  train = tmp_path / "train.tsv"
  train.write_bytes(
    b"sentence\tlabel\r\na good film \t1\r\n\r\na bad film\t0\r\n   \r\ngood good\t1\r\n"
  )
  dev = tmp_path / "dev.tsv"
  dev.write_bytes(b"sentence\tlabel\nbad\t0\ngood\t1\n\n")
  task = build("text_files", train_path=str(train), eval_path=str(dev))
  assert task.num_train == 3 and task.num_eval == 2  # blank lines, CR and header: no examples
  assert task.vocab.labels == ("0", "1")
  assert "\r" not in "".join(task.vocab.tokens)
  assert task.spec.vocab_size == len(task.vocab) and task.spec.num_outputs == 2
  batch = task.train_batch(0, 3)
  texts = decode_rows(task, batch)
  assert sorted(zip(texts, batch["targets"].tolist())) == [
    ("a <unk> film", 0),
    ("a good film", 1),
    ("good good", 1),
  ]  # 'bad' seen once: OOV
  np.testing.assert_array_equal(np.sort(all_eval(task)["targets"]), [0, 1])


def test_csv_quotes_label_names_and_detected_columns(tmp_path):
  path = tmp_path / "reviews.csv"
  path.write_text(
    'label,text\npos,"great, really great"\nneg,"awful ""so"" bad"\n'
    'pos,"line one\nline two"\nneg,meh\n',
    encoding="utf-8",
  )
  task = build("text_files", train_path=str(path), eval_path=str(path), min_count=1)
  assert task.vocab.labels == ("neg", "pos")
  texts = sorted(decode_rows(task, task.train_batch(0, 4)))
  assert texts == ['awful " so " bad', "great , really great", "line one line two", "meh"]


def test_headerless_two_columns_label_is_the_column_with_fewer_values(tmp_path):
  path = tmp_path / "data.txt"
  path.write_text("1\tfirst text\n2\tsecond text\n10\tthird one\n1\tfourth\n")
  task = build("text_files", train_path=str(path), eval_path=str(path))
  assert task.vocab.labels == ("1", "2", "10")  # integers sort numerically
  assert task.num_train == 4


def test_header_detected_from_an_integer_column(tmp_path):
  path = tmp_path / "stars.csv"
  path.write_text("review_text,stars\nloved it,5\nhated it,1\nfine,3\n")
  task = build("text_files", train_path=str(path), eval_path=str(path))
  assert task.vocab.labels == ("1", "3", "5") and task.num_train == 3


def test_explicit_columns_by_name_and_index(tmp_path):
  path = tmp_path / "multi.tsv"
  path.write_text("id\tbody\tstars\nx1\tnice one\t5\nx2\tpoor one\t1\n")
  task = build(
    "text_files", train_path=str(path), eval_path=str(path), text_column="body", label_column="2"
  )
  assert task.vocab.labels == ("1", "5") and task.num_train == 2
  with pytest.raises(ConfigError, match=r"has 3 columns; say which hold the text and the label"):
    build("text_files", train_path=str(path), eval_path=str(path), header=False)
  with pytest.raises(ConfigError, match=r"no column named 'nope' in the header"):
    build(
      "text_files",
      train_path=str(path),
      eval_path=str(path),
      text_column="nope",
      label_column="stars",
    )


def test_malformed_rows_fail_with_file_line_or_are_counted(tmp_path):
  path = tmp_path / "train.tsv"
  path.write_text(
    "sentence\tlabel\nfine text\t1\nno label here\n\t0\nanother\t0\nextra\t1\tx\ngood\t\n"
  )
  with pytest.raises(
    ConfigError,
    match=r"^.*train.tsv:3: expected 2 tab-separated fields, "
    r"found 1; fix the row or set "
    r"--config.data.skip_bad_rows=True$",
  ) as error:
    build("text_files", train_path=str(path), eval_path=str(path))
  assert "\n" not in str(error.value)
  task = build("text_files", train_path=str(path), eval_path=str(path), skip_bad_rows=True)
  # Each file read counts its own bad rows: 4 in the train read and 4 in the eval read.
  assert task.num_train == 2 and task.skipped == 8


def test_unknown_eval_label_is_a_bad_row(tmp_path):
  (tmp_path / "train.tsv").write_text("a\t0\nb\t1\n")
  (tmp_path / "dev.tsv").write_text("a\t0\nb\t2\n")
  with pytest.raises(
    ConfigError,
    match=r"dev.tsv:2: label '2' is not one of the training "
    r"labels \['0', '1'\]",
  ):
    build("text_files", train_path=str(tmp_path / "train.tsv"), eval_path=str(tmp_path / "dev.tsv"))


def test_csv_syntax_error_names_its_line(tmp_path):
  path = tmp_path / "broken.csv"
  path.write_text('text,label\nok,1\n"bad "quote,0\nfine,0\n')
  with pytest.raises(ConfigError, match=r"broken.csv:3: malformed CSV"):
    build("text_files", train_path=str(path), eval_path=str(path))


def test_eval_fraction_holds_out_the_same_examples_for_every_seed(tmp_path):
  path = tmp_path / "many.tsv"
  path.write_text("".join(f"text number w{i}\t{i % 2}\n" for i in range(40)))
  a = build("text_files", seed=0, train_path=str(path), eval_fraction=0.25, min_count=1)
  b = build("text_files", seed=5, train_path=str(path), eval_fraction=0.25, min_count=1)
  assert a.num_train == 30 and a.num_eval == 10
  # The vocabulary comes from the training part only, so the held-out words are OOV ...
  assert [a.vocab.decode(ids) for ids in a.ids["eval"]] == ["text number <unk>"] * 10
  train_words = {a.vocab.decode(ids).split()[-1] for ids in a.ids["train"]}
  assert len(train_words) == 30 and "<unk>" not in train_words
  # ... and the same 10 rows are held out whatever the run seed.
  assert a.vocab == b.vocab
  train_rows, eval_rows = arrays.holdout_split(40, 0.25, "x")
  assert len(eval_rows) == 10 and not set(train_rows) & set(eval_rows)
  assert sorted(set(train_rows) | set(eval_rows)) == list(range(40))
  with pytest.raises(ConfigError, match=r"eval_fraction=1.5 must be in \(0, 1\)"):
    build("text_files", train_path=str(path), eval_fraction=1.5)


def test_token_batches_are_deterministic_epochs_with_buckets(tmp_path):
  path = tmp_path / "lens.tsv"
  path.write_text("".join(f"{' '.join(['w'] * (1 + i * 3))}\t{i % 2}\n" for i in range(10)))
  task = build("text_files", train_path=str(path), eval_path=str(path), min_count=1)
  assert task.buckets.tolist() == [8, 16, 32]  # longest 28 -> 32
  seen = np.concatenate([task.train_batch(s, 5)["lengths"] for s in range(2)])
  assert sorted(seen.tolist()) == list(range(1, 29, 3))  # one epoch: every example once
  for step in range(4):
    batch = task.train_batch(step, 5)
    assert batch["inputs"].shape[1] in (8, 16, 32)
    assert batch["inputs"].shape[1] == min(b for b in (8, 16, 32) if b >= batch["lengths"].max())
    np.testing.assert_array_equal(batch["inputs"], task.train_batch(step, 5)["inputs"])
  other_seed = build("text_files", seed=1, train_path=str(path), eval_path=str(path), min_count=1)
  assert not np.array_equal(
    task.train_batch(0, 5)["lengths"], other_seed.train_batch(0, 5)["lengths"]
  )
  batches = list(task.eval_batches(4))
  assert [b["inputs"].shape for b in batches] == [(4, 16), (4, 32), (4, 32)]
  np.testing.assert_array_equal(batches[-1]["weights"], [1, 1, 0, 0])


def test_max_len_truncates(tmp_path):
  path = tmp_path / "long.tsv"
  path.write_text("a b c d e f g h i j k l\t0\nshort\t1\n")
  task = build("text_files", train_path=str(path), eval_path=str(path), max_len=5, min_count=1)
  assert task.lengths["train"].max() == 5 and task.spec.seq_len == 8


# ---------------------------------------------------------------------------------------------
# text_files: a folder of class files


def test_class_folder_latin1_and_stem_labels(tmp_path):
  folder = tmp_path / "mr"
  folder.mkdir()
  (folder / "rt-polarity.pos").write_bytes(b"simply brilliant \x85 a joy\r\n\r\nbeau caf\xe9\r\n")
  (folder / "rt-polarity.neg").write_bytes(b"dull\r\nnot good\r\n")
  with pytest.raises(
    ConfigError,
    match=r"rt-polarity.pos:1: byte 0x85 is not valid UTF-8; "
    r"pass --config.data.encoding=latin-1",
  ):
    build("text_files", train_path=str(folder), eval_path=str(folder))
  task = build(
    "text_files", train_path=str(folder), eval_path=str(folder), encoding="latin-1", min_count=1
  )
  assert task.vocab.labels == ("neg", "pos")  # stems collide -> the suffixes are the labels
  assert task.num_train == 4  # 0x85 (U+0085) did not split a line, blank CRLF lines skipped
  assert "café" in task.vocab.tokens
  texts = decode_rows(task, task.train_batch(0, 4))
  assert "simply brilliant a joy" in texts  # U+0085 is whitespace to the word tokenizer


def test_class_folder_needs_two_files(tmp_path):
  (tmp_path / "only.txt").write_text("x\n")
  with pytest.raises(ConfigError, match="holds 1 files; a class folder needs one text file"):
    build("text_files", train_path=str(tmp_path))


def test_missing_paths():
  with pytest.raises(ConfigError, match=r"^text_files needs --config.data.train_path="):
    build("text_files")
  with pytest.raises(ConfigError, match="train_path /no/such does not exist"):
    build("text_files", train_path="/no/such")


# ---------------------------------------------------------------------------------------------
# text_corpus


def test_text_corpus_char_lm_windows_and_tail(tmp_path):
  path = tmp_path / "corpus.txt"
  body = "".join(f"line {i:02d} of the play\r\n" for i in range(50))
  path.write_bytes(body.encode())
  task = build("text_corpus", train_path=str(path), seq_len=16, eval_fraction=0.2)
  corpus = body.replace("\r\n", "\n")
  assert "\r" not in task.vocab.tokens and task.spec.kind == "lm"
  assert task.vocab.decode(task.eval_ids_T) == corpus[int(round(len(corpus) * 0.8)) :]
  batch = task.train_batch(3, 8)
  np.testing.assert_array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
  np.testing.assert_array_equal(batch["lengths"], 16)
  for row in batch["inputs"]:
    assert task.vocab.decode(row) in corpus
  # The eval windows predict every eval token after the first exactly once.
  batches = list(task.eval_batches(8))
  weights = np.concatenate([b["weights"] for b in batches])
  targets = np.concatenate([b["targets"] for b in batches])
  np.testing.assert_array_equal(targets[weights > 0], task.eval_ids_T[1:])


def test_text_corpus_word_level_and_latin1(tmp_path):
  path = tmp_path / "latin.txt"
  path.write_bytes(b"caf\xe9 au lait \x85 encore\ncaf\xe9 noir\n" * 20)
  task = build("text_corpus", train_path=str(path), encoding="latin-1", level="word", seq_len=4)
  assert {"café", "\n", "encore"} <= set(task.vocab.tokens)
  assert task.spec.metric == "perplexity"
  assert len(task.train_ids_T) + len(task.eval_ids_T) == 20 * 8  # 6 + 2 words, 2 newlines
  chars = build("text_corpus", train_path=str(path), encoding="latin-1", seq_len=4)
  assert "\x85" in chars.vocab.tokens and "\r" not in chars.vocab.tokens
  with pytest.raises(ConfigError, match=r"fewer than seq_len \+ 2"):
    build("text_corpus", train_path=str(path), encoding="latin-1", seq_len=100000)


# ---------------------------------------------------------------------------------------------
# csv_series


def write_series(path, n=200, extra=""):
  rows = "".join(f"{1900 + i},{np.sin(i / 3):.5f},{i % 7}\n" for i in range(n))
  path.write_text("year,value,weekday\n" + rows + extra)


def test_csv_series_columns_header_and_normalisation(tmp_path):
  path = tmp_path / "s.csv"
  write_series(path)
  task = build("csv_series", train_path=str(path), seq_len=10)
  assert task.columns == ["weekday"] and task.spec.input_dim == 1  # default: the last column
  task = build("csv_series", train_path=str(path), columns="value,weekday", seq_len=10, horizon=2)
  assert task.columns == ["value", "weekday"] and task.spec.input_dim == 2
  train_part = np.sin(np.arange(140) / 3)
  assert task.mean_C[0] == pytest.approx(train_part.mean(), abs=1e-4)
  assert task.scale_C[0] == pytest.approx(train_part.std(), abs=1e-4)
  # window ending at t (first train window: t = 9) targets value at t + 1 and t + 2, normalised
  x, y = task.x["train"][0], task.y["train"][0]
  expected_x = (np.sin(np.arange(10) / 3) - task.mean_C[0]) / task.scale_C[0]
  np.testing.assert_allclose(x[:, 0], expected_x, atol=1e-4)
  expected_y = (np.sin(np.array([10, 11]) / 3) - task.mean_C[0]) / task.scale_C[0]
  np.testing.assert_allclose(y, expected_y, atol=1e-4)


def test_csv_series_missing_value_fails_or_is_skipped(tmp_path):
  path = tmp_path / "gaps.csv"
  write_series(path, extra="2100,,3\r\n2101,abc,1\r\n\r\n")
  with pytest.raises(
    ConfigError,
    match=r"gaps.csv:202: column 'value' is empty \(a missing "
    r"value\); fix the row",
  ):
    build("csv_series", train_path=str(path), columns="value")
  task = build("csv_series", train_path=str(path), columns="value", skip_bad_rows=True)
  assert task.skipped == 2


# ---------------------------------------------------------------------------------------------
# IDX (MNIST format)


def write_idx(path, array, gz=True):
  codes = {np.dtype(np.uint8): 0x08}
  header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
    f">{array.ndim}I", *array.shape
  )
  payload = header + array.tobytes()
  path.write_bytes(gzip.compress(payload) if gz else payload)


@pytest.fixture
def mnist_folder(tmp_path):
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 12), ("t10k", 5)):
    write_idx(
      tmp_path / f"{prefix}-images-idx3-ubyte.gz",
      rng.integers(0, 256, (n, 28, 28)).astype(np.uint8),
    )
    write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
  return tmp_path


def test_read_idx_round_trip_and_errors(tmp_path):
  array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  write_idx(tmp_path / "plain-idx3", array, gz=False)
  write_idx(tmp_path / "zipped-idx3.gz", array)
  np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "plain-idx3")), array)
  np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "zipped-idx3.gz")), array)
  (tmp_path / "short").write_bytes((tmp_path / "plain-idx3").read_bytes()[:-3])
  with pytest.raises(ConfigError, match=r"header says shape \(2, 3, 4\) but the file holds 21"):
    idx.read_idx(str(tmp_path / "short"))
  (tmp_path / "text").write_text("hello")
  with pytest.raises(ConfigError, match="is not an IDX file"):
    idx.read_idx(str(tmp_path / "text"))


@pytest.mark.parametrize(
  "name,shape", [("row_mnist", (28, 28)), ("seq_mnist", (784, 1)), ("perm_mnist", (784, 1))]
)
def test_mnist_tasks_from_idx_files(mnist_folder, name, shape):
  task = build(name, train_path=str(mnist_folder))
  assert task.spec.seq_len == shape[0] and task.spec.input_dim == shape[1]
  assert task.num_train == 12 and task.num_eval == 5
  images = idx.read_idx(str(mnist_folder / "train-images-idx3-ubyte.gz"))
  pixels = ((images.astype(np.float32) / 255 - 0.1307) / 0.3081).reshape(12, -1)
  x = task.x["train"].reshape(12, -1)
  if name == "perm_mnist":
    np.testing.assert_allclose(np.sort(x, 1), np.sort(pixels, 1), rtol=1e-6)
    assert not np.allclose(x, pixels)
  else:
    np.testing.assert_allclose(x, pixels, rtol=1e-6)
  np.testing.assert_array_equal(task.y["eval"], np.arange(5))
  # The train images file works too; its labels and the t10k files are found next to it.
  same = build(name, train_path=str(mnist_folder / "train-images-idx3-ubyte.gz"))
  np.testing.assert_array_equal(same.x["eval"], task.x["eval"])


def test_mnist_idx_missing_files(tmp_path):
  with pytest.raises(ConfigError, match="lacks train-images-idx3-ubyte"):
    build("row_mnist", train_path=str(tmp_path))
