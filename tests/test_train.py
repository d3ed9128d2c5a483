"""The trainer: every parameter learns, one compile, smoke runs, errors before compiling."""

import json
import logging
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from cnnrnn_jax import models, tasks, train, workdir
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.metrics import MetricWriter

FOUNDATION = ["bag", "cnn", "cnn_lstm", "gru", "lstm", "rnn"]
TASK_KNOBS = {  # small instances of every synthetic task
  "motif": {"seq_len": 12},
  "order": {"seq_len": 10},
  "contrast": {},
  "adding": {"seq_len": 10},
  "copy_memory": {"distance": 5},
}
# Every model and every task runs through the trainer at least once (every model's train step
# on every task kind is traced in test_accelerators.py and test_beyond_models.py).
PAIRS = [
  ("bag", "adding"),
  ("cnn", "contrast"),
  ("cnn_lstm", "copy_memory"),
  ("gru", "motif"),
  ("lstm", "order"),
  ("rnn", "copy_memory"),
]
assert {n for n, _ in PAIRS} == set(FOUNDATION) and {t for _, t in PAIRS} == set(TASK_KNOBS)


def tiny_config(model="lstm", task="order", **overrides):
  config = default.get_config(f"{model},{task}")
  config.batch_size, config.train_steps = 8, 2
  config.log_every = config.eval_every = 2
  config.arch.update({"embed_dim": 8, "hidden": 8, "num_filters": 4})
  config.data.eval_size = 8
  config.checkpoint_every = 0  # checkpoints have their own tests (test_durability.py)
  config.log_flops = False  # FLOP/s in the logs has its own test (test_accelerators.py)
  config.data.update(TASK_KNOBS[task])
  config.update(overrides)
  return config


def test_one_train_step_changes_every_parameter():
  """In float32, on the hybrid (a convolution feeding a recurrence); every registered model
  on every task kind: tests/test_accelerators.py, in bfloat16, with the same check."""
  name = "cnn_lstm"
  config = tiny_config(name, "order")
  config.opt.warmup_steps = 0  # warmup starts at learning rate 0
  task, model = train.setup(config)
  state = train.init_state(config, task, model)
  before = jax.tree.map(np.array, state.params)
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, spec=task.spec))
  state, sums = step(state, task.train_batch(0, config.batch_size), jax.random.PRNGKey(0))
  unchanged = [
    jax.tree_util.keystr(path)
    for path, a, b in zip(
      *zip(*jax.tree_util.tree_flatten_with_path(before)[0]), jax.tree.leaves(state.params)
    )
    if np.array_equal(a, b)
  ]
  assert not unchanged, f"{name}: parameters not updated: {unchanged}"
  assert int(state.step) == 1 and int(sums["first_nonfinite_step"]) == train.NO_BAD_STEP


def test_train_step_compiles_once_and_overfits_a_tiny_batch():
  config = tiny_config("gru", "order")
  config.opt.update({"learning_rate": 1e-2, "warmup_steps": 0, "schedule": "constant"})
  task, model = train.setup(config)
  state = train.init_state(config, task, model)
  batch = task.train_batch(0, config.batch_size)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(state, batch, rng):
    return train.train_step(state, batch, rng, spec=task.spec)

  losses = []
  for _ in range(40):
    state, sums = step(state, batch, jax.random.PRNGKey(0))
    losses.append(float(sums["loss"] / sums["count"]))
  assert losses[-1] < 0.2 * losses[0], losses


@pytest.mark.slow  # a run each
@pytest.mark.parametrize("name,task_name", PAIRS)
def test_smoke_run_of_every_model_and_every_task(name, task_name, tmp_path, capsys):
  config = tiny_config(name, task_name)
  metrics = train.train_and_evaluate(config, str(tmp_path))
  # No logging set up (a notebook's default): the run prints its progress itself, the
  # compile time on its own line, then windows whose rate and ETA count steps only.
  progress = capsys.readouterr().err
  assert "compiled the train step in " in progress
  assert progress.index("compiled the train step") < progress.index("step 2/2  loss ")
  assert "steps/s  ETA 0s" in progress and "eval at step 2: " in progress
  assert not logging.getLogger("cnnrnn_jax").handlers  # nothing left behind
  lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  headline = "mse" if task_name == "adding" else "accuracy"
  assert [(l["step"], l["split"]) for l in lines] == [(2, "train"), (2, "eval")]
  for line in lines:
    assert {"step", "split", "loss", headline, "seed"} <= set(line)
    assert np.isfinite(line["loss"])
  assert metrics[headline] == lines[-1][headline]
  assert json.loads((tmp_path / "config.json").read_text())["model"] == name


