r"""tcn / mingru / lru / transformer sized to the Foundation LSTM's parameter budget.

The default lstm (embed 64, hidden 128) has 98,816 encoder parameters (embedding and
head excluded); `SIZES` gives each new family about the same (pinned in
tests/test_beyond_models.py, listed in docs/beyond.md). Usage as for
default.py, 'MODEL' or 'MODEL,TASK':

  python -m experiments.train --config=cnnrnn_jax/configs/beyond.py:transformer,order \
      --workdir=runs/transformer_order
"""

import ml_collections

from cnnrnn_jax.configs import default

SIZES = {
  "tcn": {"hidden": 64, "tcn_levels": 4, "tcn_kernel_size": 3},  # 99,328
  "mingru": {"hidden": 88, "num_layers": 2, "mlp_ratio": 2},  # 100,408
  "lru": {"hidden": 76, "num_layers": 2, "mlp_ratio": 2},  # 99,180
  "transformer": {"hidden": 76, "num_layers": 2, "mlp_ratio": 2, "num_heads": 4},  # 99,180
}


def get_config(preset: str = "tcn") -> ml_collections.ConfigDict:
  """`preset` is 'MODEL' or 'MODEL,TASK', as for default.py."""
  config = default.get_config(preset)
  config.arch.update(SIZES.get(config.model, {}))
  return config
