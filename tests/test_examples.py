"""The worked extension (examples/my_extension) used as a reader would: its own tests, then a
training run and a comparison with worker processes, from the command line only
(--config.plugins and --config.*.arch / .data settings: no config copy, no package edit)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "examples")])}

TINY_COMPARE = [  # one model, no stability grid, no context sweep: the smallest full report
  "--config.models=qrnn",
  "--config.folklore.cnn=qrnn",
  "--config.folklore.rnn=qrnn",
  "--config.controls.models=",
  "--config.controls.judges=",
  "--config.benchmarks=parens",
  "--config.param_budget=1500",
  "--config.seeds=(0,)",
  "--config.workers=2",
  "--config.keep_params=True",
  "--config.train.train_steps=10",
  "--config.train.opt.warmup_steps=2",
  "--config.train.batch_size=8",
  "--config.train.data.eval_size=16",
  "--config.train.arch.qrnn_kernel_size=3",
  "--config.train.data.parens_max_depth=3",
  "--config.order.train_steps=0",
  "--config.order.seq_len=16",
  "--config.order.eval_distances=(2,)",
  "--config.sweeps.contrast_context.distances=()",
  "--config.stability.learning_rates.sgd=()",
  "--config.stability.learning_rates.adamw=()",
  "--config.gradient.lengths=(16,)",
  "--config.gradient.batches=1",
  "--config.speed.lengths=(16,)",
  "--config.speed.repeats=1",
  "--config.speed.batch_size=8",
  "--config.scaling.batch_sizes=(8,)",
  "--config.scaling.seq_len=16",
  "--config.scaling.repeats=1",
  "--config.impls.conv_impl.models=",
  "--config.impls.rnn_impl.models=",
]


def _run(*args, timeout=300):
  result = subprocess.run(
    [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
  )
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


@pytest.mark.slow  # a pytest subprocess
def test_the_examples_own_tests_pass():
  _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "examples/my_extension/tests")


@pytest.mark.slow  # a training run and a comparison with worker processes, in subprocesses
def test_the_example_trains_and_compares_from_the_command_line_only(tmp_path):
  out = _run(
    "-m", "experiments.train", "--config.plugins=my_extension", "--config.model=qrnn",
    "--config.task=parens", "--config.arch.qrnn_kernel_size=3", "--config.arch.hidden=8",
    "--config.data.parens_max_depth=3", "--config.data.seq_len=12", "--config.data.eval_size=16",
    "--config.train_steps=4", "--config.log_every=2", "--config.eval_every=4",
    "--config.checkpoint_every=0", "--config.batch_size=8", f"--workdir={tmp_path / 'train'}",
  )  # fmt: skip
  assert out.startswith("final eval: accuracy=")
  config = json.load(open(tmp_path / "train" / "config.json"))
  assert config["plugins"] == "my_extension" and config["arch"]["qrnn_kernel_size"] == 3

  workdir = tmp_path / "compare"
  command = ["-m", "experiments.compare", "--config.plugins=my_extension", f"--workdir={workdir}"]
  out = _run(*command, *TINY_COMPARE)
  records = [json.loads(line) for line in open(workdir / "records.jsonl")]
  assert {r["probe"] for r in records} >= {"speed", "train", "reversal"}
  assert {r["task"] for r in records if r["probe"] == "train"} == {"relative_order", "parens"}
  assert all("error" not in r["result"] and "my_extension" in r["plugins"] for r in records)
  assert "## Reading backwards" in open(workdir / "report.md").read()
  assert os.path.exists(next(workdir.glob("runs/train_qrnn_relative_order*/params.msgpack")))

  typo = subprocess.run(
    [sys.executable, *command, "--config.train.arch.qrnn_kernel_szie=3"],
    cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert typo.returncode == 1 and typo.stderr.strip().splitlines() == [
    "config error: --config.train.arch.qrnn_kernel_szie: config.train.arch has no field "
    "'qrnn_kernel_szie'; did you mean --config.train.arch.qrnn_kernel_size?"
  ]
