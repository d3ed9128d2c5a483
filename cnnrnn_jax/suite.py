"""The comparison: a model x task x setting x seed grid of probe jobs -> JSON-lines records.

`plan(cfg)` turns a compare config (configs/compare.py) into a list of `Job`s; `run(cfg,
workdir)` runs the ones whose record is not yet in `workdir/records.jsonl` and appends
one JSON line per job:

  {"id", "probe", "model", "task", "setting", "seed", "params", "width", "config",
   "result", "seconds", "device", "jax", "plugins", "finished"}

`config` is the complete training config that produced the record (after matching the
parameter budget), `result` what the probe measured. A job's id names it and ends with
a hash of everything that defines it, so re-running the same command skips finished
jobs, and changing a knob makes new ones instead of reusing stale records. A job that failed
(its result holds an "error") runs again on the next invocation (cfg.retry_failed).

Jobs (probe: what it runs; suite_jobs.py runs one job)
  train     train.train_and_return_state, then probes on the trained parameters: accuracy
            on the scored steps, convergence; on the order task also the shuffle
            drop, accuracy per dependency distance and the gradient profile
  stability one run of the stability grid (optimizer x learning rate x clipping x
            length): converged or not, diverged or not
  gradient  gradient norm against distance at initialisation, at a few lengths
  speed     train-step / inference time per example and compiled memory, per length
            and per implementation (cfg.impls: e.g. the CNN's vmap and XLA convolutions)
  batch     inference throughput at one batch size (per implementation too)
  depth     critical path of the forward pass at each speed length
  devices   data-parallel scaling over the devices present

More probes are one `register_probe` each: the jobs they add to the plan, the function that
runs one, and the report section that shows them (docs/extending.md).

Timing jobs run first, one at a time in this process; training jobs run in worker processes,
one (model, task) chain at a time, with a progress line per job and an ETA. Every job (and
each worker process) imports the plugins of cfg.plugins first.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections

from cnnrnn_jax import errors, measure, models, plugins, tasks
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.configs import compare as compare_config
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.suite_jobs import (  # noqa: F401  (PROBES moved to suite_jobs.py; re-exported)
  PROBES,
  RECORDS,
  BudgetMatcher,
  Job,
  failure,
  load_records,
  make_record,
  run_dir,
  run_job,
  trained_params,
)

# ---------------------------------------------------------------------------------------------
# probes from outside the package


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
  """A registered probe: `plan(cfg, grid) -> [Job]` adds its jobs (grid: the built-in jobs,
  ids final, e.g. the training runs whose parameters it reuses), `run(job, config, workdir)
  -> result dict` runs one, `report_section` (a report.Section) shows them, and `timed`
  probes run alone in the main process like the speed probes."""

  name: str
  plan: Callable[[ml_collections.ConfigDict, list[Job]], list[Job]]
  run: Callable[[Job, Any, str], dict[str, Any]]
  report_section: Any = None
  timed: bool = False


REGISTERED_PROBES: dict[str, ProbeSpec] = {}


def register_probe(
  name: str,
  *,
  plan: Callable[[ml_collections.ConfigDict, list[Job]], list[Job]],
  run: Callable[[Job, Any, str], dict[str, Any]],
  report_section: Any = None,
  timed: bool = False,
  defaults: dict[str, Any] | None = None,
) -> None:
  """Adds a probe to the comparison: its jobs join the plan and its section the report.

  `defaults` are its settings, the compare config's `probes.NAME` block
  (`--config.probes.NAME.<field>=...`). Jobs whose result holds "error" count as failed.
  """
  if name in PROBES:
    raise ValueError(f"probe {name!r} is registered twice")
  plugins.add_settings("probes", name, defaults)
  PROBES[name] = run
  REGISTERED_PROBES[name] = ProbeSpec(name, plan, run, report_section, timed)


# ---------------------------------------------------------------------------------------------
# the plan


def names_of(text: str) -> list[str]:
  """'cnn, lstm' -> ['cnn', 'lstm'] (config lists are comma-separated strings)."""
  return [name.strip() for name in text.split(",") if name.strip()]


def resolve_models(cfg: ml_collections.ConfigDict) -> list[str]:
  """cfg.models: comma-separated registered names, or 'all' for the whole registry (but the
  forecasting-only models and the encoder-decoders, which cannot classify)."""
  every = sorted(set(models.MODELS) - models.FORECAST_ONLY - models.SEQ2SEQ)
  names = every if cfg.models == "all" else names_of(cfg.models)
  unknown = [m for m in names if m not in models.MODELS]
  if unknown:
    raise ConfigError(
      f"compare config models {unknown} are not registered; known models: "
      f"{', '.join(sorted(models.MODELS))}"
    )
  return names


def train_config(
  cfg: ml_collections.ConfigDict, model: str, task: str, seed: int, **data: Any
) -> ml_collections.ConfigDict:
  """The base training config (cfg.train) for one model, task and seed."""
  config = cfg.train.copy_and_resolve_references()
  config.model, config.task, config.seed = model, task, seed
  config.plugins = cfg.get("plugins", "")
  for key, value in data.items():
    config.data[key] = value
  return config


def impl_variants(cfg: ml_collections.ConfigDict, model: str) -> list[dict[str, str]]:
  """The implementation settings timed for `model`: one dict {arch knob: value} per
  combination of cfg.impls entries that list the model ([{}] when none does)."""
  variants: list[dict[str, str]] = [{}]
  for knob, sweep in sorted(cfg.impls.items()):
    if model in names_of(sweep.models):
      variants = [{**v, knob: value} for v in variants for value in sweep.choices]
  return variants


def plan(cfg: ml_collections.ConfigDict) -> list[Job]:
  """Every job of the comparison, cheapest probes first."""
  names = resolve_models(cfg)
  jobs: list[Job] = []
  order = cfg.order

  for model in names:  # sequential depth: traced, never compiled
    jobs.append(
      Job(
        "depth",
        model,
        cfg.speed.task,
        {},
        0,
        train_config(cfg, model, cfg.speed.task, 0),
        {"lengths": list(cfg.speed.lengths)},
      )
    )
  for model in names:  # speed and memory across lengths (each implementation)
    for length in cfg.speed.lengths:
      for impl in impl_variants(cfg, model):
        config = train_config(cfg, model, cfg.speed.task, 0, seq_len=length)
        config.batch_size = cfg.speed.batch_size
        config.arch.update(impl)
        jobs.append(
          Job(
            "speed",
            model,
            cfg.speed.task,
            {"L": length, **impl},
            0,
            config,
            {"repeats": cfg.speed.repeats},
          )
        )
  for model in names:  # throughput against batch size (each implementation)
    for batch_size in cfg.scaling.batch_sizes:
      for impl in impl_variants(cfg, model):
        config = train_config(cfg, model, cfg.speed.task, 0, seq_len=cfg.scaling.seq_len)
        config.batch_size = batch_size
        config.arch.update(impl)
        jobs.append(
          Job(
            "batch",
            model,
            cfg.speed.task,
            {"B": batch_size, "L": cfg.scaling.seq_len, **impl},
            0,
            config,
            {"repeats": cfg.scaling.repeats},
          )
        )
  if jax.device_count() > 1:
    for model in names:
      config = train_config(cfg, model, cfg.speed.task, 0, seq_len=cfg.scaling.seq_len)
      jobs.append(
        Job(
          "devices",
          model,
          cfg.speed.task,
          {"L": cfg.scaling.seq_len},
          0,
          config,
          {"devices": jax.device_count(), "repeats": cfg.scaling.repeats},
        )
      )
  for model in names:  # gradients at initialisation
    config = train_config(cfg, model, order.task, 0, seq_len=order.seq_len)
    jobs.append(
      Job(
        "gradient",
        model,
        order.task,
        {},
        0,
        config,
        {
          "lengths": sorted({order.seq_len, *cfg.gradient.lengths}),
          "batches": cfg.gradient.batches,
        },
      )
    )

  probed = names + [m for m in control_models(cfg) if m not in names]
  for seed in cfg.seeds:  # order awareness, with the controls
    for model in probed:
      config = train_config(cfg, model, order.task, seed, seq_len=order.seq_len)
      config.train_steps = order.get("train_steps") or config.train_steps
      jobs.append(Job("train", model, order.task, {}, seed, config, _order_extra(cfg)))
  jobs += stability_jobs(cfg, names)
  for task, sweep in sorted(cfg.sweeps.items()):  # long-term context
    if sweep.distances and task not in tasks.names():
      raise ConfigError(
        f"compare config sweeps.{task}: no task {task!r} is registered (a sweep is named "
        "after its task); name a registered task, or its module in --config.plugins"
      )
    # mixed: one run on random distances, scored at each; else one run per distance
    runs = [("mixed", None)] if sweep.get("mixed") else [(d, d) for d in sweep.distances]
    for label, distance in runs if sweep.distances else []:
      for seed in cfg.sweep_seeds:
        for model in [m for m in names_of(sweep.models) or probed if m in probed]:
          config = train_config(cfg, model, task, seed, seq_len=sweep.seq_len, distance=distance)
          if sweep.get("train_steps"):
            config.train_steps = sweep.train_steps
          extra = {"eval_distances": list(sweep.distances)} if distance is None else {}
          jobs.append(Job("train", model, task, {"d": label}, seed, config, extra))
  for task in names_of(cfg.benchmarks):  # plain accuracy on other (e.g. real-data) tasks
    if task not in tasks.names():
      continue  # not registered (yet): the report lists it as skipped
    for seed in cfg.seeds:
      for model in names:
        jobs.append(Job("train", model, task, {}, seed, train_config(cfg, model, task, seed)))
  _budget(cfg, jobs)
  grid = list(jobs)
  for spec in REGISTERED_PROBES.values():
    jobs += _budget(cfg, spec.plan(cfg, grid))
  for job in jobs:
    job.keep_params = job.probe == "train" and bool(cfg.get("keep_params"))
  return jobs


def _budget(cfg: ml_collections.ConfigDict, jobs: list[Job]) -> list[Job]:
  """The budget decides every model's size, so it is part of every job."""
  for job in jobs:
    job.extra.update(param_budget=cfg.param_budget, width_knobs=list(cfg.width_knobs))
  return jobs


