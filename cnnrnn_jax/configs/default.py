"""Default config: every knob of a training run, with values that train in minutes on CPU.

Select a model (and optionally a task) after the colon, vary anything on the command line:

  python -m experiments.train --config=cnnrnn_jax/configs/default.py:lstm \
      --config.task=order --workdir=runs/lstm_order

Measured with these defaults on a 2-core CPU (docs/models_and_tasks.md has the
exact commands): lstm on `order` and cnn on `motif` reach >= 95% eval accuracy;
the order-blind `bag` stays at chance on `order`.
"""

import ml_collections
from ml_collections import config_dict

from cnnrnn_jax import plugins


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  """`preset` is 'MODEL' or 'MODEL,TASK' (e.g. 'cnn,motif')."""
  config = ml_collections.ConfigDict()
  config.model = "lstm"
  config.task = "order"
  config.seed = 0
  config.batch_size = 64
  config.train_steps = 1500
  config.log_every = 100  # steps between train-metric lines (and progress logs)
  config.eval_every = 500  # steps between evaluations (and at the end)
  # Model selection: also evaluate on this split (e.g. 'validation' while data.eval_split is
  # 'test') and report the eval metrics of the step that scored best on it. None = last step.
  config.select_on = config_dict.placeholder(str)

  # Scale-out and durability (docs/durability.md). Every device is used;
  # batch_size is the GLOBAL batch and must be a multiple of the device count.
  config.checkpoint_every = 500  # steps between checkpoints in workdir/checkpoints (and one
  # at the end); 0 = no checkpoints and no resume
  config.keep_checkpoints = 3  # the newest K checkpoints are kept
  config.distributed = False  # multi-host: jax.distributed.initialize() first (TPU pod)
  # Modules to import before anything is looked up (docs/extending.md): your models, tasks and
  # probes, e.g. 'my_pkg.models,my_pkg.tasks'. Their registered settings are in arch and data.
  config.plugins = ""
  # Accelerators (docs/accelerators.md): compute dtype float32 | bfloat16 (parameters, optimizer
  # state and the loss stay float32); 'START,END' traces those steps into workdir/profile;
  # log_flops: GFLOP/s and utilisation in the train lines (counting costs one small lowering
  # per scan body at the start); peak FLOP/s for the utilisation (None = the device table,
  # or on CPU a measured matmul ceiling).
  config.dtype = "float32"
  config.profile_steps = ""
  config.log_flops = True
  config.peak_flops = config_dict.placeholder(float)

  config.arch = ml_collections.ConfigDict()
  config.arch.embed_dim = 64
  config.arch.hidden = 128  # recurrent units / bag hidden layer
  config.arch.num_filters = 64  # feature maps per convolution width
  config.arch.kernel_sizes = (3, 4, 5)  # Kim 2014 widths
  config.arch.hybrid_kernel_size = 3  # cnn_lstm's convolution width
  config.arch.bidirectional = False
  config.arch.readout = "last"  # last | mean | max (recurrent models)
  config.arch.dropout = 0.1
  config.arch.conv_impl = "xla"  # xla | vmap | vmap_shifted: tested equal, xla is faster on CPU
  # --- Beyond the folklore: tcn, mingru, lru, transformer (width = arch.hidden) ---------
  config.arch.tcn_levels = 4  # tcn residual blocks; block i has dilation 2**i
  config.arch.tcn_kernel_size = 3  # tcn convolution width (receptive field is logged)
  config.arch.tcn_weight_norm = True  # weight normalisation of tcn kernels (Bai et al.)
  config.arch.num_layers = 2  # pre-norm residual blocks: mingru / lru / transformer
  config.arch.mlp_ratio = 2  # MLP width of those blocks = mlp_ratio * hidden
  config.arch.scan_impl = "associative"  # associative | sequential (mingru, lru): tested equal
  config.arch.num_heads = 4  # transformer attention heads (must divide hidden)
  config.arch.pos_encoding = "sinusoidal"  # sinusoidal | learned (transformer)
  # --- Recurrence implementation (docs/performance.md) --------------------------------
  # fused = recurrent.fused_scan (batch-level scan, hand-written backward); scan = vmap
  # of the didactic scan_sequence. Tested equal; fused is the faster one to train.
  config.arch.rnn_impl = "fused"
  # --- Position-specific baselines (Greydanus 2020): logreg, mlp over the flattened input -----
  config.arch.mlp_layers = 2  # mlp: ReLU layers of width arch.hidden; logreg has none
  # --- Forecasting (tasks/forecast.py) -------------------------------------------------
  config.arch.decomposition = 0  # linear: 0 = one map (NLinear); K = DLinear's K-step average
  config.arch.forecast_readout = "flatten"  # cnn on forecasting: flatten | last (keep time)
  config.arch.forecast_mode = "direct"  # rnn/lstm/gru: direct (vector head) | iterated
  # --- Video (frames.py, docs/video.md): a frame encoder before any model, and cnn3d ---------
  config.arch.frame_encoder = "none"  # none | cnn2d | mlp: run on every frame, then the model
  config.arch.frame_filters = (16, 32, 32)  # cnn2d / cnn3d: conv-ReLU-2x2 pool levels
  config.arch.frame_dim = 64  # frame feature width (cnn2d readout, mlp layers)
  config.arch.frame_pool = "flatten"  # cnn2d readout: flatten (keeps where) | max | mean
  config.arch.frame_mlp_layers = 2  # mlp frame encoder: Dense-ReLU layers of width frame_dim

  config.opt = ml_collections.ConfigDict()
  config.opt.optimizer = "adamw"  # adamw | sgd (with momentum)
  config.opt.learning_rate = 3e-3
  config.opt.warmup_steps = 100
  config.opt.schedule = "cosine"  # cosine | constant (after warmup)
  config.opt.weight_decay = 1e-4
  config.opt.momentum = 0.9  # sgd only
  config.opt.clip_norm = 1.0  # global-norm clipping; 0 = none

  # Task knobs; None means "the task's own default" (see each task's docstring).
  config.data = ml_collections.ConfigDict()
  config.data.seq_len = config_dict.placeholder(int)
  config.data.distance = config_dict.placeholder(int)
  config.data.vocab_size = config_dict.placeholder(int)
  config.data.eval_size = config_dict.placeholder(int)  # synthetic: 1024; real data: whole split

  # ---- Real data: tasks/files.py, tfds_tasks.py, mnist1d.py, forecast.py, text.py.
  # None = the task's default (each task's docstring). docs/real_data.md shows them in use.
  config.data.train_path = config_dict.placeholder(str)  # your file/folder; *_mnist: IDX files
  config.data.eval_path = config_dict.placeholder(str)  # held-out file/folder (else a fraction)
  config.data.eval_fraction = config_dict.placeholder(float)  # held out without eval_path: 0.1
  config.data.eval_split = config_dict.placeholder(str)  # tfds split / forecast validation|test
  config.data.data_dir = config_dict.placeholder(str)  # tensorflow-datasets data_dir
  config.data.encoding = config_dict.placeholder(str)  # None = UTF-8; e.g. latin-1
  config.data.skip_bad_rows = False  # skip (and count) malformed rows instead of failing
  config.data.header = config_dict.placeholder(bool)  # TSV/CSV header row; None = detect
  config.data.text_column = config_dict.placeholder(str)  # name or 0-based index; None = detect
  config.data.label_column = config_dict.placeholder(str)
  config.data.max_len = config_dict.placeholder(int)  # text classification truncation: 256
  config.data.level = config_dict.placeholder(str)  # word | char tokens
  config.data.lowercase = config_dict.placeholder(bool)
  config.data.min_count = config_dict.placeholder(int)  # rarer tokens become OOV
  config.data.vocab_path = config_dict.placeholder(str)  # reuse a run's WORKDIR/vocab.json
  config.data.format = config_dict.placeholder(
    str
  )  # text_files: table | label_first; None = detect
  # text_files model selection (select_on='dev') and k-fold cross-validation (tasks/files.py)
  config.data.dev_path = config_dict.placeholder(str)  # the dev split's file
  config.data.dev_fraction = config_dict.placeholder(float)  # or a seeded share of train
  config.data.cv_folds = config_dict.placeholder(int)  # K: run every fold (crossval.py)
  config.data.cv_fold = config_dict.placeholder(int)  # which fold is the eval part (set per fold)
  config.data.split_seed = config_dict.placeholder(int)  # seeds folds and dev_fraction: 0
  config.data.columns = config_dict.placeholder(str)  # csv_series 'target,other' | all; None = last
  config.data.horizon = config_dict.placeholder(int)  # forecast the next H steps: 1
  config.data.period = config_dict.placeholder(int)  # seasonal-naive baseline period
  config.data.split = config_dict.placeholder(str)  # fractions | ett | rows:A,B,C
  config.data.targets = config_dict.placeholder(str)  # first | all channels forecast
  config.data.window_norm = config_dict.placeholder(str)  # none | last | mean | diff
  config.data.log = False  # forecast the log of a positive series
  config.data.interpolate_missing = False  # csv_series: fill empty cells linearly
  # ---- Video (tasks/video.py): moving MNIST digits; train_path = the MNIST IDX folder.
  config.data.label = config_dict.placeholder(str)  # digits | direction | sequence
  config.data.frame_size = config_dict.placeholder(int)  # frames are square: 32
  config.data.digit_size = config_dict.placeholder(int)  # digits resized to this side: 14
  config.data.num_digits = config_dict.placeholder(int)  # digits per clip: 1
  config.data.speed = config_dict.placeholder(int)  # pixels per frame along each moving axis
  config.data.motion = config_dict.placeholder(str)  # bounce (off the walls) | wrap (torus)
  config.data.show_frames = config_dict.placeholder(int)  # sequence: frames each digit shows

  plugins.merge_registered(config)  # the settings registered models and tasks bring
  if preset:
    parts = preset.split(",")
    config.model = parts[0]
    if len(parts) > 1:
      config.task = parts[1]
  return config
