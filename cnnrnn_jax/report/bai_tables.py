"""Bai, Kolter & Koltun (2018) at the paper's sequence lengths, from finished runs
(docs/results.md): the adding problem at T = 600, copy memory at T = 1000, sequential and
permuted MNIST.

Each row names a workdir under the runs folder and the command that trains it. A row is filled
only from that workdir's own files: seeds.json (the final eval metric of each seed),
seed_S/config.json (the steps trained) and seed_S/metrics.jsonl (training wall time: the sum
over the logged windows of steps / (steps/s), compiles, evaluations and checkpoints inside the
loop included; and the median steps/s after the first window). A row without seeds.json reads
"not run" and keeps its command. The MNIST runs' once-an-epoch evaluations (metrics.jsonl)
give a second table, accuracy by epochs of images seen.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import statistics

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.configs import bai2018, seq_mnist
from cnnrnn_jax.tables import markdown_table, row_cells

NOT_RUN = "not run"


@dataclasses.dataclass(frozen=True)
class Task:
  title: str
  config: str  # the config file and the preset's TASK,paper part
  metric: str  # the seeds.json metric of the table
  percent: bool  # shown x100 (accuracy) or as is (loss, MSE)
  paper_steps: int
  published: dict[str, float]  # Bai et al. 2018, Table 1 (MNIST in %)
  baseline: str  # what a model that learnt nothing scores


def _mnist(task: str, title: str, published: dict[str, float]) -> Task:
  """Sequential or permuted MNIST (`task`), test accuracy in %."""
  return Task(
    f"{title} MNIST, 784 pixels (test accuracy, %)",
    f"seq_mnist.py:{{model}},{task},paper",
    "accuracy",
    True,
    seq_mnist.get_config(f"tcn,{task},paper").train_steps,
    published,
    "10.0 (chance)",
  )


TASKS = {
  "copy_memory": Task(
    "copy memory, T = 1000 (loss)",
    "bai2018.py:{model},copy_memory,paper",
    "loss",
    False,
    bai2018.STEPS["copy_memory"][1],
    {"tcn": 3.5e-5, "gru": 0.0197, "lstm": 0.0204},
    "0.0204 (memoryless: 10 ln 8 / 1020)",
  ),
  "adding": Task(
    "adding, T = 600 (MSE)",
    "bai2018.py:{model},adding,paper",
    "mse",
    False,
    bai2018.STEPS["adding"][1],
    {"tcn": 5.8e-5, "gru": 5.3e-5, "lstm": 0.164},
    "0.167 (predicting 1)",
  ),
  "seq_mnist": _mnist("seq_mnist", "sequential", {"tcn": 99.0, "gru": 96.2, "lstm": 87.2}),
  "perm_mnist": _mnist("perm_mnist", "permuted", {"tcn": 97.2, "gru": 87.3, "lstm": 85.7}),
}
MNIST_TASKS = ("seq_mnist", "perm_mnist")


@dataclasses.dataclass(frozen=True)
class Row:
  task: str  # a key of TASKS
  model: str
  steps: int | None  # None: the paper's number of steps
  learning_rate: float | None = None  # None: the preset's

  @property
  def label(self) -> str:
    """The model column: the model, and the learning rate when it is not the preset's."""
    return self.model if self.learning_rate is None else f"{self.model}, lr {self.learning_rate:g}"

  @property
  def workdir(self) -> str:
    """The run's folder under the runs root, e.g. bai2018/tcn_adding_paper_5k or
    seq_mnist/gru_paper_7000 (seq_mnist/lstm_paper_2000_lr0.001 at another learning rate)."""
    lr = "" if self.learning_rate is None else f"_lr{self.learning_rate:g}"
    if self.task in MNIST_TASKS:
      tail = "paper" if self.steps is None else f"paper_{self.steps}"
      return f"{self.task}/{self.model}_{tail}{lr}"
    tail = "paper" if self.steps is None else f"paper_{self.steps // 1000}k"
    return f"bai2018/{self.model}_{self.task}_{tail}{lr}"

  def command(self) -> str:
    task = TASKS[self.task]
    flags = "" if self.steps is None else f" --config.train_steps={self.steps}"
    if self.learning_rate is not None:
      flags += f" --config.opt.learning_rate={self.learning_rate:g}"
    if self.task in MNIST_TASKS:
      flags += " --config.data.train_path=$D/mnist"
    config = task.config.format(model=self.model)
    return (
      f"python -m experiments.train --config=cnnrnn_jax/configs/{config}{flags} --seeds=0 "
      f"--workdir=runs/{self.workdir}"
    )