def order_train_jobs(grid: list[Job]) -> list[Job]:
  """The training jobs on the order task (one per model and seed) of a plan: what a
  registered probe reuses the parameters of (`trained_params`)."""
  return [j for j in grid if j.probe == "train" and not j.setting and "shuffle_window" in j.extra]


def control_models(cfg: ml_collections.ConfigDict) -> list[str]:
  """The leakage controls trained on every order and context probe (cfg.controls)."""
  return names_of(cfg.controls.models) if "controls" in cfg else []


def stability_settings(cfg: ml_collections.ConfigDict) -> list[dict[str, Any]]:
  """The stability grid: one {opt, lr, clip, L} per optimizer x learning rate x clipping x
  length (cfg.stability)."""
  st = cfg.stability
  return [
    {"opt": opt, "lr": lr, "clip": clip, "L": length}
    for length in st.lengths
    for opt, lrs in sorted(st.learning_rates.items())
    for lr in lrs
    for clip in st.clip_norms
  ]


def stability_jobs(cfg: ml_collections.ConfigDict, names: list[str]) -> list[Job]:
  """One `stability` run per model, grid setting and seed."""
  st, jobs = cfg.stability, []
  for setting in stability_settings(cfg):
    for seed in st.seeds:
      for model in names:
        config = train_config(cfg, model, st.task, seed, seq_len=setting["L"])
        config.train_steps = st.train_steps
        config.opt.update(
          optimizer=setting["opt"], learning_rate=setting["lr"], clip_norm=setting["clip"]
        )
        extra = {"converge_fraction": st.loss_fraction}
        jobs.append(Job("stability", model, st.task, setting, seed, config, extra))
  return jobs


