r"""Compare config: the grid that `python -m experiments.compare` measures.

  # default preset: every Foundation model, sized for a 2-core CPU (docs/verdict.md)
  python -m experiments.compare --workdir=runs/compare
  # the large preset, for a GPU or TPU: bigger models, longer sequences, more seeds,
  # every registered model and the real-data tasks that are registered
  python -m experiments.compare --config=cnnrnn_jax/configs/compare.py:large \
      --workdir=runs/compare_large
  # the map: speed and memory over parameters x length x batch (docs/verdict_map.md)
  python -m experiments.compare --config=cnnrnn_jax/configs/compare.py:map --workdir=runs/map
  # the verdict on real data: SST-2 sentences, MNIST-1D, spoken digits (docs/verdict_real.md)
  python -m experiments.compare --config=cnnrnn_jax/configs/compare.py:real \
      --config.real.data_dir=../shared/data --workdir=runs/real

Every knob can be varied on the command line (`--config.param_budget=50000`,
`--config.models=cnn,lstm,tcn`). Adding a model to the comparison is a config edit:
list it in `models` (or use 'all'); if its width is not `arch.hidden` or
`arch.num_filters`, add its width knob to `width_knobs`; if it has implementation
switches (`arch.conv_impl`, `arch.rnn_impl`, or the compute `dtype`), list it under `impls`
so each is timed.
Models, tasks and probes from outside the package come in with `--config.plugins=my_pkg.mod`
(docs/extending.md); a sweep of any registered task is added from the command line with
`--config.sweeps.TASK.distances='(1, 2, 4)'` (and its seq_len, models, train_steps, mixed,
counts fields, as in `new_sweep`).
"""

import ml_collections
from ml_collections import config_dict

from cnnrnn_jax import plugins
from cnnrnn_jax.configs import default

