"""bench: scan-aware FLOP counts against hand counts, interleaved timing, the target
verdicts, config errors, and a tiny end-to-end run of experiments/benchmark.py that writes
its CSV, tables and picture."""

import csv
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from absl import flags
from absl.testing import flagsaver

from cnnrnn_jax import bench, timing
from cnnrnn_jax.bench import cost, suites, tables
from cnnrnn_jax.configs import benchmark as benchmark_config
from cnnrnn_jax.configs import keras_imdb
from cnnrnn_jax.errors import ConfigError

B, H, L = 8, 32, 12
MATMUL = 2 * B * H * H  # FLOPs of one h @ W step


def _tanh_rnn(unroll=1):
  def run(w, h0):
    step = lambda h, _: (jnp.tanh(h @ w), None)
    return jax.lax.scan(step, h0, None, length=L, unroll=unroll)[0]

  return run


def _args():
  return jnp.eye(H) * 0.5, jnp.ones((B, H))


def test_xla_counts_a_scan_body_once_and_we_count_every_step():
  w, h0 = _args()
  xla = jax.jit(_tanh_rnn()).lower(w, h0).cost_analysis()["flops"]
  ours = cost.scan_aware_flops(_tanh_rnn(), w, h0)
  assert MATMUL <= xla < 2 * MATMUL  # one step's worth
  assert L * MATMUL <= ours["flops"] < L * MATMUL * 1.05  # every step
  assert ours["transcendentals"] == L * B * H  # one tanh per unit per step
  # The count does not depend on how the scan is unrolled.
  assert cost.scan_aware_flops(_tanh_rnn(unroll=3), w, h0) == ours
  with pytest.raises(NotImplementedError, match="remainder loop"):
    cost.scan_aware_flops(_tanh_rnn(unroll=5), w, h0)


def test_backward_scans_and_flax_scans_are_counted_too():
  w, h0 = _args()
  grad = jax.grad(lambda w, h0: jnp.sum(_tanh_rnn()(w, h0)))
  # forward h @ w, backward dh @ w^T and h^T @ dh: three matmuls per step.
  assert 3 * L * MATMUL <= cost.scan_aware_flops(grad, w, h0)["flops"] < 3.25 * L * MATMUL
  layer = nn.RNN(nn.SimpleCell(H))
  x = jnp.ones((B, L, H))
  params = layer.init(jax.random.PRNGKey(0), x)
  flops = cost.scan_aware_flops(layer.apply, params, x)["flops"]
  assert 2 * L * MATMUL <= flops < 2.1 * L * MATMUL  # x @ W_x and h @ W_h


def test_time_interleaved_rotates_and_compile_timed_reports_memory():
  order = []
  calls = {name: (lambda n=name: order.append(n), ()) for name in "abc"}
  times = timing.time_interleaved(calls, repeats=3)
  assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
  assert order == list("abc") + list("abc") + list("bca") + list("cab")  # warm-up, 3 rounds
  compiled = cost.compile_timed(_tanh_rnn(), *_args())
  assert compiled.compile_s > 0 and compiled.argument_bytes == 4 * (H * H + B * H)
  assert compiled.call(*_args()).shape == (B, H)
  stats = timing.summarize_times([0.003, 0.001, 0.002])
  assert stats["median_ms"] == pytest.approx(2.0) and stats["min_ms"] == pytest.approx(1.0)


def test_the_old_public_names_still_import_from_bench():
  assert bench.time_interleaved is timing.time_interleaved and bench.block is timing.block
  assert bench.summarize_times is timing.summarize_times
  assert (
    bench.compile_timed is cost.compile_timed and bench.scan_aware_flops is cost.scan_aware_flops
  )
  for name in (
    "Compiled",
    "matmul_ceiling_case",
    "gflops_per_s",
    "HLO_OPS",
    "hlo_op_counts",
    "op_profile",
    "reuse_freed_memory",
  ):
    assert hasattr(bench, name), name


def _row(family, impl, ms, mode="fwd+bwd", **more):
  return {
    "suite": "targets",
    "family": family,
    "impl": impl,
    "mode": mode,
    "median_ms": ms,
    "gflop": None,
    "gflops_per_s": None,
    "pct_ceiling": None,
    **more,
  }


