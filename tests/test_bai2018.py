"""configs/bai2018.py: the paper's parameter budgets and T, every preset trains, and the
paper-scale table is written from the runs' own files."""

import dataclasses
import json
from unittest import mock

import jax
import numpy as np
import pytest

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import bai2018, seq_mnist
from cnnrnn_jax.report import bai_tables

# All parameters (embedding and head included), the same at both scales.
PARAMS = {
  ("tcn", "adding"): 70_369,
  ("lstm", "adding"): 69_291,
  ("gru", "adding"): 69_451,
  ("tcn", "copy_memory"): 13_329,
  ("lstm", "copy_memory"): 15_631,
  ("gru", "copy_memory"): 15_287,
}
# Sequence length the model sees: adding T; copy memory T + 20 (T = the blank gap).
SEQ_LEN = {
  ("adding", False): 100,
  ("adding", True): 600,
  ("copy_memory", False): 120,
  ("copy_memory", True): 1020,
}
PRESETS = [(model, task, paper) for model, task in PARAMS for paper in (False, True)]


def _config(model, task, paper):
  return bai2018.get_config(f"{model},{task}" + (",paper" if paper else ""))


@pytest.mark.parametrize("model,task,paper", PRESETS)
def test_presets_have_the_paper_budget_and_length(model, task, paper):
  config = _config(model, task, paper)
  task_obj, net = train.setup(config)
  assert task_obj.spec.seq_len == SEQ_LEN[task, paper]
  assert models.parameter_counts(net)[0] == PARAMS[model, task]
  budget = 70_000 if task == "adding" else 16_000
  assert 0.8 < PARAMS[model, task] / budget < 1.02
  assert config.train_steps == (bai2018.STEPS[task][1] if paper else 1000)


@pytest.mark.slow  # trains a preset of each task
@pytest.mark.parametrize("model,task", [("gru", "adding"), ("lstm", "copy_memory")])
def test_each_task_preset_trains_two_steps(model, task):
  """At CPU scale: the paper-scale presets differ only in T and train_steps (tested above).
  One recurrent model per task: what the presets set is the task's inputs, outputs and
  optimizer, which every model of the task shares (each preset's model is built and counted
  above; every model trains on every task kind in test_accelerators.py)."""
  config = _config(model, task, paper=False)
  config.batch_size = 2
  task_obj, net = train.setup(config)
  state = first = train.init_state(config, task_obj, net)
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, spec=task_obj.spec))
  losses = []
  for i in range(2):  # the learning rate warms up from 0: only the second step moves
    state, sums = step(state, task_obj.train_batch(i, 2), jax.random.PRNGKey(0))
    losses.append(float(sums["loss"]) / float(sums["count"]))
  assert int(state.step) == 2 and all(np.isfinite(losses))
  assert losses[0] > 0.1 * task_obj.spec.baseline  # an untrained model is not near zero loss
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), first.params, state.params)
  assert 0 < max(jax.tree.leaves(moved)) < 0.1


def test_a_bad_preset_names_the_accepted_forms():
  with pytest.raises(ValueError, match="'MODEL,TASK' or 'MODEL,TASK,paper'"):
    bai2018.get_config("tcn,order")


