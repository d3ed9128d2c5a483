"""`reversal`: how much of a trained model's accuracy needs the order it reads in?

Reuses the comparison's training runs on its order task (no retraining when the compare
config keeps their parameters: --config.keep_params=True) and scores each on the same eval
set read backwards (each sequence reversed within its length), against the original labels.
An order-blind model loses nothing; one that reads order loses up to everything above chance.
"""

from __future__ import annotations

import numpy as np

from cnnrnn_jax import measure, report, suite, train


def reverse_within_length(inputs: np.ndarray, lengths_B: np.ndarray) -> np.ndarray:
  """Each row's first `length` steps in reverse order; padding stays where it is."""
  out = np.array(inputs, copy=True)
  for row, length in enumerate(np.asarray(lengths_B)):
    out[row, :length] = inputs[row, :length][::-1]
  return out


def plan(cfg, grid: list[suite.Job]) -> list[suite.Job]:
  """One reversal job per training run on the order task (each model and seed)."""
  if not cfg.probes.reversal.enabled:
    return []
  return [
    suite.Job("reversal", j.model, j.task, {}, j.seed, j.config.copy_and_resolve_references(),
              {"train_id": j.id})
    for j in suite.order_train_jobs(grid)
  ]  # fmt: skip


def run(job: suite.Job, config, workdir: str) -> dict:
  """Accuracy forwards and backwards of the training run `job.extra['train_id']`."""
  params = suite.trained_params(job.extra["train_id"], config, workdir)
  task, model = train.setup(config)
  eval_fn = measure.make_eval_fn(model, task.spec)
  batches = list(task.eval_batches(config.batch_size))
  backwards = [{**b, "inputs": reverse_within_length(b["inputs"], b["lengths"])} for b in batches]
  forwards = measure.accuracy(eval_fn, params, batches, task.spec)
  reversed_ = measure.accuracy(eval_fn, params, backwards, task.spec)
  return {"accuracy": forwards, "reversed_accuracy": reversed_, "drop": forwards - reversed_}


def table(view: report.Records):
  """model | seed | accuracy | read backwards | drop."""
  rows = [
    [f"`{r['model']}`", str(r["seed"]), f"{r['result']['accuracy']:.1%}",
     f"{r['result']['reversed_accuracy']:.1%}", f"{r['result']['drop']:+.1%}"]
    for r in sorted(view.ok.values(), key=lambda r: (r["model"], r["seed"]))
    if r["probe"] == "reversal"
  ]  # fmt: skip
  return ["model", "seed", "accuracy", "read backwards", "drop"], rows


suite.register_probe(
  "reversal",
  plan=plan,
  run=run,
  report_section=report.Section(
    "Reading backwards",
    text="Each training run on `{cfg.order.task}` scored on its eval set with every sequence "
    "reversed within its length, against the original labels (my_extension/probe.py).",
    table=table,
  ),
  defaults={"enabled": True},
)