def test_target_verdicts_take_the_fastest_of_ours_and_of_the_peer():
  rows = [
    _row("lstm", "fused", 90.0, pct_ceiling=65.0),
    _row("lstm", "scan", 80.0, pct_ceiling=70.0),
    _row("lstm", "torch", 100.0),
    _row("lstm", "torch_1thread", 200.0),
    _row("lstm", "flax", 70.0),
    _row("kim_cnn", "vmap", 130.0),
    _row("kim_cnn", "xla", 100.0),
  ]
  targets = benchmark_config.get_config().targets
  verdicts = tables.target_verdicts(rows, targets, ("vmap", "xla"))
  assert verdicts == [
    ["LSTM fwd+bwd: ours / torch nn.LSTM (scan / torch)", "0.80x", "<= 0.9x", "yes"],
    ["LSTM fwd+bwd: ours / Flax nn.RNN(OptimizedLSTMCell) (scan)", "1.14x", "<= 1.0x", "NO"],
    ["Kim CNN fwd+bwd: conv impl vmap / xla", "1.30x", "<= 1.15x", "NO"],
    ["LSTM fwd+bwd GFLOP/s / matmul ceiling (scan)", "70%", ">= 60%", "yes"],
  ]
  targets.lstm_over_flax = 1.2  # the limits come from the config
  assert tables.target_verdicts(rows, targets, ("vmap", "xla"))[1][2:] == ["<= 1.2x", "yes"]


def test_time_by_kind_sorts_a_profile_into_the_kinds_of_a_step():
  # (op, ms per call, runs per call) as op_profile reports them, for a 4-step scan
  profile = [
    ("while.1", 9.0, 1),  # a loop's time is its body's: left out
    ("ynn_fusion.3 f32[64,512]", 2.0, 4),
    ("dynamic-update-slice_fusion f32[4,64,128]", 1.0, 8),
    ("add_tanh_fusion.2 f32[64,128]", 0.5, 4),
    ("dot.7 f32[128,512]", 3.0, 1),
    ("conv_general_dilated.4 f32[32,220,10]", 1.5, 1),
    ("convolution-window-dilated.2 f32[32,220,10]", 1.0, 1),
    ("transpose_copy_fusion.3 f32[10,220,32]", 0.75, 1),
    ("broadcast.9 f32[4,64,128]", 0.25, 1),
    ("add_select_fusion f32[10]", 0.125, 1),
    ("end: ThunkExecutor::Await", 0.0625, 1),
  ]
  assert cost.time_by_kind(profile, steps=4) == [
    ("once: matmul", 3.0),
    ("once: convolution", 2.5),
    ("per step: matmul", 2.0),
    ("per step: copies, slices", 1.0),
    ("once: layout transposes", 0.75),
    ("per step: elementwise", 0.5),
    ("once: zero fill", 0.25),
    ("once: other", 0.125),
    ("waits on the thread pool", 0.0625),
  ]


def test_unknown_suites_and_families_are_config_errors():
  config = benchmark_config.get_config()
  suites.check(config)
  config.suites = ("targets", "speed")
  with pytest.raises(ConfigError, match=r"unknown suites \['speed'\]; use targets, lengths, batch"):
    suites.check(config)
  config.suites, config.families = ("targets",), ("lstm", "cnn")
  with pytest.raises(ConfigError, match=r"unknown families \['cnn'\]"):
    suites.check(config)


@pytest.mark.slow  # a subprocess end to end
def test_benchmark_smoke_writes_csv_tables_and_png(tmp_path):
  from experiments import benchmark

  argv = [
    "benchmark",
    f"--outdir={tmp_path}",
    "--suites=targets,lengths",
    "--families=gru",
    "--batch=2",
    "--length=8",
    "--input=4",
    "--hidden=8",
    "--filters=4",
    "--lengths=8",
    "--sweep_batch=2",
    "--repeats=2",
    "--sweep_repeats=1",
    "--ceiling_n=64",
  ]
  if "workdir" in flags.FLAGS:  # a required flag of another entry point imported in this process
    argv.append(f"--workdir={tmp_path}")
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    benchmark.main(argv[:1])
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  keys = {(r["suite"], r["family"], r["impl"], r["mode"]) for r in rows}
  assert ("targets", "gru", "fused", "fwd+bwd") in keys and (
    "targets",
    "gru",
    "flax",
    "fwd",
  ) in keys
  assert ("lengths", "gru", "fused", "fwd+bwd") in keys and (
    "targets",
    "matmul",
    "jnp.matmul",
    "fwd",
  ) in keys
  assert all(float(r["median_ms"]) > 0 and float(r["gflop"]) > 0 for r in rows)
  tables = (tmp_path / "tables.md").read_text()
  assert "matmul ceiling" in tables and "| gru | scan |" in tables
  assert os.path.getsize(tmp_path / "benchmark.png") > 10_000


