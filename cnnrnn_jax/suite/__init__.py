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

Jobs (probe: what it runs; jobs.py runs one job)
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

Modules
  plan.py   the grid: `plan(cfg)` -> [Job] (the map preset: `map_jobs`), the probe registry
  real.py   the real preset's grid: `real_jobs`, one set of probes per real dataset
  jobs.py   one job: its id, `run_job` (budget matching, the probe, the record), records.jsonl
  runner.py `run(cfg, workdir)`: timing jobs in this process, the rest in worker processes
"""

from cnnrnn_jax.suite import real
from cnnrnn_jax.suite.jobs import (
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
from cnnrnn_jax.suite.plan import (
  REGISTERED_PROBES,
  ProbeSpec,
  control_models,
  impl_variants,
  map_jobs,
  map_work,
  names_of,
  order_train_jobs,
  plan,
  register_probe,
  resolve_models,
  stability_jobs,
  stability_settings,
  train_config,
)
from cnnrnn_jax.suite.runner import run

__all__ = [
  "PROBES",
  "RECORDS",
  "REGISTERED_PROBES",
  "BudgetMatcher",
  "Job",
  "ProbeSpec",
  "control_models",
  "failure",
  "impl_variants",
  "load_records",
  "make_record",
  "map_jobs",
  "map_work",
  "names_of",
  "order_train_jobs",
  "plan",
  "real",
  "register_probe",
  "resolve_models",
  "run",
  "run_dir",
  "run_job",
  "stability_jobs",
  "stability_settings",
  "train_config",
  "trained_params",
]
