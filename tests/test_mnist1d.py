"""MNIST-1D generated offline with mnist1d.make_dataset, and its shuffled variant."""

import numpy as np

from cnnrnn_jax import tasks
from cnnrnn_jax.configs import default
from cnnrnn_jax.tasks import mnist1d, tfds_tasks


def test_mnist1d_and_shuffled():
  config = default.get_config().data
  plain = tasks.build("mnist1d", config, seed=0)
  shuffled = tasks.build("mnist1d_shuffled", config, seed=0)
  spec = plain.spec
  assert (spec.kind, spec.num_outputs, spec.seq_len, spec.input_dim) == ("classify", 10, 40, 1)
  assert plain.num_train == 4000 and plain.num_eval == 1000  # the standard 4000 / 1000 split
  x_train, y_train, _, y_test = mnist1d.generate()
  np.testing.assert_array_equal(np.bincount(y_train)[:3], [398, 396, 411])  # the frozen split
  np.testing.assert_array_equal(np.bincount(y_test)[:3], [102, 104, 89])
  # The shuffled variant moves every sequence's positions by one fixed permutation.
  order = tfds_tasks.fixed_permutation(40)
  assert not np.array_equal(order, np.arange(40))
  np.testing.assert_array_equal(shuffled.x["train"][:, :, 0], plain.x["train"][:, order, 0])
  np.testing.assert_array_equal(shuffled.y["eval"], plain.y["eval"])
  np.testing.assert_allclose(plain.x["train"][:, :, 0], x_train, rtol=1e-6)
  config.eval_size = 100
  assert tasks.build("mnist1d", config, seed=0).num_eval == 100
  batch = plain.train_batch(0, 32)
  assert batch["inputs"].shape == (32, 40, 1) and batch["targets"].dtype == np.int32
