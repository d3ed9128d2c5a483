"""The published-table presets (configs/kim2014.py, keras_imdb.py, seq_mnist.py): each builds,
trains two steps on tiny temp-file data, and has the parameter count its docstring claims."""

import gzip
import struct

import jax
import numpy as np
import pytest

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import default, keras_imdb, kim2014, seq_mnist


@pytest.fixture(scope="module")
def polarity_tsv(tmp_path_factory):
  path = tmp_path_factory.mktemp("polarity") / "train.tsv"
  rows = [
    ("a truly great and moving film , go see it", 1),  # 10 tokens each: one bucket
    ("dull , slow and bad in every single way .", 0),
    ("the cast is great and the plot is moving .", 1),
    ("bad bad bad , a slow and dull mess .", 0),
  ]
  path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows * 10))
  return str(path)


@pytest.fixture(scope="module")
def mnist_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp("mnist")
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 70), ("t10k", 6)):
    for kind, array in (
      ("images-idx3", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)),
      ("labels-idx1", (np.arange(n) % 10).astype(np.uint8)),
    ):
      header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
      (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
  return str(folder)


def two_steps(config, **data):
  """Builds `config` on `data` (batch 2) and runs init plus two train steps in one compile;
  returns the model after checking that both losses are finite."""
  config.batch_size = 2
  config.data.update(data)
  task, model = train.setup(config)
  batches = jax.tree.map(lambda *b: np.stack(b), *[task.train_batch(i, 2) for i in range(2)])

  @jax.jit
  def run(batches):
    def step(state, batch):
      state, sums = train.train_step(state, batch, jax.random.PRNGKey(1), spec=task.spec)
      return state, sums["loss"] / sums["count"]

    return jax.lax.scan(step, train.init_state(config, task, model), batches)[1]

  losses = run(batches)
  assert losses.shape == (2,) and np.isfinite(losses).all()
  return model


@pytest.mark.slow  # trains the preset
def test_kim2014_trains_on_polarity_files(polarity_tsv):
  config = kim2014.get_config()
  assert (config.task, config.batch_size, config.arch.dropout) == ("text_files", 50, 0.5)
  model = two_steps(config, train_path=polarity_tsv, eval_path=polarity_tsv)
  # 100 maps of widths 3, 4, 5 over 300-d embeddings
  assert models.parameter_counts(model)[1] == 100 * (3 + 4 + 5) * 300 + 300 == 360_300


def test_kim2014_ours_is_the_real_data_default_cnn():
  """'ours' trains exactly as README's `default.py:cnn,text_files` 2000-step runs do."""
  ours, readme = kim2014.get_config("ours"), default.get_config("cnn,text_files")
  readme.train_steps = 2000
  ours.eval_every = readme.eval_every  # when to evaluate does not change the training
  assert ours.to_dict() == readme.to_dict()


@pytest.mark.slow  # trains the preset
@pytest.mark.parametrize(
  "preset,encoder,total",
  [
    ("cnn", 250 * 3 * 50 + 250, 5000 * 50 + 37_750 + 502),  # Keras Conv1D(250, 3)
    ("bilstm", 2 * 4 * 64 * (128 + 64 + 1), 20000 * 128 + 98_816 + 258),  # Bidirectional(LSTM(64))
  ],
)
def test_keras_imdb_presets(polarity_tsv, preset, encoder, total):
  timing = keras_imdb.timing_config(preset)  # IMDB's shapes, without IMDB
  task, model = train.setup(timing)
  assert (task.spec.seq_len, task.spec.vocab_size) == (
    keras_imdb.PRESETS[preset]["max_len"],
    keras_imdb.PRESETS[preset]["vocab_size"],
  )
  assert models.parameter_counts(model) == (total, encoder)
  config = keras_imdb.get_config(preset)
  assert (config.task, config.batch_size, config.train_steps) == (
    "imdb",
    32,
    {"cnn": 1563, "bilstm": 3125}[preset],
  )
  config.task = "text_files"
  two_steps(config, train_path=polarity_tsv, eval_path=polarity_tsv)


@pytest.mark.parametrize(
  "preset,total,steps",
  [
    pytest.param("gru,seq_mnist", 70_360, True, marks=pytest.mark.slow),
    ("tcn,seq_mnist,paper", 66_910, False),
    ("lstm,perm_mnist,paper", 69_950, False),
  ],
)  # gru trains; for tcn and lstm the shapes suffice (both train in test_bai2018.py)
def test_seq_mnist_presets_are_about_70k(mnist_folder, preset, total, steps):
  config = seq_mnist.get_config(preset)
  if steps:
    model = two_steps(config, train_path=mnist_folder)
  else:
    config.data.train_path = mnist_folder
    model = train.setup(config)[1]
  assert model.spec.seq_len == 784 and model.spec.input_dim == 1
  assert models.parameter_counts(model)[0] == total


def test_seq_mnist_preset_names():
  paper = seq_mnist.get_config("gru,perm_mnist,paper")
  cpu = seq_mnist.get_config("gru,perm_mnist")
  assert (paper.task, paper.train_steps, paper.data.eval_size) == ("perm_mnist", 18_750, None)
  assert (cpu.task, cpu.train_steps, cpu.data.eval_size) == ("perm_mnist", 100, 1000)
  with pytest.raises(ValueError, match="unknown seq_mnist preset 'gru,mnist1d'"):
    seq_mnist.get_config("gru,mnist1d")