PRESETS = ("default", "large", "map", "real")


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  """`preset`: '' / 'default' (this CPU), 'large' (GPU/TPU), 'map' (speed and memory only,
  over a grid of sizes, lengths and batch sizes; the same on any device) or 'real' (the probes
  on real datasets, each with its own verdict table). Another name is kept in
  `preset` and refused by `suite.run` in one line (an error raised here would reach the
  user inside a flags traceback)."""
  preset = preset or "default"
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.models = "cnn,rnn,lstm,gru,cnn_lstm,bag"  # comma-separated, or "all": the whole registry
  c.folklore = ml_collections.ConfigDict()
  c.folklore.cnn = "cnn"  # the model that stands for the folklore's "CNN" column
  c.folklore.rnn = "lstm"  # ... and for its "RNN" column ("strong, with LSTM/GRU")
  c.param_budget = 20_000  # every model is sized to about this many parameters
  c.width_knobs = (
    "hidden",
    "num_filters",
    "embed_dim",
  )  # the first that changes a model's size is scaled
  # Implementations timed for speed and throughput (the verdict uses each model's fastest):
  # arch knob -> the models that have it and the values to time. The folklore pair gets
  # all of its own; other models run their defaults (conv_impl 'xla', rnn_impl 'fused').
  c.impls = ml_collections.ConfigDict()
  c.impls.conv_impl = _impls("cnn", ("xla", "vmap", "vmap_shifted"))
  c.impls.rnn_impl = _impls("lstm", ("fused", "scan"))
  c.plugins = ""  # modules imported first, here and in every worker (docs/extending.md)
  c.retry_failed = True  # re-run the jobs whose records hold an error (a fixed cause, a plugin)
  c.keep_params = False  # keep each training run's parameters (runs/ID/params.msgpack)
  # for the probes that reuse them (suite.trained_params); else such a probe trains once
  c.cache_dir = "xla_cache"  # JAX's persistent compilation cache under the workdir ('' = off)
  c.workers = 2  # processes for the training jobs (timing jobs always run alone, first)
  c.seeds = (0, 1)
  c.solved_threshold = 0.9  # accuracy at which a dependency distance counts as solved

  # The training config every run starts from (configs/default.py), sized for the CPU.
  c.train = default.get_config()
  c.train.batch_size = 32
  c.train.train_steps = 300
  c.train.log_every = 100
  c.train.eval_every = 1_000_000  # evaluate once, at the end
  c.train.checkpoint_every = 0  # short runs: the suite resumes job by job instead
  c.train.arch.embed_dim = 32
  c.train.opt.warmup_steps = 50
  c.train.data.eval_size = 2048  # accuracy to about ±1 point (binomial sd at chance)

  # Order awareness: the `order` runs (all models and controls x seeds) give accuracy, the
  # drop when blocks of `shuffle_window` tokens are shuffled, and accuracy at each fixed
  # distance. `relative_order` gives no single position away (tasks/clean.py): its markers
  # keep a margin from both ends and the distractors' voice flips which order is label 1.
  c.order = ml_collections.ConfigDict()
  c.order.task = "relative_order"
  c.order.seq_len = 64
  c.order.shuffle_window = 8
  c.order.eval_distances = (1, 2, 4, 8, 16, 32, 48)
  c.order.train_steps = 600  # 0 = train.train_steps; voice x order needs more than 300

  # Leakage controls: trained on every order and context probe beside the models. `logreg`
  # reads each (token, position) alone and `bag` ignores order, so neither can solve a clean
  # probe; where one of the `judges` beats chance by more than `margin` at a distance, that
  # distance is marked leaky and counts toward no stars. `mlp` is shown for comparison: with
  # position-specific weights it can compare where two tokens are.
  c.controls = ml_collections.ConfigDict()
  c.controls.models = "logreg,mlp"  # besides `bag`, which the comparison already trains
  c.controls.judges = "logreg,bag"
  c.controls.margin = 0.10

  # Long-term context: the order evaluation per distance, and one training run per (task,
  # distance, model, seed) of each sweep.
  c.sweep_seeds = (0,)
  c.sweeps = ml_collections.ConfigDict()
  # contrast_context links 'but' / 'although' to the clause D fillers away (tasks/clean.py):
  # one run on random distances up to 18 (seq_len 64), scored at each of these
  c.sweeps.contrast_context = _sweep(
    seq_len=64, distances=(0, 1, 2, 4, 8, 12, 18), train_steps=900, mixed=True
  )
  # Copy memory needs thousands of steps (the large preset); in this budget no model learns
  # it, so it is off here: --config.sweeps.copy_memory.distances='(2, 8)' turns it on.
  c.sweeps.copy_memory = _sweep(seq_len=None, distances=(), models="cnn,lstm")
  # Registered probes' own settings (suite.register_probe(..., defaults=...)): probes.NAME.
  c.probes = ml_collections.ConfigDict(
    {name: ml_collections.ConfigDict(d) for name, d in plugins.settings("probes").items()}
  )

  # Training stability: the fraction of runs that converge (final eval loss <= loss_fraction
  # x chance loss, never non-finite) on a task every model can represent (`presence`: is one
  # key token anywhere?), over a grid of optimizer x learning rate x clipping x length. SGD at
  # lr 1 is the aggressive setting where clipping matters. Stars come from the unclipped runs
  # (clip_norm 0); the clipped ones are shown beside them.
  c.stability = ml_collections.ConfigDict()
  c.stability.task = "presence"
  c.stability.lengths = (32, 256)
  c.stability.clip_norms = (0.0, 1.0)  # 0 = no clipping (unsafeguarded)
  c.stability.learning_rates = ml_collections.ConfigDict({"sgd": (1.0,), "adamw": (3e-3,)})
  c.stability.train_steps = 300
  c.stability.seeds = (0,)
  c.stability.loss_fraction = 0.5

  # Gradient behaviour: ||dloss/dx_t|| against distance at initialisation at these lengths
  # (and the order length), and after training on `order`.
  c.gradient = ml_collections.ConfigDict()
  c.gradient.lengths = (128,)
  c.gradient.batches = 4

  # Speed and memory: per example, after compilation, at matched parameter budgets.
  c.speed = ml_collections.ConfigDict()
  c.speed.task = "order"
  c.speed.lengths = (32, 128, 512)
  c.speed.batch_size = 32
  c.speed.repeats = 5

  # Scalability: inference throughput against batch size (and data-parallel scaling
  # when more than one device is present).
  c.scaling = ml_collections.ConfigDict()
  c.scaling.seq_len = 128
  c.scaling.batch_sizes = (8, 32, 128)
  c.scaling.repeats = 5

  c.benchmarks = ""  # more tasks every model trains on, comma-separated (skipped if unregistered)

  if preset == "large":
    _large(c)
  if preset == "map":
    _map(c)
  if preset == "real":
    _real(c)
  return c


