"""Running the comparison's plan: `run(cfg, workdir)` -> one record per job.

Jobs whose record is already in `workdir/records.jsonl` are skipped (a failed one runs again
with cfg.retry_failed). Timing probes run first, one at a time in this process; training
jobs run in `cfg.workers` spawned processes, one (model, task) chain at a time, so later
jobs of a chain reuse the earlier ones' compiled programs from the persistent cache. One
progress line per finished job, with an ETA.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator

import ml_collections

from cnnrnn_jax import errors, measure, plugins
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.configs import compare as compare_config
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.suite.jobs import (
  RECORDS,
  BudgetMatcher,
  Job,
  failure,
  load_records,
  make_record,
  run_job,
)
from cnnrnn_jax.suite.plan import REGISTERED_PROBES, plan


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


def _worker_init(results, parent_pid: int) -> None:
  """A worker process's setup: the queue its records go back on, and a watch on its parent."""
  global _RESULTS
  _RESULTS = results
  threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
  """Ends the worker once its parent is gone. A parent killed outright (SIGKILL) cannot stop
  its pool, and its workers would otherwise train on, beside the next run of the same
  workdir, which runs their unrecorded jobs again into the same run folders."""
  while os.getppid() == parent_pid:
    time.sleep(0.5)
  os._exit(1)


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
    workers, mp_context=context, initializer=_worker_init, initargs=(results, os.getpid())
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