def _order_extra(cfg) -> dict[str, Any]:
  return {
    "shuffle_window": cfg.order.shuffle_window,
    "eval_distances": list(cfg.order.eval_distances),
    "gradient_batches": cfg.gradient.batches,
  }


def _eta(seconds: float) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


TIMED = ("depth", "speed", "batch", "devices")  # run alone, in this process: they time things


def _timed(probe: str) -> bool:
  spec = REGISTERED_PROBES.get(probe)
  return probe in TIMED or (spec is not None and spec.timed)


# Rough relative cost of each probe, for the ETA before a probe's first job has finished.
PRIOR_SECONDS = {
  "depth": 0.3,
  "speed": 4.0,
  "batch": 0.5,
  "devices": 4.0,
  "gradient": 6.0,
  "train": 5.0,
  "stability": 5.0,
}


class _Progress:
  """One line per finished job: what ran, how far, elapsed and an ETA from the mean time
  of each probe so far (divided by the workers running in parallel)."""

  def __init__(self, todo: list[Job], log: Callable[[str], None]):
    self.left = {job.id: job for job in todo}
    self.total, self.log = len(todo), log
    self.spent: dict[str, list[float]] = {}
    self.start = time.perf_counter()

  def done(self, job: Job, record: dict, workers: int = 1) -> None:
    del self.left[job.id]
    self.spent.setdefault(job.probe, []).append(record["seconds"])
    seen = sum(map(sum, self.spent.values())) / sum(
      PRIOR_SECONDS.get(p, 1.0) * len(ts) for p, ts in self.spent.items()
    )
    mean = lambda p: (
      sum(self.spent[p]) / len(self.spent[p])
      if p in self.spent
      else PRIOR_SECONDS.get(p, 1.0) * seen
    )
    timed = sum(mean(j.probe) for j in self.left.values() if _timed(j.probe))
    rest = sum(mean(j.probe) for j in self.left.values() if not _timed(j.probe))
    note = f"  ({record['result']['error']})" if "error" in record["result"] else ""
    self.log(
      f"[{self.total - len(self.left):>3}/{self.total}] {job.probe:<8} {job.model:<9} "
      f"{job.task:<11} {_setting_text(job):<22} {record['seconds']:5.1f}s  elapsed "
      f"{_eta(time.perf_counter() - self.start)}  ETA {_eta(timed + rest / workers)}"
      f"{note}"
    )


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
  """The trainer logs every few steps; the suite prints one line per job instead."""
  root = logging.getLogger()
  level = root.level
  root.setLevel(max(level, logging.WARNING))
  try:
    yield
  finally:
    root.setLevel(level)


