r"""Benchmark config: the shapes, suites and target ratios that `experiments.benchmark` times.

  python -m experiments.benchmark --outdir=runs/benchmark               # <= 10 min, 2 CPU cores
  python -m experiments.benchmark --outdir=runs/benchmark --with_torch  # + torch peers

(torch is an optional peer: `pip install -e ".[bench]"`.) Every field below has a flag of the
same name (`--lengths=32,256`, `--suites=targets`, `--families=lstm,conv`, ...); the code that
builds, times and writes is `cnnrnn_jax/bench/`. Three suites by default, and a fourth:

  targets  B=64, input 128, hidden 256, T=256, float32: every implementation of every
           family -- recurrences (ours fused and scan, Flax nn.RNN cells, torch),
           convolution layer and Kim CNN (vmap forms, XLA, torch), linear recurrence
           (associative vs sequential scan), self-attention and the 2-D convolution of the
           video frame encoder (vmap forms, XLA) -- plus an N x N float32
           matmul: the machine's ceiling, timed in the same rounds. Ends with the target
           ratios (`targets` below) and whether they hold.
  lengths  the timed implementation of each family at T = `lengths` (batch `sweep_batch`):
           LSTM and GRU layers, convolution layer, Kim CNN, linear recurrence, attention.
  batch    the Kim CNN and the LSTM model (same embedding and head) at T=`batch_length` and
           batch sizes `batch_sizes`.
  train_steps  (`--suites=train_steps`, not in the default run) the jitted train steps users
           run: the reference configs of bench/train_steps.py (`train_models`) at their
           shapes, each against a torch twin of the same parameter count (--with_torch; timed
           in its own process with each of `torch_threads`, the fastest counts), with compile
           seconds (cold and from the persistent cache), the trainer's logged steps/s from a
           short real run against the isolated step, and where the LSTM and GRU steps spend
           their time. Writes train_steps.csv and train_steps.png too; its recorded run is in
           docs/performance.md.

Every row: forward and forward+backward wall time (median over rounds, after compilation,
implementations interleaved in each round), compile time, XLA's compiled temporary memory,
FLOPs from XLA's cost analysis with each scan body counted once per step, achieved GFLOP/s
and its share of the matmul ceiling. Writes into --outdir: results.csv (one row per case),
tables.md (what is printed) and benchmark.png (time against length; the target ratios;
GFLOP/s against the ceiling). Timings on a shared machine are noisy: read ratios from one
run; the load average, printed at the start and end, says how shared it was.

Measured (the second command; 343 s of benchmark, 5 min 49 s in all, on a 2-core x86_64 CPU,
AMD EPYC, jax 0.10.2, torch 2.13.0+cpu with 2 threads; load average 1.1 at the start, 1.7 at
the end; its tables.md in full: docs/benchmarks/cpu_2core_2026-11-30.md). Float32 matmul
ceiling (2048^3, same rounds): 183.7 GFLOP/s. The targets, fwd+bwd, medians of 5 rounds:

  target                                          measured                        wanted   holds
  LSTM: ours (fused) / Flax nn.RNN(OptimizedLSTMCell)
                                                  0.91x (306.6 vs 336.4 ms)       <= 1.0x  yes
  LSTM at the matmul ceiling (fused)              69% (127.1 of 183.7 GFLOP/s)    >= 60%   yes
  LSTM: ours / torch nn.LSTM (oneDNN)             1.39x (306.6 vs 221.0 ms)       <= 0.9x  no
  GRU: ours / torch nn.GRU                        0.92x (263.7 vs 287.2 ms)       <= 0.8x  no
  Kim CNN: vmap_shifted / lax.conv_general_dilated
                                                  1.30x (152.0 vs 117.0 ms)       <= 1.15x no
                                                  (plain vmap: 1.40x, 163.3 ms)

Why the three are missed, measured in the same run:
- LSTM vs torch: 0.9x needs 195.8 GFLOP/s on these 38.9 GFLOP, above the 183.7 GFLOP/s XLA
  reaches on a plain 2048^2 matmul. torch's fused LSTM runs at 176 GFLOP/s (96% of that
  ceiling, more than torch's own plain matmul, 173.4); a recurrence built from XLA-compiled
  matmuls cannot beat XLA's matmul.
- GRU vs torch: 0.8x needs 127.3 GFLOP/s (69% of the ceiling); ours reaches 110.9 (60%). The
  per-op profile puts 165 of the 264 ms in the three per-step fusions holding the 64-row
  matmuls (70.5, 58.1 and 36.6 ms per call: x W_x, h W_h and the backward dh products, 16.1
  GFLOP in 165 ms = 98 GFLOP/s, about half the big-matmul rate at 64 rows), 32 ms in waiting
  on the 2-thread pool (465 waits per call) and ~38 ms in the per-step elementwise fusions.
  Another run of the same command gave 0.91x.
- Kim CNN, vmap vs XLA: in the optimized HLO both vmap forms become window copies plus one dot
  per width (12 `dot`, 0 `convolution` ops, 183-200 MB of temporaries) while the XLA twin keeps
  9 native `convolution` ops (63 MB). No vmap formulation found avoids materialising the
  windows on XLA:CPU, so the comparison suite times both and the faster (the XLA twin, tested
  equal) decides speed; `conv1d_vmap` stays the readable reference.

Other rows of the same run: the convolution layer alone is level with torch's nn.Conv1d (XLA
39.8 vs 42.0 ms, 86% of the ceiling); our tanh RNN beats torch's nn.RNN (114.5 vs 151.5 ms);
the associative scan is 1.4x slower than the sequential one (54.6 vs 38.1 ms: 2 cores give no
parallel depth to exploit). Along the lengths suite (B=16, fwd+bwd) the LSTM and the Kim CNN
both grow linearly, 15.4 -> 1514 ms and 5.3 -> 432 ms from T=32 to 4096: on 2 CPU cores the
CNN's parallelism buys a constant factor (2.2-3.6x across the sweep), not a different curve.

On a GPU (NVIDIA H200, jax 0.11.2; its tables: docs/benchmarks/h200_2026-11-30.md):

  python -m experiments.benchmark --suites=lengths --sweep_batch=16 --sweep_repeats=5 \
      --families=linear --lengths=1024,16384 --outdir=runs/benchmark_gpu_linear
  python -m experiments.benchmark --suites=lengths --sweep_batch=16 --sweep_repeats=5 \
      --families=lstm,kim_cnn --lengths=4096 --outdir=runs/benchmark_gpu_lstm_kim

  linear recurrence, sequential lax.scan / associative_scan (B=16, hidden 256):
    T=1024   fwd 17.15 / 0.60 ms = 29x     fwd+bwd 23.4 / 0.74 ms = 31x
    T=16384  fwd 209.2 / 1.14 ms = 183x    fwd+bwd 380.9 / 3.68 ms = 103x
  LSTM layer (fused) / Kim CNN model (XLA conv) (B=16, hidden 256, T=4096):
             fwd 41.7 / 1.25 ms = 33x      fwd+bwd 76.4 / 1.94 ms = 39x

The GPU is where "RNNs are sequential, hence slow" becomes true and where the associative
scan pays: its O(log T) depth turns a 16K-step loop into ~1 ms, while on the 2-core CPU the
same scan is slower than the loop. Not run on the GPU (XLA's GPU compiles took up to 33 s per
case there): the full lengths sweep at T = 1k-16k, vmap vs XLA convolution, the torch/cuDNN
peers; `--sweep_impls=all` times every implementation along the sweep for that run.
"""

