r"""Sequential and permuted MNIST at Bai et al. (2018)'s setting, and a CPU-scale subset.

Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent
Networks for Sequence Modeling": each 28x28 image is read one pixel at a time (784 steps
of 1 value; `perm_mnist` applies one fixed permutation to the pixels first), and models of
about 70K parameters are compared. Published test accuracy (seq / permuted):
LSTM 87.2 / 85.7%, GRU 96.2 / 87.3%, TCN 99.0 / 97.2%.

Presets as in bai2018.py: 'MODEL' or 'MODEL,TASK' (task seq_mnist, the default, or
perm_mnist) is the CPU-scale subset, 'MODEL,TASK,paper' the paper's setting. `SIZES` gives
(parameters pinned in tests/test_reference_configs.py): tcn 8 levels x 25 channels, kernel 7
(66,910, the paper's TCN; receptive field 1 + 2 * 6 * 255 = 3,061 >= 784), lstm 130 units
(69,950), gru 150 units (70,360). The tasks read the standard IDX files (`data.train_path`).

Paper setting: 20 epochs of 784 sequential steps are GPU work; one epoch of the TCN (938
steps), and the GRU and LSTM for the sequential TCN epoch's wall-clock time (7,000 steps),
ran on a 2-core CPU and are scored on the whole 10,000-image test set in docs/results.md
(`python -m experiments.bai_table`, which lists their commands). The full setting:

  D=../shared/data   # or wherever your copy of the data is
  python -m experiments.train --config=cnnrnn_jax/configs/seq_mnist.py:tcn,seq_mnist,paper \
      --config.data.train_path=$D/mnist --seeds=0,1,2 --workdir=runs/seq_mnist_tcn_paper

(lstm / gru for tcn, perm_mnist for seq_mnist.) As in Bai et al.'s TCN code: batch 64,
20 epochs (18,750 steps), learning rate 2e-3, dropout 0.05. Ours uses AdamW with our
warmup + cosine schedule and clipping at 1 for every model (Bai et al. tuned each
recurrent baseline's optimizer, and used no clipping for the TCN).

CPU-scale subset (no ',paper'): the same models, tasks and 784-pixel sequences, trained for
only CPU_STEPS steps of CPU_BATCH images (3,200 images, 5% of one epoch) and scored on the
first EVAL_SIZE test images. One paper-sized TCN step on 64 images is about 20 GFLOP
(about 2 CPU-seconds here), so this is what fits in minutes:

  python -m experiments.train --config=cnnrnn_jax/configs/seq_mnist.py:tcn,seq_mnist \
      --config.data.train_path=$D/mnist --seeds=0,1,2 --workdir=runs/seq_mnist_tcn

Measured (accuracy on the first 1,000 test images, mean ± sample std over seeds 0, 1, 2;
seconds are the trainer's training time per seed on a 2-core CPU shared with other jobs):

  seq_mnist   tcn 77.6 ± 0.9% (78.2, 78.0, 76.6), 133-149 s per seed
              gru 11.8 ± 1.7% (9.9, 12.9, 12.6): still at chance, 26-45 s per seed
  perm_mnist  tcn 77.4 ± 2.0% (79.7, 76.7, 75.9), 44-47 s per seed
              gru 25.5 ± 1.9% (25.0, 23.8, 27.6), 26-35 s per seed

(The fused cells' tanh form of the sigmoid leaves these gru numbers unchanged.)
In the same number of steps the TCN learns (its receptive field covers all 784 pixels from
the first step) while the GRU has barely started (it does better on the permuted pixels,
where the last steps it reads already carry information); the GRU's steps cost about a
third of the TCN's here (user CPU for 3 seeds: gru 97-100 s, tcn 246-266 s).
"""

import ml_collections

from cnnrnn_jax.configs import default

SIZES = {
  "tcn": {"hidden": 25, "tcn_levels": 8, "tcn_kernel_size": 7},
  "lstm": {"hidden": 130},
  "gru": {"hidden": 150},
}
TASKS = ("seq_mnist", "perm_mnist")
TRAIN_IMAGES = 60_000
CPU_STEPS = 100
CPU_BATCH = 32
EVAL_SIZE = 1000


def get_config(preset: str = "tcn") -> ml_collections.ConfigDict:
  """`preset`: 'MODEL[,TASK[,paper]]' with MODEL in SIZES and TASK in TASKS."""
  parts = preset.split(",")
  model, task = parts[0], parts[1] if len(parts) > 1 and parts[1] else "seq_mnist"
  paper = parts[2:] == ["paper"]
  if model not in SIZES or task not in TASKS or len(parts) > 3 or (len(parts) == 3 and not paper):
    raise ValueError(
      f"unknown seq_mnist preset {preset!r}; use MODEL[,TASK[,paper]] with "
      f"MODEL in {sorted(SIZES)} and TASK in {TASKS}"
    )
  config = default.get_config(f"{model},{task}")
  config.batch_size = 64
  config.train_steps = 20 * TRAIN_IMAGES // config.batch_size  # 20 epochs
  config.eval_every = TRAIN_IMAGES // config.batch_size  # once an epoch
  config.checkpoint_every = config.eval_every
  config.arch.update(SIZES[model])
  config.arch.dropout = 0.05
  config.opt.learning_rate = 2e-3
  config.opt.weight_decay = 0.0
  if not paper:
    config.batch_size = CPU_BATCH
    config.train_steps = config.eval_every = config.checkpoint_every = CPU_STEPS
    config.log_every = 25
    config.opt.warmup_steps = 10
    config.data.eval_size = EVAL_SIZE
  return config
