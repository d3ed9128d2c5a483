"""MNIST-1D generated offline with mnist1d.make_dataset, its shuffled variant, the presets."""

import jax
import numpy as np
import pytest

from cnnrnn_jax import models, tasks, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.configs import mnist1d as mnist1d_config
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


@pytest.mark.slow  # trains each preset
@pytest.mark.parametrize("preset", sorted(mnist1d_config.PRESETS))
def test_every_mnist1d_preset_loads_and_trains(preset):
  shuffled = mnist1d_config.get_config(f"{preset},mnist1d_shuffled")
  config = mnist1d_config.get_config(preset)
  assert (config.task, shuffled.task) == ("mnist1d", "mnist1d_shuffled")
  assert config.batch_size == 100 and config.model == shuffled.model == preset.split("_")[0]
  config.batch_size = 8  # two real optimizer steps on a small batch
  task, model = train.setup(config)
  state = train.init_state(config, task, model)
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, spec=task.spec))
  for i in range(2):
    state, sums = step(state, task.train_batch(i, 8), jax.random.PRNGKey(i))
  assert int(state.step) == 2 and np.isfinite(float(sums["loss"]))


def test_mnist1d_paper_presets_match_the_paper():
  # Greydanus 2020: Adam 1e-2, batch 100, 6000 steps; logreg 410 and MLP 15,210 parameters.
  counts = {}
  for preset in ("logreg", "mlp", "gru"):
    config = mnist1d_config.get_config(preset)
    assert (config.opt.learning_rate, config.opt.schedule, config.train_steps) == (
      1e-2,
      "constant",
      6000,
    )
    counts[preset] = models.parameter_counts(train.setup(config)[1])
  assert counts["logreg"] == (40 * 10 + 10, 0)
  assert counts["mlp"][0] == (40 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)
  assert counts["gru"][1] == 2 * 3 * (1 * 6 + 6 * 6 + 2 * 6)  # the paper's bi-GRU, hidden 6
  with pytest.raises(ValueError, match="unknown mnist1d preset 'lstm'"):
    mnist1d_config.get_config("lstm")
