r"""Copy memory (Bai et al. 2018) with every model family at about 16K parameters.

Bai, Kolter & Koltun compare a TCN (8 levels, kernel 8, 10 channels) with recurrent
networks of the same budget; `SIZES` does the same here (parameter counts are pinned in
tests/test_beyond_models.py and listed in docs/beyond.md):

  python -m experiments.train --config=cnnrnn_jax/configs/copy_memory.py:tcn \
      --config.data.distance=200 --workdir=runs/copy_tcn

The memoryless baseline loss is 10 ln 8 / (T + 20) (0.0945 at T = 200). With this budget
(1000 steps, about two minutes on a 2-core CPU) tcn reaches an eval loss of 3e-5 (seeds 0-2),
far below 10% of the baseline; lstm, gru and mingru stay at the baseline
and lru reaches 0.028 (docs/beyond.md has the table and commands).
"""

import ml_collections

from cnnrnn_jax.configs import default

SIZES = {
  "tcn": {"hidden": 10, "tcn_levels": 8, "tcn_kernel_size": 8},
  "lstm": {"hidden": 56},
  "gru": {"hidden": 64},
  "mingru": {"hidden": 32, "num_layers": 2},
  "lru": {"hidden": 28, "num_layers": 2},
  "transformer": {"hidden": 28, "num_layers": 2, "num_heads": 4},
}


def get_config(model: str = "tcn") -> ml_collections.ConfigDict:
  """`model` is one of SIZES (another registered model keeps the default sizes)."""
  config = default.get_config(f"{model},copy_memory")
  config.batch_size = 32
  config.train_steps = 1000
  config.eval_every = 250
  config.log_every = 50
  config.arch.embed_dim = 10
  config.arch.dropout = 0.0
  config.arch.update(SIZES.get(model, {}))
  config.opt.learning_rate = 2e-3
  config.opt.weight_decay = 0.0
  config.data.eval_size = 512
  return config