def _impls(models: str, choices) -> ml_collections.ConfigDict:
  impls = ml_collections.ConfigDict()
  impls.models = models  # comma-separated
  impls.choices = choices
  return impls


def new_sweep() -> ml_collections.ConfigDict:
  """A sweep added from the command line (`--config.sweeps.TASK.distances=...`): shown in the
  report, counting toward the long-context stars only with `counts=True`."""
  return _sweep(seq_len=None, distances=(), counts=False)


def add_sweeps(c: ml_collections.ConfigDict, override_paths: list[str]) -> None:
  """Adds a `new_sweep` for every 'sweeps.TASK.<field>' override path whose sweep `c` lacks
  (experiments/compare.py calls it with its --config.* paths before applying them)."""
  for path in override_paths:
    parts = path.split(".")
    if len(parts) > 2 and parts[0] == "sweeps" and parts[1] not in c.sweeps:
      c.sweeps[parts[1]] = new_sweep()


def _sweep(
  seq_len, distances, models="", train_steps=0, mixed=False, counts=True
) -> ml_collections.ConfigDict:
  sweep = ml_collections.ConfigDict()
  sweep.seq_len = config_dict.placeholder(int)
  sweep.seq_len = seq_len  # one length for every distance: the runs share one compile
  sweep.distances = distances
  sweep.models = models  # comma-separated; '' = every model of the comparison
  sweep.train_steps = train_steps  # 0 = train.train_steps
  sweep.mixed = mixed  # one run on random distances up to seq_len's, scored at each distance
  sweep.counts = counts  # False: measured and shown, but no input to the long-context stars
  return sweep


def _large(c: ml_collections.ConfigDict) -> None:
  """GPU/TPU: 10x the parameters, 4-8x the lengths, 3 seeds, every registered model."""
  c.models = "all"
  c.workers = 1  # one process per accelerator
  c.param_budget = 200_000
  c.seeds = (0, 1, 2)
  c.sweep_seeds = (0, 1, 2)
  c.train.batch_size = 64
  c.train.train_steps = 4000
  c.train.arch.embed_dim = 64
  c.train.opt.warmup_steps = 200
  c.train.data.eval_size = 2048
  c.order.seq_len = 256
  c.order.train_steps = 0  # = train.train_steps
  c.order.eval_distances = (1, 2, 4, 8, 16, 32, 64, 128, 224)
  c.sweeps.contrast_context = _sweep(
    seq_len=160, distances=(0, 2, 4, 8, 16, 32, 64), train_steps=4000, mixed=True
  )
  c.sweeps.copy_memory = _sweep(seq_len=None, distances=(10, 50, 100, 200), train_steps=10_000)
  c.stability.lengths = (32, 256, 1024)
  c.stability.train_steps = 2000
  c.stability.learning_rates = ml_collections.ConfigDict(
    {"sgd": (0.1, 0.3, 1.0), "adamw": (1e-3, 3e-3, 3e-2)}
  )
  c.gradient.lengths = (128, 512, 2048)
  c.speed.lengths = (64, 256, 1024, 4096)
  c.speed.batch_size = 64
  c.speed.repeats = 20
  c.scaling.seq_len = 512
  c.scaling.batch_sizes = (16, 64, 256, 1024)
  c.impls.conv_impl.models = "cnn,cnn_lstm,tcn"
  c.impls.rnn_impl.models = "rnn,lstm,gru,cnn_lstm"
  # on an accelerator the compute dtype is one more implementation (docs/accelerators.md)
  c.impls.dtype = _impls("cnn,lstm,gru,tcn,transformer", ("float32", "bfloat16"))
  c.benchmarks = "mnist1d,sst2,imdb"


