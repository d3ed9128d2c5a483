"""Bad inputs, as a hostile new user would try them: each one is a single-line error that
names the problem and the fix, raised before anything compiles.

Every case runs in this process through the same call the CLI makes
(`train.train_and_evaluate`, `suite.run`, `sampling.load_lm_run`); the CLI prints a
ConfigError as `config error: <message>` without a traceback (checked end to end, with the
lock, disk-full and signal cases, in test_durability.py). A listener on JAX's compile events
proves that no case reaches a compile.
"""

from __future__ import annotations

import fcntl
import json
import math
import os

import jax
import pytest

from cnnrnn_jax import sampling, suite, train, workdir
from cnnrnn_jax.configs import compare, default
from cnnrnn_jax.errors import ConfigError

_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
  lambda name, *args, **kwargs: _COMPILES.append(name) if "/jax/core/compile/" in name else None
)

BASE = {
  "model": "cnn",
  "task": "motif",
  "arch.embed_dim": 8,
  "arch.num_filters": 8,
  "arch.kernel_sizes": (3,),
  "batch_size": 8,
  "train_steps": 4,
  "data.eval_size": 16,
  "data.seq_len": 16,
}
NAN, INF = math.nan, math.inf
TSV = "text\tlabel\ni love it\tpos\ni hate it\tneg\ngreat movie\tpos\nawful film\tneg\n" * 3


def configured(overrides: dict):
  """default.get_config() with BASE and `overrides` set, types unchecked (as an API user
  can)."""
  config = default.get_config()
  for key, value in {**BASE, **overrides}.items():
    *path, leaf = key.split(".")
    node = config
    for part in path:
      node = node[part]
    with node.ignore_type():
      node[leaf] = value
  return config


def _file(name: str, content: str | bytes):
  """A data file written into the case's tmp folder: the value becomes its path."""
  return ("file", name, content)


def _materialize(overrides: dict, tmp_path) -> dict:
  out = {}
  for key, value in overrides.items():
    if isinstance(value, tuple) and value[:1] == ("file",):
      _, name, content = value
      path = tmp_path / name
      if isinstance(content, dict):  # a folder of files
        path.mkdir()
        for child, text in content.items():
          (path / child).write_text(text)
      elif isinstance(content, bytes):
        path.write_bytes(content)
      else:
        path.write_text(content)
      value = str(path)
    out[key] = value
  return out


def text_files(**data):
  """A text_files config over a good TSV unless `data` says otherwise."""
  return {
    "task": "text_files",
    "data.train_path": _file("train.tsv", TSV),
    "data.seq_len": None,
    "data.eval_size": None,
    **{f"data.{k}": v for k, v in data.items()},
  }


def csv_series(body: str, **data):
  rows = "".join(f"{i},{math.sin(i / 3):.4f}\n" for i in range(200))
  return {
    "task": "csv_series",
    "model": "lstm",
    "arch.hidden": 8,
    "data.train_path": _file("series.csv", "t,value\n" + rows + body),
    "data.seq_len": 8,
    "data.eval_size": None,
    **{f"data.{k}": v for k, v in data.items()},
  }


def corpus(**data):
  return {
    "task": "text_corpus",
    "model": "lstm",
    "arch.hidden": 8,
    "data.train_path": _file("corpus.txt", "to be or not to be\n" * 40),
    "data.seq_len": 16,
    "data.eval_size": None,
    **{f"data.{k}": v for k, v in data.items()},
  }