_RESULTS = None  # a worker process's queue back to the parent


def _set_results(results) -> None:
  global _RESULTS
  _RESULTS = results


def _run_chain(jobs: list[Job], workdir: str, cache: str | None, budget: int, knobs) -> None:
  """Worker process: runs `jobs` in order (same model and task, so later ones reuse the
  earlier ones' compiled programs from the persistent cache) and reports each record."""
  plugins.load(jobs[0].config.get("plugins"))  # before anything of theirs is looked up
  matcher = BudgetMatcher(budget, knobs)
  with _quiet_logging(), measure.compilation_cache(cache):
    for job in jobs:
      _RESULTS.put(run_job(job, matcher, workdir))


def _chains(jobs: list[Job]) -> list[list[Job]]:
  """Jobs grouped by (model, task), longest chain first."""
  chains: dict[tuple[str, str], list[Job]] = {}
  for job in jobs:
    chains.setdefault((job.model, job.task), []).append(job)
  return sorted(chains.values(), key=len, reverse=True)


def _can_spawn() -> bool:
  """A spawned process re-imports the main script: impossible for `python - < file`."""
  main = getattr(sys.modules.get("__main__"), "__file__", None)
  return main is None or os.path.exists(main)


def _run_parallel(
  jobs: list[Job],
  workers: int,
  workdir: str,
  cache: str | None,
  cfg,
  on_record: Callable[[dict], None],
) -> None:
  """Runs the chains of `jobs` in `workers` processes. A worker that dies (or fails outside
  a job) leaves failure records for its chain's unfinished jobs; the others go on."""
  context = multiprocessing.get_context("spawn")  # JAX does not survive fork
  results = context.Queue()
  done: set[str] = set()

  def record(rec: dict) -> None:
    if rec["id"] not in done:
      done.add(rec["id"])
      on_record(rec)

  with concurrent.futures.ProcessPoolExecutor(
    workers, mp_context=context, initializer=_set_results, initargs=(results,)
  ) as pool:
    futures = {
      pool.submit(
        _run_chain, chain, workdir, cache, cfg.param_budget, tuple(cfg.width_knobs)
      ): chain
      for chain in _chains(jobs)
    }
    quiet_since = None  # when the last worker finished: its records may still be in flight
    while len(done) < len(jobs):
      try:
        record(results.get(timeout=1.0))
        continue
      except queue.Empty:
        pass
      for future, chain in list(futures.items()):
        if future.done():
          del futures[future]
          if future.exception() is not None:
            for job in chain:
              record(make_record(job, failure("exception", future.exception())))
      if futures:
        continue
      quiet_since = quiet_since or time.perf_counter()
      if time.perf_counter() - quiet_since > 30:
        for job in jobs:
          record(make_record(job, failure("exception", "the worker sent no record")))


