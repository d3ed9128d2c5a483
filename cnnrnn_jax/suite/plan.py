"""The comparison's grid: a compare config (configs/compare.py) -> the list of `Job`s.

`plan(cfg)` lists every job, cheapest probes first: depth, speed and batch timings per
model (and implementation), gradients at initialisation, training on the order task with
the leakage controls, the stability grid, the long-context sweeps and the plain-accuracy
benchmarks; then the jobs of every probe added with `register_probe`. Each job carries the
parameter budget, which decides every model's size (jobs.BudgetMatcher). The map preset
plans `map_jobs` instead: the speed probe over parameter budget x length x batch size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import ml_collections

from cnnrnn_jax import models, plugins, tasks
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.suite.jobs import PROBES, Job


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


def set_impl(config: ml_collections.ConfigDict, impl: dict[str, str]) -> None:
  """Sets each implementation knob: an arch field (conv_impl, rnn_impl) or a top-level one
  (dtype: the compute dtype is an implementation choice too)."""
  for knob, value in impl.items():
    if knob in config.arch:
      config.arch[knob] = value
    else:
      config[knob] = value


def plan(cfg: ml_collections.ConfigDict) -> list[Job]:
  """Every job of the comparison, cheapest probes first (the map preset: `map_jobs`; the
  real preset: real.py's `real_jobs`)."""
  if "map" in cfg:
    return map_jobs(cfg)
  if "real" in cfg:
    from cnnrnn_jax.suite.real import real_jobs  # here: real.py builds on this module

    return real_jobs(cfg)
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
        set_impl(config, impl)
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
        set_impl(config, impl)
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


def map_work(param_budget: int, batch_size: int, length: int) -> float:
  """params x batch x length: a train step does about 6 times this many FLOPs."""
  return float(param_budget) * batch_size * length


def map_jobs(cfg: ml_collections.ConfigDict) -> list[Job]:
  """The map (cfg.map): one `speed` job per model, implementation, parameter budget, length
  and batch size, setting {P, L, B, impl...}, each model matched to P by its width knob.

  A cell whose work (`map_work`) exceeds cfg.map.max_work is planned with extra["skip"]
  (its reason): it is matched and recorded as skipped, never compiled, so the report shows
  it as skipped rather than missing. The skipped cells come first (they only match sizes),
  then the folklore pair's cells (cfg.folklore), then the other models', each cheapest
  first, so a run cut short leaves the pair's map and the cheap corner complete."""
  m, jobs = cfg.map, []
  pair = (cfg.folklore.cnn, cfg.folklore.rnn)
  cells = sorted(
    (work <= m.max_work, model not in pair, work, p, length, b, model)
    for p in m.param_budgets
    for length in m.lengths
    for b in m.batch_sizes
    for work in [map_work(p, b, length)]
    for model in resolve_models(cfg)
  )
  for _, _, work, budget, length, batch_size, model in cells:
    for impl in impl_variants(cfg, model):
      config = train_config(cfg, model, cfg.speed.task, 0, seq_len=length)
      config.batch_size = batch_size
      config.arch.update(impl)
      extra: dict[str, Any] = {
        "repeats": m.repeats,
        "param_budget": budget,
        "width_knobs": list(cfg.width_knobs),
        "max_peak_bytes": int(m.max_peak_bytes),
      }
      if work > m.max_work:
        extra["skip"] = (
          f"time budget: params x batch x length = {work:.1e} > map.max_work {m.max_work:.0e}"
        )
      setting = {"P": budget, "L": length, "B": batch_size, **impl}
      jobs.append(Job("speed", model, cfg.speed.task, setting, 0, config, extra))
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


def stability_settings(
  cfg: ml_collections.ConfigDict, lengths: bool = True
) -> list[dict[str, Any]]:
  """The stability grid: one {opt, lr, clip, L} per optimizer x learning rate x clipping x
  length (cfg.stability); without `lengths`, {opt, lr, clip} (real data has its own)."""
  st = cfg.stability
  return [
    {"opt": opt, "lr": lr, "clip": clip, **({"L": length} if length else {})}
    for length in (st.lengths if lengths else [None])
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