PAPER_BATCH = seq_mnist.get_config("tcn,seq_mnist,paper").batch_size  # 64 images a step
ONE_EPOCH = math.ceil(seq_mnist.TRAIN_IMAGES / PAPER_BATCH)  # 938 steps
# The recurrent models' MNIST runs get the TCN epoch's wall-clock budget: the sequential TCN
# row's training time (64 min) at the rate a GRU or LSTM step of the paper's size runs on one
# core beside another run (1.65-1.8 steps/s, the rows' steps/s column): about 7,000 steps,
# 7.5 of the TCN's epochs of images.
RECURRENT_MNIST_STEPS = 7000
ROWS = (
  Row("copy_memory", "tcn", None),
  # The recurrent models at a fifth of the paper's steps, then at all of them: where they are
  # after 3,000 steps says when they leave the memoryless loss, if they do.
  Row("copy_memory", "gru", 3000),
  Row("copy_memory", "gru", None),
  Row("copy_memory", "lstm", 3000),
  Row("copy_memory", "lstm", None),
  # Adding: the TCN at as many steps as fit in about an hour on a core (its 15,625 take
  # about 75 min at 3.5 steps/s), the GRU and the LSTM also at all of the paper's; the
  # shorter runs show how far more steps take each model.
  Row("adding", "tcn", 5000),
  Row("adding", "tcn", 10_000),
  Row("adding", "gru", 3000),
  Row("adding", "gru", 6000),
  Row("adding", "gru", None),
  Row("adding", "lstm", 3000),
  Row("adding", "lstm", None),
  *(
    Row(task, model, ONE_EPOCH if model == "tcn" else RECURRENT_MNIST_STEPS)
    for task in MNIST_TASKS
    for model in ("tcn", "gru", "lstm")
  ),
  # The LSTM at the TCN's learning rate never left the loss of guessing; at half of it:
  Row("seq_mnist", "lstm", 2000, learning_rate=1e-3),
)


def _load(path: str):
  with open(path) as f:
    return json.load(f)


def _duration(seconds: float) -> str:
  minutes = round(seconds / 60)
  return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _number(value: float, percent: bool) -> str:
  return f"{100 * value:.1f}" if percent else f"{value:.3g}"


def cells(runs: str, row: Row) -> list[str]:
  """The measured cells of `row`: steps, seeds, result, training time, steps/s (NOT_RUN and
  dashes when its run has not finished)."""
  task, run = TASKS[row.task], os.path.join(runs, row.workdir)
  summary_path = os.path.join(run, "seeds.json")
  if not os.path.exists(summary_path):
    return [NOT_RUN, "-", "-", "-", "-"]
  summary = _load(summary_path)[task.metric]
  seeds = summary["seeds"]
  seconds, rates, steps = [], [], set()
  for seed in seeds:
    seed_dir = os.path.join(run, f"seed_{seed}")
    records = workdir_module.read_records(os.path.join(seed_dir, workdir_module.METRICS_FILE))
    seconds.append(workdir_module.train_seconds(records))
    rates += workdir_module.step_rates(records)
    steps.add(_load(os.path.join(seed_dir, "config.json"))["train_steps"])
  values = ", ".join(_number(v, task.percent) for v in summary["values"])
  return [
    f"{', '.join(f'{s:,}' for s in sorted(steps))} of {task.paper_steps:,}",
    ", ".join(map(str, seeds)),
    values,
    ", ".join(_duration(s) for s in seconds),
    f"{statistics.median(rates):.2f}",
  ]


EPOCH_CAPTION = (
  "Test accuracy (%) by epochs of images seen (one epoch: 938 steps of 64 images), from the "
  "finished MNIST runs' own evaluations (metrics.jsonl): the models compared at equal images "
  "rather than equal time. Each run's learning rate decays over its own steps, so a run of "
  "one epoch ends it annealed where a longer run is still at its peak rate."
)


