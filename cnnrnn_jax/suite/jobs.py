"""One job of the comparison grid (suite/): what defines it, the probe it runs, its record.

A `Job` is a probe applied to one model, task, setting and seed, with the training config it
starts from. `run_job` sizes that config to the parameter budget (`BudgetMatcher`), runs the
probe (`PROBES`) and returns the JSON record runner.py appends to `workdir/records.jsonl`:

  {"id", "probe", "model", "task", "setting", "seed", "params", "width", "config",
   "result", "seconds", "device", "jax", "plugins", "finished"}

A job that fails records {"error": its one-line cause, "failure": "config" | "exception"}
as its result instead of stopping the comparison; runner.py re-runs it on the next invocation.

Probes (what each runs)
  train     train.train_and_return_state, then probes on the trained parameters: accuracy
            on the scored steps, convergence; with eval_distances, accuracy at each
            fixed dependency distance; on the order task also the shuffle drop and the
            gradient profile; on real data (the real preset) the drops when steps are
            shuffled inside blocks, and accuracy by input length
  stability the same training run, scored for convergence only
  gradient  gradient norm against distance at initialisation, at a few lengths
  speed     train-step / inference time per example and compiled memory, per length (and,
            in the map preset, per parameter budget and batch size; cells over its limits
            record {"skipped": why})
  batch     inference throughput at one batch size
  depth     critical path of the forward pass at each speed length
  devices   data-parallel scaling over the devices present

More probes come from `register_probe` (plan.py): a plan of jobs, a function that runs one,
and the report section that shows them. `trained_params` gives such a probe the parameters of
a training run of the grid (kept when the compare config sets keep_params), training once
where none were kept.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

import flax.serialization
import jax
import ml_collections

from cnnrnn_jax import errors, measure, plugins, train
from cnnrnn_jax.errors import ConfigError

RECORDS = "records.jsonl"


@dataclasses.dataclass
class Job:
  probe: str
  model: str
  task: str
  setting: dict[str, Any]
  seed: int
  config: ml_collections.ConfigDict  # the training config, before budget matching
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # probe knobs
  keep_params: bool = False  # save a training run's parameters (not part of the identity)

  @property
  def id(self) -> str:
    """probe/model/task/setting/seedS/hash of everything that defines the job.

    The hash leaves out what does not change the job: the plugin list, and the settings
    that other models' and tasks' registrations added to config.arch / config.data (so
    loading a plugin leaves every other job's id, and its record, as it was).
    """
    setting = ",".join(f"{k}={v}" for k, v in sorted(self.setting.items()))
    config = json.loads(self.config.to_json(sort_keys=True))
    config.pop("plugins", None)
    for block, owner in (("arch", self.model), ("data", self.task)):
      for key, owned_by in plugins.owners(block).items():
        if owner not in owned_by:
          config.get(block, {}).pop(key, None)
    identity = json.dumps(
      {"config": config, "extra": self.extra, "probe": self.probe}, sort_keys=True
    )
    digest = hashlib.sha1(identity.encode()).hexdigest()[:8]
    return f"{self.probe}/{self.model}/{self.task}/{setting or '-'}/seed{self.seed}/{digest}"


# ---------------------------------------------------------------------------------------------
# running jobs


PARAMS = "params.msgpack"  # a training job's kept parameters, in its run folder


def run_dir(workdir: str, job_id: str) -> str:
  """The folder of a job's training run (config.json, metrics.jsonl, kept parameters)."""
  return os.path.join(workdir, "runs", re.sub(r"[^A-Za-z0-9_.=-]+", "_", job_id))


def _save_params(folder: str, params: Any) -> None:
  path = os.path.join(folder, PARAMS)
  with open(path + ".tmp", "wb") as f:
    f.write(flax.serialization.msgpack_serialize(jax.device_get(params)))
  os.replace(path + ".tmp", path)


def trained_params(train_id: str, config, workdir: str) -> Any:
  """The parameters of the grid's training job `train_id` (its config at the budget, as a
  probe job of the same model, task and base config receives it): read back when the run
  kept them (compare config keep_params), else trained once now and kept for the next probe.
  A diverged run raises FloatingPointError."""
  folder = run_dir(workdir, train_id)
  path = os.path.join(folder, PARAMS)
  if os.path.exists(path):
    with open(path, "rb") as f:
      return flax.serialization.msgpack_restore(f.read())
  state, _ = train.train_and_return_state(config, folder)
  _save_params(folder, state.params)
  return state.params


def _probe_train(job: Job, config, workdir: str) -> dict[str, Any]:
  try:
    state, final = train.train_and_return_state(config, run_dir(workdir, job.id))
  except FloatingPointError as e:
    # not an "error": a diverged run is a result (it did not converge) and counts as one
    return {"diverged": True, "converged": False, "message": str(e)}
  if job.keep_params:
    _save_params(run_dir(workdir, job.id), state.params)
  task, model = train.setup(config)
  spec = task.spec
  eval_fn = measure.make_eval_fn(model, spec)
  fraction = job.extra.get("converge_fraction", 0.5)
  result: dict[str, Any] = {
    "eval": final,
    "diverged": False,
    "converged": measure.converged(final.get("loss"), spec, fraction),
    "chance_loss": measure.chance_loss(spec),
  }
  if job.probe == "stability":
    return result
  if spec.kind == "classify":
    result["chance_accuracy"] = 1.0 / spec.num_outputs
  if spec.kind != "regress":
    result["accuracy"] = measure.task_accuracy(
      eval_fn, state.params, task, config.task, config.batch_size
    )
  if "eval_distances" in job.extra:
    result["by_distance"] = measure.accuracy_by_distance(
      eval_fn, state.params, config, job.extra["eval_distances"]
    )
  if "shuffle_within" in job.extra:  # the real preset (suite/real.py)
    result["shuffle_within"] = measure.within_shuffle_drops(
      eval_fn, state.params, task, config.batch_size, job.extra["shuffle_within"], config.seed
    )
  if "length_buckets" in job.extra:
    result["by_length"] = measure.accuracy_by_length(
      model, state.params, task, config.batch_size, job.extra["length_buckets"]
    )
  if "shuffle_window" in job.extra:
    result["shuffle"] = measure.shuffle_drop(
      eval_fn, state.params, task, config.batch_size, job.extra["shuffle_window"], seed=config.seed
    )
    result["gradient"] = measure.gradient_profile(
      config, state.params, job.extra["gradient_batches"]
    )
  return result


def _probe_gradient(job: Job, config, workdir: str) -> dict[str, Any]:
  """The profile at each of extra["lengths"]; with none (real data), at the data's own
  lengths, under the key "data"."""
  out, params = {}, None
  for length in job.extra["lengths"] or [None]:
    at_length = config.copy_and_resolve_references()
    if length is not None:
      at_length.data.seq_len = length
    shapes = measure.param_shapes(at_length)
    if params is None or jax.tree.map(lambda p: p.shape, params) != jax.tree.map(
      lambda p: p.shape, shapes
    ):  # init values depend on the seed and shapes only
      task, model = train.setup(at_length)
      params = train.init_state(at_length, task, model).params
    key = "data" if length is None else str(length)
    out[key] = measure.gradient_profile(at_length, params, job.extra["batches"])
  return out


def _probe_speed(job: Job, config, workdir: str) -> dict[str, Any]:
  if "skip" in job.extra:  # a map cell over the time budget (plan.map_jobs): nothing compiled
    return {"skipped": job.extra["skip"]}
  return measure.speed(config, job.extra["repeats"], job.extra.get("max_peak_bytes", 0))


def _probe_batch(job: Job, config, workdir: str) -> dict[str, Any]:
  return measure.inference_throughput(config, job.extra["repeats"])


def _probe_depth(job: Job, config, workdir: str) -> dict[str, Any]:
  depth = {}
  for length in job.extra["lengths"]:
    at_length = config.copy_and_resolve_references()
    at_length.data.seq_len = length
    depth[str(length)] = measure.sequential_depth(at_length)
  return {"critical_path": depth}


def _probe_devices(job: Job, config, workdir: str) -> dict[str, Any]:
  return measure.data_parallel(config, repeats=job.extra["repeats"])


PROBES: dict[str, Callable[[Job, Any, str], dict[str, Any]]] = {
  "train": _probe_train,
  "stability": _probe_train,  # the same run, scored for convergence only
  "gradient": _probe_gradient,
  "speed": _probe_speed,
  "batch": _probe_batch,
  "depth": _probe_depth,
  "devices": _probe_devices,
}


class BudgetMatcher:
  """Matches each job's config to the parameter budget, searching each model's width once
  per task and budget: a config that differs only in ways that leave the parameter count
  unchanged at the width found before (sequence length, distance, implementation) reuses it."""

  def __init__(self, budget: int, knobs):
    self.budget, self.knobs = budget, tuple(knobs)
    # (model, task, budget) -> (knob, width, params)
    self._found: dict[tuple[str, str, int], tuple[str, int, int]] = {}

  def __call__(
    self, config: ml_collections.ConfigDict, budget: int | None = None
  ) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """(config at `budget` (default: the matcher's), {knob, width, params, budget})."""
    budget = int(budget or self.budget)
    family = (config.model, config.task, budget)
    if family in self._found:
      knob, width, params = self._found[family]
      candidate = config.copy_and_resolve_references()
      candidate.arch[knob] = width
      if measure.param_count(candidate) == params:
        return candidate, {
          "knob": knob,
          "width": width,
          "params": params,
          "budget": budget,
        }
    matched, info = measure.match_param_budget(config, budget, self.knobs)
    self._found[family] = (info["knob"], info["width"], info["params"])
    return matched, info


# The fields of a result that hold words, not numbers: a failed job's cause and kind, a
# diverged run's message, and why a map cell was skipped.
TEXT_FIELDS = ("error", "failure", "message", "skipped")


def _record_problem(record: Any) -> str | None:
  """Why a parsed line of records.jsonl is not a record, or None when it is one."""
  if not isinstance(record, dict) or not isinstance(record.get("id"), str):
    return "no string 'id'"
  result = record.get("result")
  if not isinstance(result, dict):
    return "no 'result' object"
  todo = [(k, v) for k, v in result.items() if k not in TEXT_FIELDS]
  while todo:
    key, value = todo.pop()
    if isinstance(value, dict):
      todo += list(value.items())
    elif isinstance(value, list):
      todo += [(key, v) for v in value]
    elif value is not None and not isinstance(value, (int, float)):
      return f"result {key!r} is {type(value).__name__}, not a number"
  return None


def load_records(workdir: str) -> dict[str, dict]:
  """id -> record from workdir/records.jsonl.

  A line torn by a crash (no final newline) is cut off the file, so the next record starts
  on a line of its own; other lines that are not records (not JSON, no id, a metric that is
  not a number) are skipped with one warning giving their count and first line number
  (their jobs run again).
  """
  path = os.path.join(workdir, RECORDS)
  records: dict[str, dict] = {}
  if not os.path.exists(path):
    return records
  with errors.writing(path), open(path, "rb+") as f:
    data = f.read()
    if data and not data.endswith(b"\n"):
      keep = data.rfind(b"\n") + 1
      logging.warning(
        "%s ends with a torn line (%d bytes, from a crash); cutting it off", path, len(data) - keep
      )
      f.truncate(keep)
      data = data[:keep]
  bad = []
  for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      record = None
    problem = "not JSON" if record is None else _record_problem(record)
    if problem:
      bad.append(f"line {number}: {problem}")
      continue
    records[record["id"]] = record
  if bad:
    logging.warning(
      "%s: skipped %d line(s) that are not records (their jobs run again); first: %s",
      path,
      len(bad),
      bad[0],
    )
  return records


def failure(kind: str, error: BaseException | str) -> dict[str, str]:
  """A failed job's result: {"error": the cause in one line, "failure": kind}; an exception
  other than a ConfigError gives the last line of its traceback ('ValueError: ...')."""
  if isinstance(error, ConfigError):
    error = str(error)
  elif isinstance(error, BaseException):
    error = traceback.format_exception_only(type(error), error)[-1]
  return {"error": " ".join(error.split()), "failure": kind}


def run_job(job: Job, matcher: BudgetMatcher, workdir: str) -> dict[str, Any]:
  """Runs `job` at the parameter budget; its record. A failure is recorded, never raised: a
  ConfigError as its message (e.g. a model that cannot do this task), any other exception
  as the last line of its traceback."""
  start = time.perf_counter()
  config, width = job.config, {}
  try:
    plugins.load(job.config.get("plugins"))
    config, width = matcher(job.config, job.extra.get("param_budget"))
    result = PROBES[job.probe](job, config, workdir)
  except ConfigError as e:
    result = failure("config", e)
  except Exception as e:  # noqa: BLE001 -- a job's crash becomes its record, not the suite's
    result = failure("exception", e)
  return make_record(job, result, config, width, time.perf_counter() - start)


def make_record(
  job: Job, result: dict[str, Any], config=None, width=None, seconds: float = 0.0
) -> dict[str, Any]:
  """The JSON record of `job` with `result` (config: the one it ran with, at the budget)."""
  config, width = config or job.config, width or {}
  device = jax.devices()[0]
  return {
    "id": job.id,
    "probe": job.probe,
    "model": job.model,
    "task": job.task,
    "setting": job.setting,
    "seed": job.seed,
    "params": width.get("params"),
    "width": width,
    "config": json.loads(config.to_json()),
    "result": result,
    "seconds": seconds,
    "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
    "jax": jax.__version__,
    "plugins": plugins.fingerprint(job.config.get("plugins")),
    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (3.10)
  }
