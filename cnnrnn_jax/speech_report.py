"""The speech tables, written from finished runs (each a `--seeds` workdir with seeds.json).

A run is sorted into a table by its own config.json: spoken digits on the official split
(`split` index, no eval_path), spoken digits with one speaker held out (`split` speaker:
one column per speaker), or digit strings (task kind ctc). A row is named by its workdir's
folder name (the preset, e.g. `crnn`; `crnn_theo` for a held-out run) and gives the mean ±
sample std over its seeds with the seed count in brackets, the parameters (from shapes), and
the training throughput the run logged (median of its `steps_per_sec` lines).
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import ml_collections
import numpy as np

from cnnrnn_jax import models, tables
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.configs import speech
from cnnrnn_jax.tasks import TaskSpec


def collect(root: str) -> list[dict[str, Any]]:
  """One record per finished run under `root`: name, config, seed summary, throughput."""
  records = []
  for path in sorted(glob.glob(os.path.join(root, "**", "seeds.json"), recursive=True)):
    workdir = os.path.dirname(path)
    seed_dirs = sorted(glob.glob(os.path.join(workdir, "seed_*")))
    if not seed_dirs:
      continue
    with open(os.path.join(seed_dirs[0], "config.json")) as f:
      config = ml_collections.ConfigDict(json.load(f))
    with open(path) as f:
      summary = json.load(f)
    rates = []  # past each seed's first window, which holds the compiles
    for seed_dir in seed_dirs:
      metrics = os.path.join(seed_dir, workdir_module.METRICS_FILE)
      rates += workdir_module.step_rates(workdir_module.read_records(metrics))
    records.append(
      {
        "name": os.path.basename(workdir),
        "workdir": workdir,
        "config": config,
        "summary": summary,
        "steps_per_sec": float(np.median(rates)) if rates else None,
      }
    )
  return records


def parameters(config: ml_collections.ConfigDict) -> int:
  """The run's parameter count, from shapes (the count does not depend on the clip length)."""
  kind = "ctc" if config.task == "digit_strings" else "classify"
  dim = 13 if config.data.get("features") == "mfcc" else config.data.get("n_mels", 40)
  spec = TaskSpec(kind=kind, num_outputs=11 if kind == "ctc" else 10, seq_len=256, input_dim=dim)
  return models.parameter_counts(models.build_model(config.model, config.arch, spec))[0]


def mean_std(summary: dict, metric: str, scale: float = 100.0) -> str:
  """'mean ± std (n)' of a seeds.json metric, scaled (percent by default)."""
  if metric not in summary:
    return "-"
  entry = summary[metric]
  n = len(entry["values"])
  if n == 1:
    return f"{scale * entry['mean']:.1f} (1)"
  return f"{scale * entry['mean']:.1f} ± {scale * entry['std']:.1f} ({n})"


def _split(record) -> str:
  data = record["config"].data
  if data.get("eval_path"):
    return "eval_path"
  return data.get("split") or "index"


def official_table(records: list[dict], train_examples: int = 2250) -> str:
  """Spoken digits, official split: accuracy, parameters, seconds per training epoch."""
  rows = []
  for r in records:
    if r["config"].task == "digit_strings" or _split(r) != "index":
      continue
    sps = r["steps_per_sec"]
    epoch_s = train_examples / r["config"].batch_size / sps if sps else None
    rows.append(
      [
        r["name"],
        r["config"].model,
        mean_std(r["summary"], "accuracy"),
        f"{parameters(r['config']):,}",
        None if epoch_s is None else round(epoch_s, 1),
      ]
    )
  header = ["run", "model", "test accuracy % (seeds)", "parameters", "s / epoch (2 shared cores)"]
  return tables.markdown_table(header, rows)


# what a held-out row names when its run set it otherwise than the plain preset of its model
SETTINGS = (
  "data.features",
  "data.n_mels",
  "data.normalize",
  "data.speed_perturb",
  "data.noise_snr",
  "data.lowpass_hz",
  "data.freq_masks",
  "data.time_masks",
  "data.freq_warp",
  "arch.dropout",
  "opt.weight_decay",
  "train_steps",
)


