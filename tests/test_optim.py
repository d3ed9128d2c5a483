"""optim.py: the optimizer knobs, with and without the safeguards."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnrnn_jax import optim
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError


def _opt(**overrides):
  opt = default.get_config().opt
  opt.update(warmup_steps=0, schedule="constant", **overrides)
  return opt


def _first_update(opt, grads):
  tx = optim.make_optimizer(opt, train_steps=10)
  updates, _ = tx.update(grads, tx.init(grads), grads)
  return updates


def test_sgd_without_clipping_takes_the_raw_gradient_step():
  grads = {"w": jnp.array([30.0, -40.0])}  # norm 50
  updates = _first_update(_opt(optimizer="sgd", learning_rate=0.1, clip_norm=0.0), grads)
  np.testing.assert_allclose(updates["w"], [-3.0, 4.0], rtol=1e-6)


def test_clipping_bounds_the_step_of_either_optimizer():
  grads = {"w": jnp.array([30.0, -40.0])}
  clipped = _first_update(_opt(optimizer="sgd", learning_rate=0.1, clip_norm=1.0), grads)
  np.testing.assert_allclose(optax.tree.norm(clipped), 0.1, rtol=1e-5)
  adamw = _first_update(_opt(optimizer="adamw", learning_rate=0.1, clip_norm=1.0), grads)
  assert jax.tree.all(jax.tree.map(lambda u: bool(jnp.all(jnp.isfinite(u))), adamw))


@pytest.mark.parametrize(
  "overrides,message",
  [
    ({"optimizer": "lamb"}, r"config.opt.optimizer='lamb' is not one of \('adamw', 'sgd'\)"),
    ({"clip_norm": -1.0}, r"clip_norm=-1.0 must be >= 0 \(0 = no clipping\)"),
    ({"learning_rate": 0.0}, r"learning_rate=0.0 must be positive"),
  ],
)
def test_bad_optimizer_knobs_are_one_line_errors(overrides, message):
  with pytest.raises(ConfigError, match=message):
    optim.validate(_opt(**overrides))