def _finished_run(root, row, values, rate=4.0, log_every=100, evals=()):
  """A run folder as `experiments.train --seeds` leaves it: seeds.json, and per seed a
  config.json and a metrics.jsonl of the row's steps (15,650 for the paper's), logged every
  `log_every` at `rate` steps/s, then the (step, accuracy) eval records of `evals`."""
  from cnnrnn_jax import metrics

  task = bai_tables.TASKS[row.task]
  run = root / row.workdir
  for seed in range(len(values)):
    seed_dir = run / f"seed_{seed}"
    seed_dir.mkdir(parents=True)
    (seed_dir / "config.json").write_text(json.dumps({"train_steps": row.steps or 15_650}))
    lines = [
      {"step": s, "split": "train", "seed": seed, "steps_per_sec": rate}
      for s in range(log_every, (row.steps or 15_650) + 1, log_every)
    ]
    lines += [{"step": s, "split": "eval", "seed": seed, "accuracy": a} for s, a in evals]
    (seed_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
  results = {s: {task.metric: v} for s, v in enumerate(values)}
  (run / "seeds.json").write_text(json.dumps(metrics.seed_summary(results)))


def test_paper_table_rows_come_from_the_runs_own_files(tmp_path):
  rows = {(r.task, r.model, r.steps): r for r in bai_tables.ROWS}
  copy_tcn, adding_gru = rows["copy_memory", "tcn", None], rows["adding", "gru", 3000]
  _finished_run(tmp_path, copy_tcn, [2.5e-7])  # 15,650 steps at 4 steps/s: 65 min
  _finished_run(tmp_path, adding_gru, [0.0125, 0.167], rate=10.0)  # 3000 steps: 5 min each
  table = bai_tables.section(str(tmp_path))
  assert (
    "| copy memory, T = 1000 (loss) | tcn | 15,650 of 15,650 | 0 | 2.5e-07 | 3.5e-05 | "
    "0.0204 (memoryless: 10 ln 8 / 1020) | 1 h 05 min | 4.00 |" in table
  )
  assert "| gru | 3,000 of 15,625 | 0, 1 | 0.0125, 0.167 | 5.3e-05 |" in table
  assert "| lstm | not run | - | - | 0.0204 |" in table  # copy memory's lstm: no folder
  lstm_command = rows["copy_memory", "lstm", None].command()
  assert f"`{lstm_command}`" in table  # and its command under the table


def test_mnist_runs_give_accuracy_by_epochs_of_images(tmp_path):
  """One column per tenth of an epoch that some finished run evaluated at (the last eval in
  it wins); a run that has not finished has no row."""
  rows = {r.model: r for r in bai_tables.ROWS if r.task == "seq_mnist"}
  assert bai_tables.EPOCH_CAPTION not in bai_tables.section(str(tmp_path))
  _finished_run(tmp_path, rows["tcn"], [0.97], evals=[(937, 0.96), (938, 0.97)])
  _finished_run(tmp_path, rows["gru"], [0.9], evals=[(937, 0.8), (1874, 0.85), (7000, 0.9)])
  (tmp_path / rows["lstm"].workdir / "seed_0").mkdir(parents=True)  # still running
  section = bai_tables.section(str(tmp_path))
  lines = section.split(bai_tables.EPOCH_CAPTION)[1].strip().splitlines()
  assert lines[0] == "| task | model | 1 | 2 | 7.5 |"
  assert lines[2:] == [
    "| sequential MNIST | tcn | 97.0 | - | - |",
    "| sequential MNIST | gru | 80.0 | 85.0 | 90.0 |",
  ]


def test_rows_without_their_runs_keep_what_the_earlier_block_says(tmp_path):
  """Rewriting from a runs folder that holds one new run changes that row only: the others
  (and their accuracy curves) stay as written, byte for byte; a row whose command changed
  does not inherit the old line."""
  first, second = tmp_path / "first", tmp_path / "second"
  copy_tcn, mnist_gru, adding_lstm = (
    next(r for r in bai_tables.ROWS if (r.task, r.model) == pair)
    for pair in (("copy_memory", "tcn"), ("seq_mnist", "gru"), ("adding", "lstm"))
  )
  _finished_run(first, copy_tcn, [2.5e-7])
  _finished_run(first, mnist_gru, [0.9], evals=[(937, 0.8), (7000, 0.9)])
  _finished_run(first, adding_lstm, [0.17])
  block = bai_tables.section(str(first))
  earlier = bai_tables.Earlier.parse(block)
  assert bai_tables.section(str(second), earlier) == block  # nothing new: unchanged

  _finished_run(second, copy_tcn, [1e-9])
  lines = bai_tables.section(str(second), earlier).splitlines()
  assert sum(line != old for line, old in zip(lines, block.splitlines())) == 1
  assert "| tcn | 15,650 of 15,650 | 0 | 1e-09 |" in lines[2]
  assert "| sequential MNIST | gru | 80.0 | 90.0 |" in lines

  moved = dataclasses.replace(adding_lstm, steps=None if adding_lstm.steps else 1000)
  with mock.patch.object(bai_tables, "ROWS", (moved,)):
    assert bai_tables.NOT_RUN in bai_tables.section(str(second), earlier)


def test_an_earlier_block_that_does_not_parse_says_how_to_recover():
  block = bai_tables.section("/nonexistent")
  with pytest.raises(ValueError, match="restore the block"):
    bai_tables.Earlier.parse(block.replace("\n- ", "\n", 1))


@pytest.mark.parametrize("row", bai_tables.ROWS, ids=lambda r: r.workdir)
def test_each_paper_table_command_builds_the_rows_config(row):
  """The command's preset is a paper preset of its task, with the row's steps."""
  config_file, preset = row.command().split("--config=cnnrnn_jax/configs/")[1].split()[0].split(":")
  module = {"bai2018.py": bai2018, "seq_mnist.py": seq_mnist}[config_file]
  config = module.get_config(preset)
  assert preset.endswith(",paper") and config.model == row.model
  assert config.train_steps == bai_tables.TASKS[row.task].paper_steps
  assert f"--workdir=runs/{row.workdir}" in row.command()
  if row.steps is not None:
    assert f"--config.train_steps={row.steps}" in row.command()
  if row.learning_rate is not None:  # a flag the command line accepts, and the folder says it
    assert f"--config.opt.learning_rate={row.learning_rate:g} " in row.command()
    assert config.opt.learning_rate != row.learning_rate and "_lr" in row.workdir
