"""Decoding, line splitting, tokenization and the saved vocabulary (tasks/text.py)."""

import json

import numpy as np
import pytest

from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import text


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


def test_read_text_utf8_bom_and_latin1(tmp_path):
  path = tmp_path / "a.txt"
  path.write_bytes("\ufeffcafé\n".encode("utf-8"))
  assert text.read_text(str(path)) == "café\n"  # BOM dropped
  path.write_bytes(b"good line\nsecond\ncaf\xe9 \x85 done\n")  # Latin-1 e-acute and 0x85
  with pytest.raises(
    ConfigError,
    match=r"a.txt:3: byte 0xe9 is not valid UTF-8; pass "
    r"--config.data.encoding=latin-1",
  ) as error:
    text.read_text(str(path))
  assert "\n" not in str(error.value)
  decoded = text.read_text(str(path), "latin-1")
  assert decoded.endswith("café \x85 done\n")
  with pytest.raises(ConfigError, match="unknown encoding 'nope'"):
    text.read_text(str(path), "nope")
  with pytest.raises(ConfigError, match=r"cannot read .*missing.txt"):
    text.read_text(str(tmp_path / "missing.txt"))


def test_split_lines_only_on_newline():
  body = "one\r\ntwo \x85 still two\r\n\r\nlast\n"
  assert text.split_lines(body) == ["one", "two \x85 still two", "", "last", ""]
  assert len(body.splitlines()) == 5  # what we avoid: U+0085 splits line 2 in two
  assert text.split_lines("no newline") == ["no newline"]
  assert text.normalize_newlines("a\r\nb\rc\n") == "a\nb\rc\n"


def test_tokenize_words_and_chars():
  assert text.tokenize("It's GREAT, isn't it?", "word", True) == [
    "it's",
    "great",
    ",",
    "isn't",
    "it",
    "?",
  ]
  assert text.tokenize("a b\nc", "word", False, keep_newlines=True) == ["a", "b", "\n", "c"]
  assert text.tokenize("Ab c", "char", False) == ["A", "b", " ", "c"]


def test_vocabulary_build_order_caps_and_ids():
  vocab = text.Vocabulary.build(["b a c a b a", "d"], max_size=5, min_count=1)
  # PAD, OOV, then by falling count (a 3, b 2), ties alphabetically (c, d: count 1 -> c).
  assert vocab.tokens == ("<pad>", "<unk>", "a", "b", "c")
  np.testing.assert_array_equal(vocab.encode("a d b zzz"), [2, 1, 3, 1])
  assert vocab.encode("a d b zzz").dtype == np.int32
  np.testing.assert_array_equal(vocab.encode("a b c a", max_len=2), [2, 3])
  assert vocab.decode([2, 3, 0, 0]) == "a b"
  assert text.Vocabulary.build(["b a c a b a", "d"], min_count=2).tokens[2:] == ("a", "b")
  with pytest.raises(ConfigError, match="vocab_size=2 must be >= 3"):
    text.Vocabulary.build(["a"], max_size=2)


def test_char_vocabulary_decodes_exactly():
  corpus = "To be,\nor not to be.\n"
  vocab = text.Vocabulary.build([corpus], level="char", lowercase=False, keep_newlines=True)
  assert "\n" in vocab.tokens and "T" in vocab.tokens
  assert vocab.decode(vocab.encode(corpus)) == corpus


def test_vocabulary_json_round_trip(tmp_path):
  vocab = text.Vocabulary.build(["naïve café ok", "ok"], labels=["neg", "pos"])
  path = vocab.save_in(str(tmp_path))
  assert path == str(tmp_path / "vocab.json")
  record = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
  assert record["tokens"][:3] == ["<pad>", "<unk>", "ok"] and record["labels"] == ["neg", "pos"]
  loaded = text.Vocabulary.load(path)
  assert loaded == vocab
  np.testing.assert_array_equal(loaded.encode("café ok naïve"), vocab.encode("café ok naïve"))
  assert loaded.label_id("pos") == 1 and loaded.label_id("meh") is None
  vocab.save_in(str(tmp_path))  # the same vocabulary again: fine
  other = text.Vocabulary.build(["something else"])
  with pytest.raises(
    ConfigError,
    match=r"vocab.json holds a different vocabulary than this run "
    r"built; pass --config.data.vocab_path=",
  ):
    other.save_in(str(tmp_path))


def test_vocabulary_load_errors(tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(ConfigError, match="is not a vocabulary JSON file"):
    text.Vocabulary.load(str(bad))
  bad.write_text('{"tokens": ["a"]}')
  with pytest.raises(ConfigError, match="is not a cnnrnn_jax vocabulary"):
    text.Vocabulary.load(str(bad))
  with pytest.raises(ConfigError, match="cannot read vocabulary"):
    text.Vocabulary.load(str(tmp_path / "none.json"))


def test_vocabulary_for_reuses_a_saved_file(tmp_path):
  saved = text.Vocabulary.build(["x y z"], labels=["a", "b"])
  saved.save_in(str(tmp_path))
  config = data(vocab_path=str(tmp_path / "vocab.json"))
  reused = text.vocabulary_for(
    config,
    ["totally different words"],
    level="word",
    lowercase=True,
    max_size=None,
    min_count=1,
    labels=["a"],
  )
  assert reused == saved
  with pytest.raises(ConfigError, match=r"labels \['c'\] are not among the classes"):
    text.vocabulary_for(
      config, [], level="word", lowercase=True, max_size=None, min_count=1, labels=["a", "c"]
    )
  with pytest.raises(ConfigError, match="tokenizes with level=word .* asks level=char"):
    text.vocabulary_for(config, [], level="char", lowercase=True, max_size=None, min_count=1)


@pytest.mark.parametrize(
  "longest,buckets",
  [(56, (8, 16, 32, 56)), (256, (32, 64, 128, 256)), (8, (8,)), (24, (8, 16, 24))],
)
def test_length_buckets(longest, buckets):
  assert text.length_buckets(longest) == buckets