# (id, overrides, words the one-line message must contain)
CONFIG_CASES = [
  ("seed_negative", {"seed": -1}, "config.seed=-1 must be an integer in [0, 2147483646]"),
  ("seed_huge", {"seed": 2**40}, "config.seed=1099511627776 must be"),
  ("seed_float", {"seed": 1.5}, "config.seed=1.5 must be an integer"),
  ("batch_zero", {"batch_size": 0}, "config.batch_size=0 must be positive"),
  ("batch_negative", {"batch_size": -8}, "config.batch_size=-8 must be positive"),
  ("train_steps_zero", {"train_steps": 0}, "config.train_steps=0 must be positive"),
  ("log_every_zero", {"log_every": 0}, "config.log_every=0 must be positive"),
  ("eval_every_negative", {"eval_every": -1}, "config.eval_every=-1 must be positive"),
  ("checkpoint_every_negative", {"checkpoint_every": -1}, "config.checkpoint_every=-1 must be"),
  ("keep_checkpoints_zero", {"keep_checkpoints": 0}, "config.keep_checkpoints=0 must be"),
  ("distributed_string", {"distributed": "yes"}, "config.distributed='yes' must be True or"),
  ("embed_dim_zero", {"arch.embed_dim": 0}, "config.arch.embed_dim=0 must be positive"),
  ("hidden_negative", {"arch.hidden": -1}, "config.arch.hidden=-1 must be positive"),
  ("num_filters_zero", {"arch.num_filters": 0}, "config.arch.num_filters=0 must be positive"),
  ("kernel_sizes_empty", {"arch.kernel_sizes": ()}, "config.arch.kernel_sizes=() must be a non"),
  ("kernel_sizes_zero", {"arch.kernel_sizes": (3, 0)}, "config.arch.kernel_sizes=(3, 0) must"),
  ("kernel_sizes_float", {"arch.kernel_sizes": (3.5,)}, "kernel_sizes=(3.5,) must be a non-e"),
  ("hybrid_width_zero", {"arch.hybrid_kernel_size": 0}, "config.arch.hybrid_kernel_size=0"),
  ("dropout_one", {"arch.dropout": 1.0}, "config.arch.dropout=1.0 must be a finite number in"),
  ("dropout_negative", {"arch.dropout": -0.1}, "config.arch.dropout=-0.1 must be"),
  ("dropout_nan", {"arch.dropout": NAN}, "config.arch.dropout=nan must be"),
  ("tcn_levels_zero", {"arch.tcn_levels": 0}, "config.arch.tcn_levels=0 must be positive"),
  ("num_layers_zero", {"arch.num_layers": 0}, "config.arch.num_layers=0 must be positive"),
  ("num_heads_zero", {"arch.num_heads": 0}, "config.arch.num_heads=0 must be positive"),
  ("mlp_layers_negative", {"arch.mlp_layers": -1}, "config.arch.mlp_layers=-1 must be an"),
  ("readout_unknown", {"arch.readout": "first"}, "config.arch.readout='first' is not one of"),
  ("conv_impl_unknown", {"arch.conv_impl": "cuda"}, "config.arch.conv_impl='cuda' is not one"),
  ("rnn_impl_unknown", {"model": "lstm", "arch.rnn_impl": "x"}, "config.arch.rnn_impl='x' is"),
  (
    "heads_do_not_divide",
    {"model": "transformer", "arch.hidden": 10, "arch.num_heads": 4},
    "config.arch.hidden=10 is not divisible by config.arch.num_heads=4",
  ),
  ("filter_wider_than_input", {"data.seq_len": 8, "arch.kernel_sizes": (9,)}, "filter width 9"),
  ("lr_nan", {"opt.learning_rate": NAN}, "config.opt.learning_rate=nan must be a finite number"),
  ("lr_inf", {"opt.learning_rate": INF}, "config.opt.learning_rate=inf must be a finite number"),
  ("lr_zero", {"opt.learning_rate": 0.0}, "config.opt.learning_rate=0.0 must be a finite n"),
  ("lr_negative", {"opt.learning_rate": -1e-3}, "config.opt.learning_rate=-0.001 must be"),
  ("weight_decay_negative", {"opt.weight_decay": -1.0}, "config.opt.weight_decay=-1.0 must be"),
  ("weight_decay_nan", {"opt.weight_decay": NAN}, "config.opt.weight_decay=nan must be"),
  ("clip_negative", {"opt.clip_norm": -1.0}, "config.opt.clip_norm=-1.0 must be"),
  ("clip_inf", {"opt.clip_norm": INF}, "config.opt.clip_norm=inf must be"),
  ("momentum_above_one", {"opt.momentum": 1.5}, "config.opt.momentum=1.5 must be"),
  ("warmup_negative", {"opt.warmup_steps": -5}, "config.opt.warmup_steps=-5 must be"),
  ("schedule_unknown", {"opt.schedule": "linear"}, "config.opt.schedule='linear' must be one"),
  ("optimizer_unknown", {"opt.optimizer": "adam"}, "config.opt.optimizer='adam' must be one"),
  ("model_unknown", {"model": "resnet"}, "unknown model 'resnet'; known models: "),
  ("task_unknown", {"task": "imagenet"}, "unknown task 'imagenet'; known tasks: "),
  ("seq_len_zero", {"data.seq_len": 0}, "config.data.seq_len=0 must be positive"),
  ("seq_len_negative", {"data.seq_len": -3}, "config.data.seq_len=-3 must be positive"),
  ("seq_len_below_task_minimum", {"data.seq_len": 5}, "motif: seq_len=5 must be an integer >= 6"),
  ("vocab_size_zero", {"data.vocab_size": 0}, "config.data.vocab_size=0 must be an integer >= 2"),
  ("eval_size_zero", {"data.eval_size": 0}, "config.data.eval_size=0 must be positive"),
  ("distance_negative", {"data.distance": -1}, "config.data.distance=-1 must be an integer"),
  ("eval_fraction_zero", {"data.eval_fraction": 0.0}, "config.data.eval_fraction=0.0 must be"),
  ("eval_fraction_above_one", {"data.eval_fraction": 1.5}, "config.data.eval_fraction=1.5"),
  ("eval_fraction_nan", {"data.eval_fraction": NAN}, "config.data.eval_fraction=nan must be"),
  ("max_len_zero", {"data.max_len": 0}, "config.data.max_len=0 must be positive"),
  ("min_count_zero", {"data.min_count": 0}, "config.data.min_count=0 must be positive"),
  ("horizon_zero", {"data.horizon": 0}, "config.data.horizon=0 must be positive"),
  ("period_zero", {"data.period": 0}, "config.data.period=0 must be positive"),
  ("level_unknown", {"data.level": "byte"}, "config.data.level='byte' must be one of word, char"),
  ("header_string", {"data.header": "yes"}, "config.data.header='yes' must be True or False"),
]