def _map(c: ml_collections.ConfigDict) -> None:
  """Speed and memory only: the speed probe at every cell of parameters x length x batch
  (suite.map_jobs), each model at its fastest tested implementation, ratios to the CNN."""
  c.models = "cnn,lstm,gru,tcn,transformer,lru"
  # One implementation each, to fit the budget: the ones the default preset's Speed row finds
  # fastest at most lengths on a CPU (`--config.impls.conv_impl.choices='("xla", "vmap")'`
  # times more, and the report then uses the fastest in each cell).
  c.impls.conv_impl.choices = ("xla",)
  c.impls.rnn_impl.choices = ("fused",)
  c.map = ml_collections.ConfigDict()
  c.map.param_budgets = (20_000, 200_000, 2_000_000)  # each model matched by width_knobs
  c.map.lengths = (32, 128, 512, 2048)
  c.map.batch_sizes = (1, 32, 256)
  # The speed probe's median over `repeats` calls, as the default preset's Speed row (its
  # cells at 20k parameters, batch 32, lengths 32-512 repeat those measurements).
  c.map.repeats = c.speed.repeats
  # Cells skipped before compiling, with the reason in their record: a train step does about
  # 6 x params x batch x length FLOPs, so `max_work` (params x batch x length) bounds each
  # cell's time. 2e9: 9.5 min on an idle 2-core CPU (docs/verdict_map.md); raise it on a GPU/TPU.
  c.map.max_work = 2e9
  # ... and cells whose compiled train step needs more than this many bytes (after compiling,
  # before running): 0 = no limit
  c.map.max_peak_bytes = 8 * 2**30
  # The workdir of a default-preset run (its timing jobs run first): the report then compares
  # the map's cells at that preset's settings with its Speed records ('' = no comparison).
  c.map.compare_with = ""


def _dataset(task: str, data: dict, param_budget: int, train_steps: int, converge: float):
  d = ml_collections.ConfigDict()
  d.task = task  # the registered task that reads it
  d.data = ml_collections.ConfigDict(data)  # its data fields; relative *_path under data_dir
  d.param_budget = param_budget  # every model sized to about this many parameters
  d.train_steps = train_steps  # of each accuracy run (3 seeds) and each stability run
  d.converge_fraction = converge  # stability: final eval loss <= this x chance loss
  return d


def _real(c: ml_collections.ConfigDict) -> None:
  """The suite's probes on real data (suite/real.py), one verdict table per dataset by the
  default preset's rules where they carry over (docs/verdict_real.md): accuracy (3 seeds),
  the drop when steps are shuffled inside blocks, accuracy by input length, speed and memory
  at the data's shapes, gradient decay at initialisation on real inputs, and the stability
  grid. Sized for ~25 min on a 2-core CPU."""
  c.seeds = (0, 1, 2)
  c.real = ml_collections.ConfigDict()
  # The folder that holds kim2014/ and fsdd/ (a clone has no ../shared: point it at your copy,
  # or run without those datasets: --config.real.datasets=mnist1d). Relative paths are read
  # from where the command runs.
  c.real.data_dir = "../shared/data"
  c.real.datasets = "sst2,mnist1d,digits"  # comma-separated keys of real.sets
  c.real.shuffle_windows = (2, 4, 8, 0)  # steps shuffled inside blocks of w (0: whole input)
  c.real.length_buckets = 4  # accuracy by input length: quarters of the eval examples
  # The workdir of a default-preset run: its verdict is printed beside the real ones ('' = none)
  c.real.compare_with = ""
  c.real.sets = ml_collections.ConfigDict(
    {
      # SST-2 sentences with Kim's test labels (6,920 train, 1,821 test); a 4,000-word
      # vocabulary: its 128,000-parameter embedding table is part of every model's budget
      "sst2": _dataset(
        "text_files",
        {
          "train_path": "kim2014/stsa.binary.train",
          "eval_path": "kim2014/stsa.binary.test",
          "vocab_size": 4000,
        },
        param_budget=150_000,
        train_steps=400,
        converge=0.8,
      ),
      # generated by the mnist1d package (4,000 train, 1,000 test; 40 steps, 1 channel);
      # 2,000 steps (16 epochs): at 600 the recurrent models were still far from trained
      "mnist1d": _dataset("mnist1d", {}, param_budget=20_000, train_steps=2000, converge=0.5),
      # FSDD recordings, its official split (recordings 0-4 of each speaker and digit are
      # the test set), 40 log-mel bands per 10 ms frame
      "digits": _dataset(
        "audio_files",
        {"train_path": "fsdd/recordings", "split": "index"},
        param_budget=20_000,
        train_steps=400,
        converge=0.5,
      ),
    }
  )
