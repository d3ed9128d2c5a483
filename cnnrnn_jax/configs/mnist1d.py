r"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"): the paper's baselines and ours.

RESULTS_PLACEHOLDER
"""

import ml_collections

from cnnrnn_jax.configs import default

# The paper's training: Adam, learning rate 1e-2 (constant), batch 100, 6000 steps, no
# weight decay, no dropout, no gradient clipping (clip_norm 1e6 never binds).
PAPER_OPT = {"learning_rate": 1e-2, "warmup_steps": 0, "schedule": "constant",
             "weight_decay": 0.0, "clip_norm": 1e6}
# Ours: the default schedule (100 warmup steps, cosine decay from 3e-3, AdamW 1e-4, clip 1).
OURS_OPT = {"learning_rate": 3e-3, "warmup_steps": 100, "schedule": "cosine",
            "weight_decay": 1e-4, "clip_norm": 1.0}

# preset -> (model, arch overrides, opt overrides, train steps). Reference rows, then ours.
PRESETS = {
    "logreg": ("logreg", {}, {}, 6000),
    "mlp": ("mlp", {"hidden": 100, "mlp_layers": 2}, {}, 6000),
    "cnn": ("cnn", {"num_filters": 25, "kernel_sizes": (3, 4, 5)}, {}, 6000),
    "gru": ("gru", {"hidden": 6, "bidirectional": True, "readout": "last"}, {}, 6000),
    "mlp_ours": ("mlp", {"hidden": 256, "mlp_layers": 2, "dropout": 0.2}, OURS_OPT, 6000),
    "cnn_ours": ("cnn", {"num_filters": 64, "kernel_sizes": (3, 5, 7, 9)}, OURS_OPT, 3000),
    "gru_ours": ("gru", {"hidden": 64}, OURS_OPT, 3000),
}


def get_config(preset: str = "cnn") -> ml_collections.ConfigDict:
  """`preset` is a key of PRESETS, optionally ',mnist1d_shuffled' (default task mnist1d)."""
  name, _, task = preset.partition(",")
  if name not in PRESETS:
    raise ValueError(f"unknown mnist1d preset {name!r}; known: {', '.join(PRESETS)}")
  model, arch, opt, steps = PRESETS[name]
  config = default.get_config(f"{model},{task or 'mnist1d'}")
  config.batch_size = 100
  config.train_steps = steps
  config.log_every = 500
  config.eval_every = 2000
  config.checkpoint_every = 2000
  config.arch.dropout = 0.0
  config.arch.update(arch)
  config.opt.update({**PAPER_OPT, **opt})
  return config
