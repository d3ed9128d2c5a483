"""tensorflow-datasets tasks on tfds.testing.mock_data (offline: nothing is downloaded)."""

import numpy as np
import pytest

from cnnrnn_jax import tasks
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import tfds_tasks

tfds = pytest.importorskip("tensorflow_datasets")
pytestmark = pytest.mark.slow  # every test here starts TensorFlow (seconds of imports)


def data(**knobs):
  config = default.get_config().data
  for key, value in knobs.items():
    config[key] = value
  return config


@pytest.fixture
def mock(tmp_path):
  def context(num_examples):
    return tfds.testing.mock_data(
      num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )

  return context


def test_tensorflow_sees_no_gpu():
  tfds_tasks._tfds()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  assert tf.config.get_visible_devices("GPU") == []


@pytest.mark.parametrize(
  "name,labels", [("imdb", ("neg", "pos")), ("sst2", ("negative", "positive"))]
)
def test_text_tasks(mock, tmp_path, name, labels):
  with mock(24):
    task = tasks.build(name, data(min_count=1), seed=0)
  assert task.vocab.labels == labels
  assert task.spec.kind == "classify" and task.spec.num_outputs == 2
  assert task.num_train == 24 and task.num_eval == 24  # mock splits hold num_examples each
  batch = task.train_batch(0, 8)
  assert batch["inputs"].dtype == np.int32 and batch["inputs"].shape[1] in task.buckets
  assert batch["inputs"].max() < task.spec.vocab_size and (batch["lengths"] >= 1).all()
  assert set(np.unique(batch["targets"])) <= {0, 1}
  task.save_assets(str(tmp_path))
  assert (tmp_path / "vocab.json").exists()


@pytest.mark.parametrize(
  "name,shape", [("seq_mnist", (784, 1)), ("row_mnist", (28, 28)), ("perm_mnist", (784, 1))]
)
def test_mnist_tasks(mock, name, shape):
  with mock(10):
    task = tasks.build(name, data(), seed=0)
  assert (task.spec.seq_len, task.spec.input_dim) == shape and task.spec.num_outputs == 10
  batch = task.train_batch(0, 4)
  assert batch["inputs"].shape == (4,) + shape and batch["inputs"].dtype == np.float32
  assert batch["targets"].min() >= 0 and batch["targets"].max() < 10
  # pixels were normalised with MNIST's mean and std
  lowest = (0 - tfds_tasks.MNIST_MEAN) / tfds_tasks.MNIST_STD
  assert task.x["train"].min() >= lowest - 1e-6


def test_shakespeare_is_char_lm(mock):
  with mock(3):
    task = tasks.build("shakespeare", data(seq_len=8), seed=0)
  assert task.spec.kind == "lm" and task.spec.metric == "bits_per_char"
  batch = task.train_batch(0, 4)
  assert batch["inputs"].shape == (4, 8)
  np.testing.assert_array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])


def test_not_prepared_and_offline_says_how_to_prepare(tmp_path, monkeypatch):
  def offline(self, *args, **kwargs):
    raise ConnectionError("network is unreachable")

  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
  with pytest.raises(
    ConfigError,
    match=r"^sst2: glue/sst2 is not prepared in .*empty and "
    r"downloading it failed \(ConnectionError\); prepare it "
    r"on a connected machine .* or point "
    r"--config.data.data_dir at prepared data$",
  ) as error:
    tasks.build("sst2", data(data_dir=str(tmp_path / "empty")), seed=0)
  assert "\n" not in str(error.value)