import ml_collections

SUITES = ("targets", "lengths", "batch", "train_steps")
FAMILIES = (
  "lstm",
  "gru",
  "rnn",
  "conv",
  "kim_cnn",
  "lstm_model",
  "linear",
  "attention",
  "conv2d",
)
# What each field with a flag of the same name in experiments/benchmark.py means (its --help).
FLAG_HELP = {
  "suites": "Which suites to run: targets, lengths, batch, train_steps.",
  "families": "Only these families (default: all): lstm, gru, rnn, conv, kim_cnn, lstm_model, "
  "linear, attention, conv2d.",
  "with_torch": "Also time torch nn.LSTM/GRU/RNN/Conv1d (needs torch installed: "
  "pip install -e '.[bench]').",
  "repeats": "Timed rounds of the targets suite.",
  "sweep_repeats": "Timed rounds per sweep point.",
  "batch": "Targets suite batch size.",
  "length": "Targets suite sequence length.",
  "input": "Input channels (= embedding width of the models).",
  "hidden": "Recurrent hidden units.",
  "filters": "Feature maps per convolution width.",
  "lengths": "Lengths suite.",
  "sweep_batch": "Batch size of the lengths suite.",
  "batch_sizes": "Batch suite.",
  "sweep_impls": "Sweeps time the implementation each family is timed with (timed) or every "
  "implementation of it (all: scan and fused recurrences, every convolution form, both linear "
  "recurrences).",
  "ceiling_n": "Side of the ceiling matmul.",
  "frames": "Frames in the conv2d family's batch (16-frame clips x 32 clips).",
  "frame_side": "Side of the conv2d family's square frames.",
  "reuse_freed_memory": "Keep glibc from unmapping large freed buffers "
  "(bench.reuse_freed_memory); applies to JAX and torch alike. --noreuse_freed_memory to compare.",
  "profile": "Print where the fwd+bwd time of our LSTM and GRU goes, per XLA op "
  "(bench.op_profile; XLA:CPU only).",
  "attention_max_mb": "Skip attention where one B x heads x T x T float32 tensor exceeds this.",
  "train_models": "The train_steps suite's reference configs (default: all): tcn_copy, kim_cnn, "
  "lstm, bilstm, gru, transformer, gru_mnist1d, tcn_seq_mnist.",
  "train_rounds": "Timed rounds of the train_steps suite (ours and each torch process).",
  "torch_threads": "torch thread counts of the train_steps suite's twins (the fastest counts).",
  "trainer_steps": "Steps per logging window of the train_steps suite's short real runs.",
  "trainer_windows": "Timed logging windows of each short real run (after the first).",
  "train_profile": "train_steps reference configs whose step is profiled by kind of XLA op "
  "(with --profile).",
}