FILE_CASES = [
  ("no_train_path", {"task": "text_files"}, "text_files needs --config.data.train_path="),
  ("train_path_missing", text_files(train_path="no/such.tsv"), "train_path no/such.tsv does not"),
  ("train_path_device", text_files(train_path="/dev/zero"), "/dev/zero is not a regular file"),
  ("empty_file", text_files(train_path=_file("empty.tsv", "")), "holds no rows"),
  (
    "one_class",
    text_files(train_path=_file("one.tsv", "text\tlabel\n" + "good film\tpos\n" * 20)),
    "the training examples hold 1 class ['pos']; a classifier needs at least 2",
  ),
  (
    "utf16_with_bom",
    text_files(train_path=_file("u16.tsv", TSV.encode("utf-16"))),
    "starts with a UTF-16 byte-order mark; pass --config.data.encoding=utf-16",
  ),
  (
    "utf16_without_bom",
    text_files(train_path=_file("u16le.tsv", TSV.encode("utf-16-le"))),
    "is mostly NUL bytes, as UTF-16 text is; pass --config.data.encoding=utf-16-le",
  ),
  (
    "latin1_bytes",
    text_files(train_path=_file("l1.tsv", (TSV + "caf\xe9\tpos\n").encode("latin-1"))),
    "byte 0xe9 is not valid UTF-8; pass --config.data.encoding=latin-1",
  ),
  ("unknown_encoding", text_files(encoding="utf-9"), "unknown encoding 'utf-9'"),
  (
    "ragged_row",
    text_files(train_path=_file("ragged.tsv", TSV + "a\tb\tc\n")),
    "ragged.tsv:16: expected 2 tab-separated fields, found 3; fix the row or set --config.data.s",
  ),
  (
    "empty_label",
    text_files(train_path=_file("nolabel.tsv", TSV + "some text\t\n")),
    "empty label in column 1",
  ),
  ("eval_path_missing", text_files(eval_path="gone.tsv"), "eval_path gone.tsv does not exist"),
  ("eval_fraction_zero_files", text_files(eval_fraction=0.0), "eval_fraction=0.0 must be"),
  ("max_len_zero_files", text_files(max_len=0), "config.data.max_len=0 must be positive"),
  ("vocab_too_small", text_files(vocab_size=2), "text_files: vocab_size=2 must be an integer >= 3"),
  (
    "vocab_path_not_vocab",
    text_files(vocab_path=_file("vocab.json", '{"tokens": []}')),
    "is not a cnnrnn_jax vocabulary",
  ),
  (
    "class_folder_one_file",
    text_files(train_path=_file("classes", {"pos.txt": "good\n"})),
    "holds 1 files; a class folder needs one text file per class",
  ),
  (
    "text_column_missing",
    text_files(text_column="review"),
    "no column named 'review' in the header",
  ),
  ("series_nan", csv_series("200,nan\n"), "column 'value' holds 'nan', not a finite number"),
  ("series_inf", csv_series("200,inf\n"), "column 'value' holds 'inf', not a finite number"),
  ("series_empty_cell", csv_series("200,\n"), "column 'value' is empty (a missing value)"),
  ("series_text_cell", csv_series("200,n/a\n"), "column 'value' holds 'n/a'"),
  ("series_column_past_end", csv_series("", columns="7"), "points past the 2 columns"),
  ("series_column_unknown", csv_series("", columns="price"), "no column named 'price'"),
  ("corpus_eval_fraction_zero", corpus(eval_fraction=0.0), "eval_fraction=0.0 must be"),
  ("corpus_seq_len_zero", corpus(seq_len=0), "config.data.seq_len=0 must be positive"),
  (
    "bidirectional_language_model",
    {**corpus(), "arch.bidirectional": True},
    "a bidirectional model sees the future and cannot do language modelling",
  ),
]