@dataclasses.dataclass(frozen=True)
class Earlier:
  """What a block `section` wrote before holds per row, keyed by the row's command: its table
  cells, and its accuracy-by-epoch curve (finished MNIST rows)."""

  cells: dict[str, list[str]]
  curves: dict[str, dict[float, float]]

  @classmethod
  def parse(cls, block: str) -> Earlier:
    """Reads a block `section` wrote ('' gives an empty Earlier)."""
    lines = block.splitlines()
    table = list(itertools.takewhile(lambda ln: ln.startswith("|"), lines))[2:]
    commands = [ln.split("`")[1] for ln in lines if ln.startswith("- ") and "`" in ln]
    if len(table) != len(commands):
      raise ValueError(
        f"the earlier table has {len(table)} rows but {len(commands)} commands under it: "
        "restore the block as written (git checkout) or write it from all the runs"
      )
    cells = {cmd: row_cells(ln) for ln, cmd in zip(table, commands)}
    curves = {}
    if EPOCH_CAPTION in lines:
      by_epoch = lines[lines.index(EPOCH_CAPTION) + 2 :]
      epochs = [float(e) for e in row_cells(by_epoch[0])[2:]]
      for ln in by_epoch[2:]:
        title, label, *values = row_cells(ln)
        (cmd,) = [cmd for cmd, c in cells.items() if c[0].startswith(title) and c[1] == label]
        curves[cmd] = {e: float(v) / 100 for e, v in zip(epochs, values) if v != "-"}
    return cls(cells, curves)


def section(runs: str, earlier: Earlier | None = None) -> str:
  """The table of ROWS and, under it, the command of each row (`D=../shared/data`). A row
  whose run is not under `runs` keeps what `earlier` (the block written before) has for the
  same command, so the table can be updated one finished run at a time, on any machine."""
  header = ["task", "model", "steps", "seeds", "result", "published", "no learning"]
  header += ["training time", "steps/s"]
  earlier = earlier or Earlier({}, {})
  rows, curves = [], {}
  for row in ROWS:
    task, command = TASKS[row.task], row.command()
    measured = cells(runs, row)
    if measured[0] == NOT_RUN and command in earlier.cells:
      measured = [earlier.cells[command][i] for i in (2, 3, 4, 7, 8)]
      if command in earlier.curves:
        curves[row] = earlier.curves[command]
    elif row.task in MNIST_TASKS and measured[0] != NOT_RUN:
      curves[row] = accuracy_by_epoch(runs, row)
    steps, seeds, result, time, rate = measured
    published = task.published[row.model]
    published_text = f"{published:.1f}" if task.percent else f"{published:.3g}"
    rows.append(
      [task.title, row.label, steps, seeds, result, published_text, task.baseline, time, rate]
    )
  commands = [f"- {row.label}, {TASKS[row.task].title}: `{row.command()}`" for row in ROWS]
  parts = [markdown_table(header, rows), "", "The command of each row:", "", *commands]
  if curves:
    parts += ["", EPOCH_CAPTION, "", epoch_table(curves)]
  return "\n".join(parts)


def accuracy_by_epoch(runs: str, row: Row) -> dict[float, float]:
  """A finished MNIST row's seed-0 eval accuracy at each of its evaluations (once an epoch and
  at the end), keyed by epochs of images seen (a later eval in the same tenth of an epoch
  replaces an earlier one)."""
  path = os.path.join(runs, row.workdir, "seed_0", workdir_module.METRICS_FILE)
  return {
    round(r["step"] * PAPER_BATCH / seq_mnist.TRAIN_IMAGES, 1): r["accuracy"]
    for r in workdir_module.read_records(path)
    if r["split"] == "eval"
  }


def epoch_table(curves: dict[Row, dict[float, float]]) -> str:
  """One row per curve (`accuracy_by_epoch`), one column per tenth of an epoch that some row
  was evaluated at."""
  epochs = sorted(set().union(*curves.values()))
  header = ["task", "model", *(f"{e:g}" for e in epochs)]
  rows = [
    [TASKS[row.task].title.split(",")[0], row.label]
    + [f"{100 * curve[e]:.1f}" if e in curve else "-" for e in epochs]
    for row, curve in curves.items()
  ]
  return markdown_table(header, rows)