def get_config() -> ml_collections.ConfigDict:
  """The recorded run's settings (the flags of `experiments.benchmark` default to these;
  FLAG_HELP says what each of those fields means)."""
  c = ml_collections.ConfigDict()
  c.suites = ("targets", "lengths", "batch")  # train_steps: --suites=train_steps
  c.families = ()  # empty: all of FAMILIES
  c.with_torch = False
  c.repeats = 5
  c.sweep_repeats = 3
  c.pause_s = 0.01  # untimed pause before each timed call (lets torch's OpenMP threads settle)

  # The targets suite's shape (input = the models' embedding width).
  c.batch = 64
  c.length = 256
  c.input = 128
  c.hidden = 256
  c.filters = 100
  c.conv_width = 5  # the convolution layer's width ('same' padding)
  c.kim_widths = (3, 4, 5)  # the Kim CNN's widths ('valid')
  c.vocab_size = 10_000  # the models' vocabulary
  c.attention_heads = 4
  c.ceiling_n = 2048
  # The conv2d family: one 3x3 'same' layer of the video frame encoder (8 -> 16 channels)
  # over every frame of a batch of clips.
  c.frames = 512
  c.frame_side = 32
  c.frame_channels = 8
  c.frame_filters = 16

  # The sweeps.
  c.lengths = (32, 256, 1024, 4096)  # at batch sweep_batch
  c.sweep_batch = 16
  c.batch_sizes = (1, 16, 256)  # at length batch_length
  c.batch_length = 256
  c.sweep_impls = "timed"
  c.attention_max_mb = 512
  c.reuse_freed_memory = True
  c.profile = True

  # The train_steps suite (bench/train_steps.py): whole train steps against torch twins.
  c.train_models = ()  # empty: every reference config
  c.train_rounds = 10
  c.torch_threads = (1, 2)
  c.trainer_steps = 25
  c.trainer_windows = 3
  c.train_profile = ("lstm", "gru")  # whose train step is profiled per kind of XLA op

  # Target ratios of fwd+bwd time ("ours" is the faster of our fused and scan recurrences,
  # the peer its fastest variant) and the share of the matmul ceiling our LSTM should reach.
  c.targets = ml_collections.ConfigDict()
  c.targets.lstm_over_torch = 0.9
  c.targets.lstm_over_flax = 1.0
  c.targets.gru_over_torch = 0.8
  c.targets.kim_cnn_vmap_over_xla = 1.15
  c.targets.lstm_pct_ceiling = 60.0
  # train_steps: ours / the fastest torch twin, per reference config; and the trainer's
  # logged steps/s over the isolated step's rate
  c.targets.train_steps = ml_collections.ConfigDict(
    {"lstm": 1.0, "bilstm": 1.0, "gru": 0.9, "kim_cnn": 0.7, "tcn_copy": 0.7}
  )
  c.targets.trainer_over_step = 0.9
  return c