def test_step_times_gives_seconds_per_training_step_of_each_config():
  config = keras_imdb.timing_config("cnn")  # IMDB's model and optimizer on `motif` sequences
  config.batch_size, config.data.seq_len = 4, 16
  config.arch.update(embed_dim=8, num_filters=8)
  out = bench.step_times({"small": config}, rounds=2, repeats=1)
  assert list(out) == ["small_s_per_step"] and 0 < out["small_s_per_step"] < 10


def _twin_and_ours(config):
  """(the torch twin description, our parameter count) of a train_steps reference config."""
  from cnnrnn_jax import models, tasks
  from cnnrnn_jax.bench import train_steps

  task = train_steps.stand_in_task(config) or tasks.build(config.task, config.data, config.seed)
  batch = task.train_batch(0, config.batch_size)
  ours = models.count_params(
    models.abstract_params(models.build_model(config.model, config.arch, task.spec))
  )
  return train_steps.twin_of(config, task.spec, batch["inputs"].shape[1]), ours


@pytest.mark.slow  # builds every reference task (MNIST-1D is generated)
def test_torch_twins_have_our_parameter_counts():
  """Every reference config of the train_steps suite and its torch twin: same count."""
  torch = pytest.importorskip("torch")
  from cnnrnn_jax.bench import peers, train_steps

  for name, config in train_steps.reference_configs().items():
    if name == "gru_mnist1d":
      pytest.importorskip("mnist1d")
    twin, ours = _twin_and_ours(config)
    step, count = peers.twin_step(torch, twin)
    assert count == ours, name
  step()  # the last one trains a step


def test_twins_without_torch_say_torch_not_installed(monkeypatch):
  from cnnrnn_jax.bench import peers

  def missing(name):
    raise ImportError(f"No module named {name!r}")

  monkeypatch.setattr(peers.importlib, "import_module", missing)
  with pytest.raises(ConfigError, match="^torch not installed"):
    peers.twin_times({}, threads=1, rounds=1)


def test_unknown_train_models_are_config_errors():
  config = benchmark_config.get_config()
  config.train_models = ("lstm", "resnet")
  with pytest.raises(ConfigError, match=r"unknown train_models \['resnet'\]"):
    suites.check(config)


@pytest.mark.slow  # compiles, a short real run, and (with torch) a subprocess
def test_train_steps_suite_times_ours_the_trainer_and_the_twin(tmp_path):
  from cnnrnn_jax.bench import runner, train_steps

  config = train_steps.reference_configs()["gru"]
  config.batch_size, config.data.seq_len, config.data.vocab_size = 4, 8, 50
  config.arch.update(embed_dim=4, hidden=8)
  try:
    import torch  # noqa: F401

    threads = (1,)
  except ImportError:
    threads = ()
  rows, profiles = train_steps.end_to_end(
    {"gru": config}, 2, threads, 2, 1, lambda msg: None, profile=("gru",)
  )
  (row,) = rows
  kinds = dict(profiles["gru"])
  assert kinds["per step: matmul"] > 0 and all(ms >= 0 for ms in kinds.values())
  assert row["params"] > 0 and row["ours_ms"] > 0 and row["compile_s"] > 0
  assert row["cached_compile_s"] >= 0 and row["trainer_steps_per_s"] > 0
  assert row["trainer_over_step"] == row["trainer_steps_per_s"] / row["isolated_steps_per_s"]
  if threads:
    assert row["torch_1t_ms"] > 0 and row["ours_over_torch"] > 0
  bench_config = benchmark_config.get_config()
  bench_config.suites = ("train_steps",)
  results = runner.Results([], [], None, "", bench_config, rows)
  text = "\n".join(tables.train_steps_sections(rows, bench_config, bool(threads), profiles))
  assert "GRU, same" in text and "trainer / isolated" in text and "per step: matmul" in text
  paths = runner.write(results, str(tmp_path))
  assert os.path.getsize(tmp_path / "train_steps.png") > 10_000 and len(paths) == 5