@pytest.fixture
def no_compile():
  """Fails the test when anything was compiled inside the `with` block it guards."""
  before = len(_COMPILES)
  yield
  assert len(_COMPILES) == before, f"compiled before the error: {_COMPILES[before:]}"


def assert_one_line(error: BaseException, words: str) -> None:
  message = str(error)
  assert "\n" not in message and words in message, message


@pytest.mark.parametrize(
  "overrides,words",
  [c[1:] for c in CONFIG_CASES + FILE_CASES],
  ids=[c[0] for c in CONFIG_CASES + FILE_CASES],
)
def test_bad_config_is_one_line_before_compiling(overrides, words, tmp_path, no_compile):
  config = configured(_materialize(overrides, tmp_path))
  with pytest.raises(ConfigError) as info:
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert_one_line(info.value, words)


def test_at_least_sixty_bad_inputs():
  assert len(CONFIG_CASES) + len(FILE_CASES) + len(WORKDIR_CASES) >= 60


def _regular_file_as_workdir(tmp_path):
  (tmp_path / "taken").write_text("not a folder")
  return str(tmp_path / "taken"), configured({}), "cannot create workdir"


def _workdir_of_another_config(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(configured({"arch.num_filters": 4}).to_json())
  return str(run), configured({}), "holds a run of another config (arch.num_filters differ"


def _busy_workdir(tmp_path):
  """The lock held through another open file (as another process holds it)."""
  run = tmp_path / "run"
  run.mkdir()
  fd = os.open(run / workdir.LOCK_FILE, os.O_RDWR | os.O_CREAT)
  fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  os.write(fd, json.dumps({"pid": 4242, "host": "node7", "started": 0}).encode())
  return str(run), configured({}), "is in use by PID 4242 on host node7"


WORKDIR_CASES = [
  ("workdir_is_a_file", _regular_file_as_workdir),
  ("workdir_of_another_config", _workdir_of_another_config),
  ("workdir_busy", _busy_workdir),
]


@pytest.mark.parametrize("make", [c[1] for c in WORKDIR_CASES], ids=[c[0] for c in WORKDIR_CASES])
def test_bad_workdir_is_one_line_before_compiling(make, tmp_path, no_compile):
  path, config, words = make(tmp_path)
  with pytest.raises(ConfigError) as info:
    train.train_and_evaluate(config, path)
  assert_one_line(info.value, words)


def test_unknown_compare_preset_is_one_line(tmp_path, no_compile):
  with pytest.raises(ConfigError) as info:
    suite.run(compare.get_config("bogus"), str(tmp_path), log=lambda line: None)
  assert_one_line(info.value, "unknown compare preset 'bogus'; use --config=")


def test_generate_names_the_runs_missing_data_file(tmp_path, no_compile):
  config = configured(corpus(train_path=str(tmp_path / "moved.txt")))
  (tmp_path / "config.json").write_text(config.to_json())
  with pytest.raises(ConfigError) as info:
    sampling.load_lm_run(str(tmp_path))
  assert_one_line(info.value, "was trained on train_path")
  assert "put the file back" in str(info.value) and "--config" not in str(info.value)