def test_non_finite_loss_stops_with_the_step(tmp_path, monkeypatch):
  config = tiny_config("lstm", "adding", train_steps=6, log_every=3)
  task, model = train.setup(config)
  clean = task.train_batch

  def poisoned(step, batch_size):  # step index 4 is the 5th train step
    batch = dict(clean(step, batch_size))
    if step == 4:
      batch["inputs"] = np.full_like(batch["inputs"], np.nan)
    return batch

  monkeypatch.setattr(task, "train_batch", poisoned)
  monkeypatch.setattr(train, "setup", lambda config: (task, model))
  with pytest.raises(FloatingPointError, match=r"loss is not finite at step 5 of lstm on adding"):
    train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize(
  "overrides,message",
  [
    ({"model": "resnet"}, r"unknown model 'resnet'; known models: "),
    ({"task": "imagenet"}, r"unknown task 'imagenet'; known tasks: "),
    ({"batch_size": 0}, r"config.batch_size=0 must be positive"),
    ({"train_steps": -1}, r"config.train_steps=-1 must be positive"),
    ({"model": "cnn", "data": {"seq_len": 4}}, r"filter width 5 is wider than the sequence"),
  ],
)
def test_bad_configs_fail_before_anything_compiles(overrides, message, tmp_path, monkeypatch):
  config = tiny_config()
  config.update(overrides)
  monkeypatch.setattr(train, "init_state", lambda *a: pytest.fail("reached compilation"))
  with pytest.raises(ConfigError, match=message) as info:
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert "\n" not in str(info.value)
  assert not (tmp_path / "run").exists()


def test_uncreatable_workdir_is_named(tmp_path, monkeypatch):
  (tmp_path / "file").write_text("not a folder")
  monkeypatch.setattr(train, "init_state", lambda *a: pytest.fail("reached compilation"))
  with pytest.raises(ConfigError, match=r"cannot create workdir '.*file/run' .*writable"):
    train.train_and_evaluate(tiny_config(), str(tmp_path / "file" / "run"))


def test_registries_list_the_foundation():
  assert set(FOUNDATION) <= set(models.MODELS)
  assert set(TASK_KNOBS) <= set(tasks.names())


@pytest.mark.slow  # a fresh interpreter importing JAX
def test_entry_point_reports_a_bad_model_in_one_line(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
    [sys.executable, "-m", "experiments.train", "--config.model=resnet", f"--workdir={tmp_path}"],
    cwd=root,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("config error: unknown model 'resnet'; known models: bag, cnn")


@pytest.mark.slow  # three training runs
def test_seeds_run_separately_and_summarize_with_sample_std(tmp_path):
  config = tiny_config("cnn", "motif")
  results = train.train_over_seeds(config, str(tmp_path), [0, 1])
  listed = sorted(set(os.listdir(tmp_path)) - {workdir.LOCK_FILE})  # the lock stays, empty
  assert listed == ["seed_0", "seed_1", "seeds.json"]
  assert json.load(open(tmp_path / "seed_1" / "config.json"))["seed"] == 1
  assert config.seed == 0  # the caller's config is untouched
  alone = train.train_and_evaluate(tiny_config("cnn", "motif"), str(tmp_path / "alone"))
  assert results[0] == alone  # same as a single seed-0 run
  summary = train.seed_summary(results)
  values = [results[0]["loss"], results[1]["loss"]]
  assert summary["loss"]["values"] == values and summary["loss"]["seeds"] == [0, 1]
  assert json.load(open(tmp_path / "seeds.json")) == json.loads(json.dumps(summary))
  assert summary["loss"]["mean"] == pytest.approx(sum(values) / 2)
  assert summary["loss"]["std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
  assert train.seed_summary({3: {"loss": 0.5}})["loss"]["std"] == 0.0


def test_metric_writer_rewrites_a_metrics_file_deleted_during_the_run(tmp_path, caplog):
  writer = MetricWriter(str(tmp_path), seed=0)
  writer.write(2, "train", {"loss": 0.5})
  os.remove(tmp_path / "metrics.jsonl")
  writer.write(4, "train", {"loss": 0.25})
  writer.close()
  assert "was deleted during the run; writing it anew from step 4" in caplog.text
  with open(tmp_path / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [4]
