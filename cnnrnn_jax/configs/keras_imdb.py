r"""The Keras IMDB pair: a Conv1D text classifier against a bidirectional LSTM.

Keras's examples `imdb_cnn.py` and `imdb_bidirectional_lstm.py`, as far as our models
express them (presets 'cnn' and 'bilstm'):

  imdb_cnn       5,000 words, reviews cut to 400, embedding 50, 250 filters of width 3,
                 ReLU, global max pooling, dense 250 + ReLU, dropout 0.2, sigmoid;
                 Adam, batch 32, 2 epochs (1,563 steps of 25,000 reviews)
  bilstm         20,000 words, reviews cut to 100, embedding 128, BiLSTM 64 (final states
                 of both directions concatenated), dropout 0.5, sigmoid; Adam, batch 32,
                 4 epochs (3,125 steps)

The examples' own docstrings say 0.89 test accuracy after 2 epochs (90 s/epoch on an i5
CPU) for imdb_cnn and ~0.8146 after 4 epochs (~150 s/epoch on an i7 CPU) for the BiLSTM.

  python -m experiments.train --config=cnnrnn_jax/configs/keras_imdb.py:cnn \
      --seeds=0,1,2 --workdir=runs/keras_imdb_cnn
  python -m experiments.train --config=cnnrnn_jax/configs/keras_imdb.py:bilstm \
      --seeds=0,1,2 --workdir=runs/keras_imdb_bilstm

need tfds's `imdb_reviews` prepared (`--config.data.data_dir`; the task downloads it when
the machine is online). NOT YET RUN: the development machine is offline and IMDB is not
among the shared data files.

On any sentence-polarity files instead (`--config.task=text_files`, README "Real data").
A stand-in, NOT an IMDB number: GLUE SST-2 (train.tsv; accuracy on the 872 dev sentences),
the same step counts (1563 and 3125 steps: 0.7 and 1.5 passes over its 67,349 phrases; its
sentences are short, so the 400/100 cut never binds):

  D=../shared/data   # or wherever your copy of the data files is
  python -m experiments.train --config=cnnrnn_jax/configs/keras_imdb.py:cnn \
      --config.task=text_files --config.data.train_path=$D/sst2_glue/train.tsv \
      --config.data.eval_path=$D/sst2_glue/dev.tsv --seeds=0,1,2 --workdir=runs/keras_sst2_cnn

  cnn     81.1 ± 0.0% (81.08% for each seed, with different losses), 10-12 s per seed
  bilstm  81.2 ± 0.7% (81.88, 81.19, 80.39%), 55-60 s per seed (`:bilstm`)

(a shared 2-core CPU; Kim's CNN-rand on the same files reaches 82.8%, kim2014.py).

Per-step training time at IMDB's shapes does not depend on the data, so
`bench.keras_imdb_step_times()` (cnnrnn_jax/bench/train_steps.py) measures it on the `motif`
task at the same batch, length and vocabulary (`timing_config` below):

  python -c "from cnnrnn_jax import bench; print(bench.keras_imdb_step_times())"

Measured twice on the shared 2-core CPU (after compilation; median of 5, then of 10 with
`keras_imdb_step_times(rounds=10)`, alternating rounds of 5 steps), in seconds per step of 32
reviews:

  load  cnn (L=400)  bilstm (L=100)  bilstm / cnn
  ~6    0.061        0.041           0.66   (before the fused cell's faster sigmoid)
  ~2    0.030        0.026           0.89

so here a BiLSTM step costs no more than a Conv1D step: nothing like the ~20x quoted for
this pair. (The example docstrings' own CPU times, 90 s vs ~150 s per epoch on two
different CPUs, make a ratio of ~1.7.)

Where ours differs from Keras:
- cnn: no dropout on the embeddings and no dense-250 hidden layer (our head is one dense
  layer on the pooled 250 features, after dropout 0.2); both models: a 2-way softmax
  instead of one sigmoid unit.
- Our tokenizer and vocabulary (lowercased words, '<br />' removed; `vocab_size` counts
  PAD and OOV) instead of Keras's pre-built index; a review is cut to its FIRST
  `max_len` tokens and padding is masked, where Keras's `pad_sequences` keeps the LAST
  400/100 and the models read the zero padding in front.
- Adam at 1e-3 as in Keras (epsilon 1e-8 instead of 1e-7), with our trainer's global-norm
  clipping set out of reach (1e6) and no weight decay; Flax's initialisers, not Keras's.
"""

import ml_collections

from cnnrnn_jax.configs import default

TRAIN_REVIEWS = 25_000  # IMDB's training split
PRESETS = {
  "cnn": {
    "model": "cnn",
    "epochs": 2,
    "vocab_size": 5000,
    "max_len": 400,
    "arch": {"embed_dim": 50, "num_filters": 250, "kernel_sizes": (3,), "dropout": 0.2},
  },
  "bilstm": {
    "model": "lstm",
    "epochs": 4,
    "vocab_size": 20000,
    "max_len": 100,
    "arch": {
      "embed_dim": 128,
      "hidden": 64,
      "bidirectional": True,
      "readout": "last",
      "dropout": 0.5,
    },
  },
}


def get_config(preset: str = "cnn") -> ml_collections.ConfigDict:
  """`preset`: 'cnn' (imdb_cnn) or 'bilstm' (imdb_bidirectional_lstm)."""
  if preset not in PRESETS:
    raise ValueError(f"unknown keras_imdb preset {preset!r}; use one of {sorted(PRESETS)}")
  p = PRESETS[preset]
  config = default.get_config(f"{p['model']},imdb")
  config.batch_size = 32
  config.train_steps = -(-p["epochs"] * TRAIN_REVIEWS // config.batch_size)  # 1563 / 3125
  config.eval_every = config.train_steps  # evaluate once, at the end
  config.checkpoint_every = config.train_steps // p["epochs"]  # about once an epoch
  config.arch.update(p["arch"])
  config.data.vocab_size = p["vocab_size"]
  config.data.max_len = p["max_len"]
  config.opt.learning_rate = 1e-3
  config.opt.schedule = "constant"
  config.opt.warmup_steps = 0
  config.opt.weight_decay = 0.0
  config.opt.clip_norm = 1e6
  return config


def timing_config(preset: str) -> ml_collections.ConfigDict:
  """`preset`'s model, batch and optimizer on `motif` sequences of IMDB's shapes: every
  row padded to `max_len` tokens over a `vocab_size`-id vocabulary."""
  config = get_config(preset)
  config.task = "motif"
  config.data.seq_len = config.data.max_len
  config.data.vocab_size = config.data.vocab_size - 1  # motif adds the PAD id
  config.data.max_len = None
  return config