def settings(config: ml_collections.ConfigDict) -> str:
  """The SETTINGS in which a run's config differs from its model's plain speech preset (a
  knob its config lacks, from a tree older than the knob, counts as the preset's)."""
  plain = speech.get_config(config.model)
  changed = []
  for key in SETTINGS:
    group, _, knob = key.rpartition(".")
    ours, theirs = (c[group] if group else c for c in (config, plain))
    value = ours.get(knob, theirs.get(knob))
    if value != theirs.get(knob):
      changed.append(f"{knob}={value}")
  return " ".join(changed) or "-"


def heldout_table(records: list[dict]) -> str:
  """Spoken digits, one speaker held out: a row per run family (the workdir's name without
  its `_SPEAKER` suffix, e.g. `crnn_aug`) and its settings, a column per speaker (the mean
  over its seeds), the mean over the speakers; with several seeds for every speaker, ± the
  sample std over the seeds of each seed's mean over the speakers."""
  by_model: dict[tuple[str, str], dict[str, float]] = {}
  seeds: dict[tuple[str, str], set[int]] = {}
  for r in records:
    if r["config"].task == "digit_strings" or _split(r) != "speaker":
      continue
    speaker = r["config"].data.eval_speakers
    family = (r["name"].removesuffix(f"_{speaker}"), settings(r["config"]))
    by_model.setdefault(family, {})[speaker] = r["summary"]["accuracy"]["values"]
    seeds.setdefault(family, set()).add(len(r["summary"]["accuracy"]["values"]))
  speakers = sorted({s for row in by_model.values() for s in row})
  rows = []
  for family, cells in sorted(by_model.items()):
    values = [cells.get(s) for s in speakers]
    mean = None
    if None not in values:
      mean = f"{100 * np.mean([np.mean(v) for v in values]):.1f}"
      if len(seeds[family]) == 1 and len(values[0]) > 1:  # each seed's mean over the speakers
        mean += f" ± {100 * np.std(np.mean(values, axis=0), ddof=1):.1f}"
    rows.append(
      [*family, *[None if v is None else 100 * np.mean(v) for v in values]]
      + [mean, "/".join(map(str, sorted(seeds[family])))]
    )
  header = ["runs", "settings (against the plain preset)", *speakers, "mean", "seeds"]
  return tables.markdown_table(header, rows)


def strings_table(records: list[dict]) -> str:
  """Digit strings (CTC): digit error rate and string accuracy on the test strings."""
  rows = []
  for r in records:
    if r["config"].task != "digit_strings":
      continue
    rows.append(
      [
        r["name"],
        r["config"].model,
        mean_std(r["summary"], "label_error_rate"),
        mean_std(r["summary"], "string_accuracy"),
        f"{parameters(r['config']):,}",
      ]
    )
  header = ["run", "model", "digit error rate % (seeds)", "string accuracy %", "parameters"]
  return tables.markdown_table(header, rows)


def length_table(root: str) -> str:
  """Digit error rate % / string accuracy % against string length, from the JSON files that
  `experiments.score --data=min_digits=K,max_digits=K --out=...` wrote under `root`."""
  cells: dict[str, dict[int, str]] = {}
  for path in sorted(glob.glob(os.path.join(root, "**", "*.json"), recursive=True)):
    with open(path) as f:
      scored = json.load(f)
    settings = dict(s.split("=", 1) for s in scored.get("data", []))
    if "label_error_rate" not in scored or settings.get("min_digits") != settings.get("max_digits"):
      continue
    k = int(settings["min_digits"])
    run = os.path.relpath(scored["workdir"], os.path.dirname(os.path.normpath(root)))
    der, acc = 100 * scored["label_error_rate"], 100 * scored["string_accuracy"]
    cells.setdefault(run, {})[k] = f"{der:.1f} / {acc:.1f}"
  lengths = sorted({k for row in cells.values() for k in row})
  rows = [[run, *[row.get(k) for k in lengths]] for run, row in sorted(cells.items())]
  return tables.markdown_table(["run", *[f"{k} digits" for k in lengths]], rows)
