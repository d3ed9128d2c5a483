"""The report as a list of sections: `build` renders each `Section` spec in order.

A section is a heading, a paragraph, a table (or one table per item), a closing note and a
figure; each part is optional and is either text or a function of the `Records`. A probe
registered with `suite.register_probe(..., report_section=Section(...))` gets its section
after the built-in measurements, before the failed jobs.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from collections.abc import Callable
from typing import Any

from cnnrnn_jax import suite
from cnnrnn_jax.report import plots, real, speed_map, tables
from cnnrnn_jax.report.records import Records, sweep_tasks
from cnnrnn_jax.report.render import Report
from cnnrnn_jax.report.rows import sweep_counting_text, verdict_rows, verdict_table
from cnnrnn_jax.report.rules import rules_text

TITLE = "CNN vs RNN: the folklore table, measured"

Text = str | Callable[[Records], str | None] | None  # a str is formatted with cfg=the config


@dataclasses.dataclass(frozen=True)
class Section:
  """One section: `title` (h2), `text` under it, then `table(view)` (or, with `each`, a table
  `table(view, item)` after a bold line per item of `each(view)`), then `note`, then the figure
  `figure(view)` (PNG bytes or None) saved as `figure_file` with `caption`. `show(view)` False
  leaves the whole section out."""

  title: str
  text: Text = None
  table: Callable[..., tables.Table] | None = None
  each: Callable[[Records], list[Any]] | None = None
  note: Text = None
  figure: Callable[[Records], bytes | None] | None = None
  figure_file: str = ""
  caption: str = ""
  show: Callable[[Records], bool] = lambda view: True


def _text(text: Text, view: Records) -> str | None:
  if text is None:
    return None
  if callable(text):
    return text(view)
  margin = view.cfg.controls.margin if "controls" in view.cfg else 0.0
  judges = ", ".join(f"`{m}`" for m in view.judges) or "none configured"
  return text.format(cfg=view.cfg, judges=judges, margin=f"{margin:.0%}")


def _verdict_table(view: Records) -> tables.Table:
  return verdict_table(verdict_rows(view), *view.pair)


def _long_context_note(view: Records) -> str:
  """Which sweeps count toward the stars and why, and which are off in this preset."""
  off = sorted(task for task, sweep in view.cfg.sweeps.items() if not sweep.distances)
  note = f" Not swept in this preset (no distances configured): {', '.join(off)}." if off else ""
  return sweep_counting_text(view) + note


def _skipped_benchmarks(view: Records) -> str | None:
  ran = {rec["task"] for rec in view.all.values()}
  skipped = [t for t in suite.names_of(view.cfg.benchmarks) if t not in ran]
  return f"Not registered here, skipped: {', '.join(skipped)}." if skipped else None


SECTIONS = [
  Section("The verdict", table=_verdict_table, note=rules_text),
  Section(
    "Every model, by the same rules",
    text="Relative rules (speed, memory, throughput) compare each model with the better of "
    "`{cfg.folklore.cnn}` and `{cfg.folklore.rnn}`; a model better than both gets ★★★★.",
    table=tables.stars_table,
  ),
  Section(
    "Speed",
    text="Train step (forward, backward, AdamW update) and inference, time per example after "
    "compilation (median of {cfg.speed.repeats} calls, batch {cfg.speed.batch_size}, task "
    "`{cfg.speed.task}`); compile time apart. Models with several tested implementations are "
    "timed with each (`conv_impl`: `vmap` = jax.vmap over positions, `vmap_shifted` = one "
    "shifted matmul per tap, `xla` = lax.conv_general_dilated; `rnn_impl`: `scan` = the "
    "didactic lax.scan, `fused` = the fused scan); the verdict uses the fastest at each "
    "length. The machine may be shared: compare ratios within one run.",
    table=tables.speed_table,
    figure=plots.plot_speed,
    figure_file="speed.png",
    caption="Time per example against sequence length (log-log); one line style per implementation",
  ),
  Section(
    "Memory",
    text="XLA's compiled memory analysis of one train step "
    "(`jit(...).lower(...).compile().memory_analysis()`): peak = arguments + outputs + "
    "temporaries − donated, per example of the batch.",
    table=tables.memory_table,
    figure=plots.plot_memory,
    figure_file="memory.png",
    caption="Train-step peak memory per example against length",
  ),
  Section(
    "Order awareness",
    text="Accuracy on `{cfg.order.task}` (L={cfg.order.seq_len}: does A come before B, in the "
    "voice the distractors set; tasks/clean.py), and on the same eval set with its tokens cut "
    "into blocks of {cfg.order.shuffle_window} and the blocks shuffled, scored against the "
    "original labels. A model that reads only local windows keeps its accuracy; an "
    "order-blind bag keeps it exactly. Controls: trained beside the models to expose "
    "shortcuts; `logreg` reads each (token, position) alone, `mlp` can compare positions.",
    table=tables.order_table,
  ),
  Section(
    "Long-term context",
    text="Accuracy against dependency distance; solved = accuracy ≥ "
    "{cfg.solved_threshold:.0%}. Sweeps marked mixed are one run on random distances, scored "
    "at each fixed distance (`{cfg.order.task}` always is); the others one run per distance "
    "(copy_memory is scored on the recalled digits; chance is 1/8). Longest solved: the end "
    "of the first unbroken run of solved distances. The controls (dashed in the figure) show "
    "what a shortcut earns: where a judge ({judges}) beats chance by more than {margin}, the "
    "distance is leaky (shaded, marked in the table) and counts toward no stars.",
    table=tables.distance_table,
    each=lambda view: sweep_tasks(view.cfg),
    note=_long_context_note,
    figure=plots.plot_distance,
    figure_file="distance.png",
    caption="Accuracy against dependency distance (dotted: the solved threshold and chance; "
    "dashed: controls; shaded: leaky distances)",
  ),
  Section(
    "Gradient behaviour",
    text="log10 of the mean ‖∂loss/∂x_t‖ over the farther half of the distances from the "
    "output over that of the nearest eighth (x_t: the encoder's input at step t): about −k "
    "when the gradient vanishes by 10^k, above 0 when it grows.",
    table=tables.gradient_table,
    figure=plots.plot_gradients,
    figure_file="gradients.png",
    caption="Gradient norm against distance from the output, relative to the nearest steps "
    "(log scale)",
  ),
  Section(
    "Training stability",
    text="Every run of the grid on `{cfg.stability.task}` (is one key token anywhere? every "
    "model can represent it, so a failure is a failure to train): optimizer × learning rate × "
    "length, "
    "each without / with gradient clipping ({cfg.stability.train_steps} steps). ✓ = converged "
    "(final eval loss ≤ {cfg.stability.loss_fraction} × chance loss, never non-finite); the "
    "number is the final eval loss. Stars count the unclipped runs.",
    table=tables.stability_table,
  ),
  Section(
    "Scalability",
    text="Inference throughput against batch size (convolutional models: the faster "
    "implementation at each size); the critical path: the longest chain of dependent "
    "operations in the forward pass's jaxpr (a scan counts its length times its body), i.e. "
    "the time with unlimited parallel hardware; data-parallel scaling over the devices "
    "present (batch sharded with jax.sharding, per-device batch fixed).",
    table=tables.scaling_table,
    figure=plots.plot_scaling,
    figure_file="scaling.png",
    caption="Throughput against batch size; critical path against length",
  ),
  Section(
    "Benchmarks",
    table=tables.benchmark_table,
    note=_skipped_benchmarks,
    show=lambda view: bool(suite.names_of(view.cfg.benchmarks)),
  ),
  Section(
    "Jobs that could not run",
    table=tables.errors_table,
    show=lambda view: len(view.ok) < len(view.all),
  ),
  Section("Where each verdict number comes from", table=tables.sources_table),
]


MAP_TITLE = "CNN vs RNN: where the Speed claim holds, as a map"

# The map preset's report (configs/compare.py:map): speed and memory only.
MAP_SECTIONS = [
  Section(
    "Where the Speed claim flips",
    text="Each model's train-step time per example over the CNN's (`{cfg.folklore.cnn}`), per "
    "batch size and parameter budget (each model matched to the budget by its width knob), at "
    "each length. ★: the folklore's Speed claim holds (the model is at least ×1.41 slower, one "
    "star behind by the relative rule); ✗: it reverses (the CNN is at least ×1.41 slower). "
    "Where it flips: the lengths at which the ratio crosses ×1.41 or ×0.71, interpolated in "
    "log-log between measured lengths. Median of {cfg.map.repeats} calls per cell, after "
    "compilation; each model at its fastest tested implementation. The machine may be shared: "
    "compare ratios within one run.",
    table=speed_map.flip_table,
    figure=lambda view: speed_map.plot_ratio_map(view, "train", [view.cfg.folklore.rnn]),
    figure_file="map_pair.png",
    caption="The folklore pair: the RNN's train-step time per example over the CNN's "
    "(red: the CNN is faster; grey: skipped); solid contour ×1.41 (the claim holds beyond "
    "it), dashed ×0.71 (it reverses)",
  ),
  Section(
    "Train step",
    figure=lambda view: speed_map.plot_ratio_map(view, "train"),
    figure_file="map_train.png",
    caption="Train-step time per example over the CNN's (red: slower than the CNN; grey: "
    "skipped); solid contour ×1.41 (the claim holds beyond it), dashed ×0.71 (it reverses)",
  ),
  Section(
    "Inference",
    table=lambda view: speed_map.flip_table(view, "infer_s_per_example"),
    figure=lambda view: speed_map.plot_ratio_map(view, "infer"),
    figure_file="map_infer.png",
    caption="Inference time per example over the CNN's, as above",
  ),
  Section(
    "Memory",
    text="XLA's compiled peak memory of one train step per example, over the CNN's.",
    table=lambda view: speed_map.flip_table(view, "peak_bytes_per_example"),
    figure=lambda view: speed_map.plot_ratio_map(view, "memory"),
    figure_file="map_memory.png",
    caption="Train-step peak memory per example over the CNN's, as above",
  ),
  Section(
    "Against the default preset",
    text="The map's cells at the default preset's settings (its parameter budget and batch "
    "size) next to the Speed records of the default-preset run in `{cfg.map.compare_with}`, "
    "for the implementations both timed.",
    table=speed_map.agreement_table,
    show=lambda view: bool(view.cfg.map.compare_with),
  ),
  Section(
    "Every cell",
    text="Cells are skipped before compiling when params × batch × length exceeds "
    "map.max_work ({cfg.map.max_work:.0e}: the time budget), and after compiling when the "
    "train step needs more than map.max_peak_bytes.",
    table=speed_map.cells_table,
  ),
  SECTIONS[-2],  # the jobs that could not run
]


# The real preset's report (configs/compare.py:real): one verdict per real dataset.
REAL_SECTIONS = [
  Section(
    "The verdict on real data",
    text="Each dataset's verdict by the rules below, the folklore pair's stars and the verdict "
    "per criterion (the synthetic column: the default-preset run in `real.compare_with`).",
    table=real.summary_table,
    note=lambda view: real.disagreements(view) + "\n\n" + real.rules_text(view),
  ),
  Section(
    "Each dataset's verdict",
    table=real.dataset_table,
    each=real.datasets,
  ),
  Section(
    "Accuracy",
    text="Eval accuracy of every model at the dataset's parameter budget (mean ± sample std "
    "over seeds {cfg.seeds}).",
    table=real.accuracy_table,
  ),
  Section(
    "Order: accuracy with the steps shuffled",
    text="Accuracy when the steps (words, signal samples, audio frames) of each eval input are "
    "shuffled inside consecutive blocks of w steps, the blocks staying in place (whole: the "
    "input shuffled as one block), scored against the original labels; mean over seeds. Share "
    "lost: (accuracy − whole-shuffle accuracy) / (accuracy − chance).",
    table=real.order_table,
    each=real.datasets,
    figure=real.plot_order,
    figure_file="real_order.png",
    caption="Accuracy against the size of the blocks shuffled inside, per dataset",
  ),
  Section(
    "Long context: accuracy by input length",
    text="Eval inputs split into {cfg.real.length_buckets} groups of about equal size by "
    "length (one length stays in one group); accuracy per group, mean over seeds.",
    table=real.length_table,
    each=real.datasets,
  ),
  Section(
    "Cost, gradients and stability at the data's shapes",
    text="Time and compiled peak memory per example of one train step at the shape of the "
    "data's first training batch (fastest / leanest implementation, median of "
    "{cfg.speed.repeats} calls after compiling; the machine may be shared: compare within one "
    "run); log10 of the input gradient far from the output over near it at initialisation on "
    "real eval inputs; runs of the stability grid that converged.",
    table=real.cost_table,
  ),
  SECTIONS[-2],  # the jobs that could not run
]


def section_blocks(section: Section, view: Records, images: dict[str, bytes]) -> list[tuple]:
  """The blocks of one section (none when it is not shown); its figure goes into `images`."""
  if not section.show(view):
    return []
  blocks: list[tuple] = [("h2", section.title)]
  text = _text(section.text, view)
  if text:
    blocks.append(("p", text))
  if section.each is not None:
    for item in section.each(view):
      blocks += [("p", f"**{item}**"), ("table", *section.table(view, item))]
  elif section.table is not None:
    blocks.append(("table", *section.table(view)))
  note = _text(section.note, view)
  if note:
    blocks.append(("p", note))
  data = section.figure(view) if section.figure else None
  if data is not None:
    images[section.figure_file] = data
    blocks.append(("img", section.figure_file, section.caption))
  return blocks


def _machine(view: Records) -> str:
  devices = sorted({r["device"] for r in view.all.values()}) or ["?"]
  return (
    f"{platform.machine()} host, {os.cpu_count()} CPU cores visible, JAX devices "
    f"{', '.join(devices)}; records from jax "
    f"{', '.join(sorted({r['jax'] for r in view.all.values()}))}"
  )


def preamble(view: Records, command: str = "") -> str:
  """The opening paragraph: preset, records, parameter budget, machine, time and command."""
  cfg, records = view.cfg, view.all
  seconds = sum(rec["seconds"] for rec in records.values())
  if "map" in cfg:
    budgets = cfg.map.param_budgets
  elif "real" in cfg:  # each dataset its own (suite/real.py)
    budgets = [cfg.real.sets[name].param_budget for name in real.datasets(view)]
  else:
    budgets = (cfg.param_budget,)
  return (
    f"Preset `{cfg.preset}`, {len(records)} records "
    f"(`records.jsonl`, {seconds / 60:.1f} min of measuring in total), "
    f"every model sized to about {' / '.join(f'{b:,}' for b in budgets)} parameters. "
    f"Machine: {_machine(view)}. Written "
    f"{datetime.datetime.now().isoformat(timespec='seconds')}."
    + (f" Command: `{command}`." if command else "")
  )


def all_sections() -> list[Section]:
  """SECTIONS with the registered probes' sections before the last two (the failed jobs and
  the sources of the verdict's numbers)."""
  added = [p.report_section for p in suite.REGISTERED_PROBES.values() if p.report_section]
  return SECTIONS[:-2] + added + SECTIONS[-2:]


def build(
  cfg, records: dict[str, dict], command: str = "", sections: list[Section] | None = None
) -> Report:
  """The report of a comparison's records (id -> record): the preamble, then every section
  of `sections` (default `all_sections()`, or MAP_SECTIONS for the map preset) in order."""
  view = Records(cfg, records)
  kind = "map" if "map" in cfg else "real" if "real" in cfg else "default"
  if sections is None:
    sections = {"map": MAP_SECTIONS, "real": REAL_SECTIONS}.get(kind) or all_sections()
  images: dict[str, bytes] = {}
  blocks: list[tuple] = [("p", preamble(view, command))]
  for section in sections:
    blocks += section_blocks(section, view, images)
  title = {"map": MAP_TITLE, "real": real.TITLE}.get(kind, TITLE)
  return Report(title, blocks, verdict_rows(view) if kind == "default" else [], images)
