"""The extension's own tests, written the project's way (tiny shapes, one compile each):

  PYTHONPATH=.:examples python -m pytest examples/my_extension/tests

Importing my_extension registers its model, task and probe in this process.
"""

import jax
import jax.numpy as jnp
import ml_collections
import my_extension  # noqa: F401  (registers qrnn, parens, reversal)
import numpy as np
import pytest
from my_extension import model, probe, task

from cnnrnn_jax import models, plugins, suite, tasks, train
from cnnrnn_jax.configs import compare, default
from cnnrnn_jax.errors import ConfigError

jax.config.update("jax_numpy_rank_promotion", "raise")
qrnn = jax.jit(model.qrnn, static_argnums=4)  # one compile per shape instead of one per op


def _config(**arch):
  config = default.get_config("qrnn,parens")
  config.arch.update(embed_dim=4, hidden=6, **arch)
  config.data.update(seq_len=8, eval_size=8)
  config.batch_size = 4
  return config


def _params(kernel=2, C=3, H=4):
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  return jax.random.normal(k1, (kernel, C, 3 * H)), jax.random.normal(k2, (3 * H,))


def test_registration_adds_the_settings_to_every_config():
  config = default.get_config()
  assert config.arch.qrnn_kernel_size == 2 and config.data.parens_max_depth == 4
  assert compare.get_config().probes.reversal.enabled
  assert "qrnn" in models.CAUSAL_CAPABLE and "parens" in tasks.names()
  assert plugins.owners("arch")["qrnn_kernel_size"] == {"qrnn"}


def test_qrnn_is_causal_and_equals_its_sequential_twin():
  kernel, bias = _params()
  x_LxC = jax.random.normal(jax.random.PRNGKey(1), (6, 3))
  h = qrnn(kernel, bias, x_LxC, 6, "associative")
  assert h.shape == (6, 4)
  np.testing.assert_allclose(h, qrnn(kernel, bias, x_LxC, 6, "sequential"), atol=1e-5)
  jacobian = jax.jit(jax.jacobian(lambda x: model.qrnn(kernel, bias, x, 6, "associative")))
  jac_LxHxLxC = jacobian(x_LxC)
  future = jnp.triu(jnp.ones((6, 6)), k=1)[:, None, :, None]  # input step after output step
  assert float(jnp.abs(jac_LxHxLxC * future).max()) == 0.0


def test_padding_never_changes_the_output():
  kernel, bias = _params()
  x_LxC = jax.random.normal(jax.random.PRNGKey(2), (7, 3))
  padded = x_LxC.at[4:].set(99.0)
  a, b = (qrnn(kernel, bias, x, 4, "associative") for x in (x_LxC, padded))
  np.testing.assert_allclose(a, b)
  assert float(jnp.abs(a[4:]).max()) == 0.0


def test_pinned_parameter_count():
  _, qrnn = train.setup(_config())
  # embed 3x4, gate kernel 2x4x18 + bias 18, head 6x2 + 2
  assert models.parameter_counts(qrnn) == (12 + 144 + 18 + 14, 162)


def test_bad_settings_are_one_line_errors():
  with pytest.raises(ConfigError, match=r"qrnn_kernel_size=9 is wider than the sequence length 8"):
    train.setup(_config(qrnn_kernel_size=9))
  config = _config()
  config.data.seq_len = 7
  with pytest.raises(ConfigError, match="parens: seq_len=7 must be even"):
    train.setup(config)


def test_parens_balances_counts_and_labels_by_prefixes():
  t = tasks.build("parens", ml_collections.ConfigDict({"seq_len": 12, "eval_size": 64}), 0)
  batch = t.train_batch(3, 64)
  assert (batch["inputs"] == task.OPEN).sum(1).tolist() == [6] * 64  # counts never tell
  labels = [task.is_balanced(row) for row in batch["inputs"]]
  assert labels == batch["targets"].astype(bool).tolist() and 10 < sum(labels) < 54
  np.testing.assert_array_equal(batch["inputs"], t.train_batch(3, 64)["inputs"])


def test_reversal_reverses_within_length_and_plans_on_the_order_runs():
  x = np.array([[1, 2, 3, 0], [4, 5, 6, 7]])
  assert probe.reverse_within_length(x, np.array([3, 4])).tolist() == [[3, 2, 1, 0], [7, 6, 5, 4]]
  cfg = compare.get_config()
  grid = suite.plan(cfg)
  reversal = [j for j in grid if j.probe == "reversal"]
  assert len(reversal) == len(suite.order_train_jobs(grid)) > 0
  assert {j.extra["train_id"] for j in reversal} == {j.id for j in suite.order_train_jobs(grid)}
  cfg.probes.reversal.enabled = False
  assert not [j for j in suite.plan(cfg) if j.probe == "reversal"]
