"""bench: scan-aware FLOP counts against hand counts, interleaved timing, and a tiny
end-to-end run of experiments/benchmark.py that writes its CSV, tables and picture."""

import csv
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from absl import flags
from absl.testing import flagsaver

from cnnrnn_jax import bench

B, H, L = 8, 32, 12
MATMUL = 2 * B * H * H     # FLOPs of one h @ W step


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
  ours = bench.scan_aware_flops(_tanh_rnn(), w, h0)
  assert MATMUL <= xla < 2 * MATMUL                      # one step's worth
  assert L * MATMUL <= ours["flops"] < L * MATMUL * 1.05  # every step
  assert ours["transcendentals"] == L * B * H              # one tanh per unit per step
  # The count does not depend on how the scan is unrolled.
  assert bench.scan_aware_flops(_tanh_rnn(unroll=3), w, h0) == ours
  with pytest.raises(NotImplementedError, match="remainder loop"):
    bench.scan_aware_flops(_tanh_rnn(unroll=5), w, h0)


def test_backward_scans_and_flax_scans_are_counted_too():
  w, h0 = _args()
  grad = jax.grad(lambda w, h0: jnp.sum(_tanh_rnn()(w, h0)))
  # forward h @ w, backward dh @ w^T and h^T @ dh: three matmuls per step.
  assert 3 * L * MATMUL <= bench.scan_aware_flops(grad, w, h0)["flops"] < 3.25 * L * MATMUL
  layer = nn.RNN(nn.SimpleCell(H))
  x = jnp.ones((B, L, H))
  params = layer.init(jax.random.PRNGKey(0), x)
  flops = bench.scan_aware_flops(layer.apply, params, x)["flops"]
  assert 2 * L * MATMUL <= flops < 2.1 * L * MATMUL       # x @ W_x and h @ W_h


def test_time_interleaved_rotates_and_compile_timed_reports_memory():
  order = []
  calls = {name: (lambda n=name: order.append(n), ()) for name in "abc"}
  times = bench.time_interleaved(calls, repeats=3)
  assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
  assert order == list("abc") + list("abc") + list("bca") + list("cab")   # warm-up, 3 rounds
  compiled = bench.compile_timed(_tanh_rnn(), *_args())
  assert compiled.compile_s > 0 and compiled.argument_bytes == 4 * (H * H + B * H)
  assert compiled.call(*_args()).shape == (B, H)
  stats = bench.summarize_times([0.003, 0.001, 0.002])
  assert stats["median_ms"] == pytest.approx(2.0) and stats["min_ms"] == pytest.approx(1.0)


def test_benchmark_smoke_writes_csv_tables_and_png(tmp_path):
  from experiments import benchmark
  argv = ["benchmark", f"--outdir={tmp_path}", "--suites=targets,lengths",
          "--families=gru", "--batch=2", "--length=8", "--input=4", "--hidden=8",
          "--filters=4", "--lengths=8", "--sweep_batch=2", "--repeats=2", "--sweep_repeats=1",
          "--ceiling_n=64"]
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    benchmark.main(argv[:1])
  with open(tmp_path / "results.csv") as f:
    rows = list(csv.DictReader(f))
  keys = {(r["suite"], r["family"], r["impl"], r["mode"]) for r in rows}
  assert ("targets", "gru", "fused", "fwd+bwd") in keys and ("targets", "gru", "flax", "fwd") in keys
  assert ("lengths", "gru", "fused", "fwd+bwd") in keys and ("targets", "matmul", "jnp.matmul", "fwd") in keys
  assert all(float(r["median_ms"]) > 0 and float(r["gflop"]) > 0 for r in rows)
  tables = (tmp_path / "tables.md").read_text()
  assert "matmul ceiling" in tables and "| gru | scan |" in tables
  assert os.path.getsize(tmp_path / "benchmark.png") > 10_000