def _print(line: str) -> None:
  print(line, flush=True)  # progress must show even when stdout is a file or a pipe


def run(
  cfg: ml_collections.ConfigDict, workdir: str, log: Callable[[str], None] = _print
) -> dict[str, dict]:
  """Runs every planned job that has no record yet (or a failed one, with
  cfg.retry_failed); returns id -> record for the plan.

  Timing probes run first, one at a time in this process; the rest (training, gradients)
  run in `cfg.workers` processes, each taking one (model, task) chain at a time. No job's
  failure stops the others: it is recorded with its one-line cause.
  """
  with workdir_module.locked(workdir):
    return _run(cfg, workdir, log)


def _run(cfg, workdir, log):
  if cfg.get("preset", "default") not in compare_config.PRESETS:
    raise ConfigError(
      f"unknown compare preset {cfg.preset!r}; use --config=cnnrnn_jax/configs/compare.py:"
      f"{' or :'.join(compare_config.PRESETS)}"
    )
  plugins.load(cfg.get("plugins"))
  jobs = plan(cfg)
  records = load_records(workdir)
  retry = cfg.get("retry_failed", True)
  failed = [j for j in jobs if j.id in records and "error" in records[j.id]["result"]]
  todo = [job for job in jobs if job.id not in records or (retry and job in failed)]
  log(
    f"{len(jobs)} jobs planned, {len(jobs) - len(todo)} already recorded in "
    f"{os.path.join(workdir, RECORDS)}, {len(todo)} to run"
    + (f" ({len(failed)} failed before: {'retried' if retry else 'kept'})" if failed else "")
  )
  cache = os.path.join(workdir, cfg.cache_dir) if cfg.cache_dir else None
  timed = [job for job in todo if _timed(job.probe)]
  rest = [job for job in todo if not _timed(job.probe)]
  workers = max(1, min(cfg.workers, os.cpu_count() or 1, len(_chains(rest))))
  workers = workers if _can_spawn() else 1
  by_id = {job.id: job for job in todo}
  progress = _Progress(todo, log)
  with errors.writing(workdir):
    out = open(os.path.join(workdir, RECORDS), "a")
  with out:

    def on_record(record: dict) -> None:
      with errors.writing(out.name):
        out.write(json.dumps(record) + "\n")
        out.flush()
      records[record["id"]] = record
      progress.done(by_id[record["id"]], record, workers)

    matcher = BudgetMatcher(cfg.param_budget, cfg.width_knobs)
    with _quiet_logging(), measure.compilation_cache(cache):
      for job in timed:
        on_record(run_job(job, matcher, workdir))
      if workers == 1:
        for job in rest:
          on_record(run_job(job, matcher, workdir))
    if workers > 1:
      _run_parallel(rest, workers, workdir, cache, cfg, on_record)
  return {job.id: records[job.id] for job in jobs}


def _setting_text(job: Job) -> str:
  parts = [f"{k}={v}" for k, v in sorted(job.setting.items())] + [f"seed={job.seed}"]
  return " ".join(parts)
