"""Speed, in ratios measured in one run: our cores against each other and against peers.

  cost.py         compile_timed, scan_aware_flops (each scan body counted once per step),
                  matmul_ceiling_case, hlo_op_counts, op_profile: what a compiled call costs
  machine.py      reuse_freed_memory, load_average, describe: the machine the timings ran on
  cases.py        one implementation at one shape, compiled: recurrences, convolutions, the
                  Kim CNN and LSTM models, linear recurrences, attention, the matmul ceiling
  peers.py        torch's layers and matmul (torch is optional, imported on request)
  suites.py       which cases the targets, lengths and batch suites hold (from the config)
  tables.py       results.csv rows, the markdown tables, the target verdicts
  plots.py        benchmark.png
  runner.py       run(config) builds, times and tabulates; write(results, outdir) saves
  train_steps.py  seconds per training step of whole training configs (Keras IMDB pair, video;
                  the train_steps suite: the reference configs against torch twins)

The targets (shapes, suites, target ratios) and the measured results of the recorded runs are
in configs/benchmark.py; `python -m experiments.benchmark` reads its flags and calls `run`.
Wall time itself is measured by `cnnrnn_jax.timing`; nothing here reads flags.
"""

from cnnrnn_jax.bench.cases import Case
from cnnrnn_jax.bench.cost import (
  HLO_OPS,
  Compiled,
  compile_timed,
  gflops_per_s,
  hlo_op_counts,
  matmul_ceiling_case,
  op_profile,
  scan_aware_flops,
)
from cnnrnn_jax.bench.machine import reuse_freed_memory
from cnnrnn_jax.bench.runner import Results, progress, run, write
from cnnrnn_jax.bench.train_steps import keras_imdb_step_times, step_times, video_step_costs
from cnnrnn_jax.timing import block, summarize_times, time_interleaved

__all__ = [
  "HLO_OPS",
  "Case",
  "Compiled",
  "Results",
  "block",
  "compile_timed",
  "gflops_per_s",
  "hlo_op_counts",
  "keras_imdb_step_times",
  "matmul_ceiling_case",
  "op_profile",
  "progress",
  "reuse_freed_memory",
  "run",
  "scan_aware_flops",
  "step_times",
  "video_step_costs",
  "summarize_times",
  "time_interleaved",
  "write",
]
