"""The records of one comparison, and the lookups every number, table and plot is built on."""

from __future__ import annotations

from typing import Any

from cnnrnn_jax import suite


def get_path(record: dict, path: str) -> Any:
  """record['a']['b'][3] for path 'a.b.3' (dict keys, or list indices, negative too)."""
  value = record
  for part in path.split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
  return value


class Records:
  """The records of one plan, with lookups by probe, model, task, setting and seed."""

  def __init__(self, cfg, records: dict[str, dict]):
    self.cfg = cfg
    self.all = records
    self.ok = {rid: r for rid, r in records.items() if "error" not in r["result"]}
    self.models = suite.resolve_models(cfg)
    self.leaky: dict[str, dict[int, str]] = {}  # task -> leaky_distances, computed once

  @property
  def pair(self) -> tuple[str, str]:
    """The models standing for the folklore's CNN and RNN columns."""
    return self.cfg.folklore.cnn, self.cfg.folklore.rnn

  def find(self, probe, model=None, task=None, seed=None, **setting) -> list[dict]:
    """The successful records of `probe` matching every given field, by seed then setting."""
    out = []
    for r in self.ok.values():
      if r["probe"] != probe or (model and r["model"] != model) or (task and r["task"] != task):
        continue
      if seed is not None and r["seed"] != seed:
        continue
      if any(r["setting"].get(k) != v for k, v in setting.items()):
        continue
      out.append(r)
    return sorted(out, key=lambda r: (r["seed"], sorted(r["setting"].items())))

  @property
  def controls(self) -> list[str]:
    """The leakage controls trained on the order and context probes, besides the models."""
    return [m for m in suite.control_models(self.cfg) if m not in self.models]

  @property
  def judges(self) -> list[str]:
    """The controls whose accuracy above chance marks a distance leaky."""
    return suite.names_of(self.cfg.controls.judges) if "controls" in self.cfg else []

  def order_runs(self, model) -> list[dict]:
    """The model's training runs on the order task (one per seed)."""
    return [r for r in self.find("train", model, self.cfg.order.task) if not r["setting"]]

  def stability_runs(self, model, clipped: bool | None = None) -> list[dict]:
    """The model's runs of the stability grid; only the (un)clipped ones when `clipped`
    is given."""
    runs = self.find("stability", model)
    if clipped is None:
      return runs
    return [r for r in runs if bool(r["setting"]["clip"]) == clipped]

  @staticmethod
  def impl(record) -> str:
    """The implementation a speed/batch record timed ('' for a model's only one)."""
    return ", ".join(
      f"{k}={v}" for k, v in sorted(record["setting"].items()) if k.endswith("_impl")
    )

  def speed_best(self, model, length, field="train_s_per_example") -> dict | None:
    """The speed record of the model's fastest tested implementation at `length`."""
    runs = self.find("speed", model, self.cfg.speed.task, L=length)
    return min(runs, key=lambda r: r["result"][field]) if runs else None

  def batch_best(self, model, batch_size) -> dict | None:
    """The batch record of the model's fastest tested implementation."""
    runs = self.find("batch", model, B=batch_size)
    return max(runs, key=lambda r: r["result"]["examples_per_s"]) if runs else None


def sweep_tasks(cfg) -> list[str]:
  """The long-context sweeps of this preset: the order evaluation, then every sweep with
  distances to train at."""
  return [cfg.order.task] + sorted(task for task, sweep in cfg.sweeps.items() if sweep.distances)


def sweep_sources(view: Records, model, task) -> tuple[list, list[int]]:
  """(sources of accuracy at each distance, distances tested) of a long-context sweep."""
  cfg = view.cfg
  if task == cfg.order.task:
    runs = view.order_runs(model)
    distances = list(cfg.order.eval_distances)
    return [(r["id"], f"result.by_distance.{d}", d) for r in runs for d in distances], distances
  sweep = cfg.sweeps[task]
  distances = list(sweep.distances)
  if sweep.get("mixed"):  # one run on random distances, scored at each
    runs = view.find("train", model, task, d="mixed")
    return [(r["id"], f"result.by_distance.{d}", d) for r in runs for d in distances], distances
  runs = [r for r in view.find("train", model, task) if r["setting"].get("d") in distances]
  return [(r["id"], "result.accuracy", r["setting"]["d"]) for r in runs], distances


def chance_accuracy(view: Records, task: str) -> float:
  """Accuracy of a constant guess on `task` (1 / classes, from its records; 0.5 when none
  says)."""
  for r in view.ok.values():
    if r["task"] == task and "chance_accuracy" in r["result"]:
      return r["result"]["chance_accuracy"]
  return 0.5


def leaky_distances(view: Records, task: str) -> dict[int, str]:
  """distance -> the judge (a control: position-only or order-blind) whose mean accuracy
  there beats chance by more than cfg.controls.margin: a shortcut, not context."""
  if task in view.leaky:
    return view.leaky[task]
  view.leaky[task] = leaky = {}
  if not view.judges:
    return leaky
  chance, margin = chance_accuracy(view, task), view.cfg.controls.margin
  for judge in view.judges:
    sources, _ = sweep_sources(view, judge, task)
    by_d: dict[int, list[float]] = {}
    for rid, path, d in sources:
      by_d.setdefault(d, []).append(get_path(view.ok[rid], path))
    for d, accuracies in by_d.items():
      if sum(accuracies) / len(accuracies) > chance + margin:
        leaky.setdefault(d, judge)
  return leaky


def gradient_length(view: Records) -> int:
  """The length at which the gradient rule reads the decay at initialisation."""
  return max([view.cfg.order.seq_len, *view.cfg.gradient.lengths])
