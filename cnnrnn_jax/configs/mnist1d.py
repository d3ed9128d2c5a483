r"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"): the paper's baselines and ours.

Each row is one command (3 seeds, mean ± sample std of the final test accuracy, written to
WORKDIR/seeds.json); add ',mnist1d_shuffled' to the preset for the shuffled variant:

  python -m experiments.train --config=cnnrnn_jax/configs/mnist1d.py:cnn --seeds=0,1,2 \
      --workdir=runs/mnist1d/cnn
  python -m experiments.train --config=cnnrnn_jax/configs/mnist1d.py:cnn,mnist1d_shuffled \
      --seeds=0,1,2 --workdir=runs/mnist1d/cnn_shuffled

Measured on a shared 2-core CPU (seeds 0, 1, 2), test accuracy in %:

  preset     paper   mnist1d      shuffled    (paper shuffled)
  logreg     32      31.2 ± 0.8   31.3 ± 0.7
  mlp        68      68.1 ± 0.9   66.1 ± 0.6
  cnn        94      96.5 ± 0.5   47.2 ± 1.4  (56)
  gru        91      90.1 ± 2.5   52.6 ± 1.5  (57)
  mlp_ours   -       70.2 ± 0.5   71.9 ± 0.6
  cnn_ours   -       97.3 ± 0.5   53.7 ± 0.7
  gru_ours   -       96.7 ± 0.8   53.9 ± 0.9

Reference presets follow the paper's training (Adam 1e-2 constant, batch 100, 6000 steps,
no weight decay, no dropout) and its models as far as our encoders express them:
  logreg, mlp  as in the paper: 410 and 15,210 parameters. The paper's MLP adds its second
               hidden layer residually (h + relu(W h)); ours is a plain two-layer MLP.
  cnn          the paper stacks 3 convolutions (25 channels, widths 5/3/3, stride 2) and puts
               a linear layer on the flattened 5 x 25 features (5,210 parameters); our cnn is
               one layer of 25 filters per width 3/4/5 with max-over-time pooling (1,135).
  gru          the paper's bidirectional GRU with hidden 6 (the same 324 recurrent
               parameters) reads all 40 x 12 hidden states through one linear layer; ours
               reads the forward state after the last step and the backward state after the
               first (readout 'last'), so the head has 130 parameters instead of 4,810.
Ours (the default schedule: 100 warmup steps, cosine decay from 3e-3, AdamW 1e-4, clip 1),
at most the reference's steps: mlp_ours 2 x 256 with dropout 0.2; cnn_ours 64 filters per
width 3/5/7/9, 3000 steps; gru_ours one GRU of 64 units, 3000 steps.
"""

import ml_collections

from cnnrnn_jax.configs import default

# The paper's training: Adam, learning rate 1e-2 (constant), batch 100, 6000 steps, no
# weight decay, no dropout, no gradient clipping (clip_norm 1e6 never binds).
PAPER_OPT = {
  "learning_rate": 1e-2,
  "warmup_steps": 0,
  "schedule": "constant",
  "weight_decay": 0.0,
  "clip_norm": 1e6,
}
# Ours: the default schedule (100 warmup steps, cosine decay from 3e-3, AdamW 1e-4, clip 1).
OURS_OPT = {
  "learning_rate": 3e-3,
  "warmup_steps": 100,
  "schedule": "cosine",
  "weight_decay": 1e-4,
  "clip_norm": 1.0,
}

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
