"""The seq2seq results tables, written from the runs' own files (docs/seq2seq.md).

A run folder WORKDIRS/MODEL_TASK (configs/seq2seq.py presets, e.g. runs/s2s/lstm_g2p; a
variant's is VARIANTS_DIR/NAME, e.g. runs/s2s_variants/lstm_g2p_enc2) holds
decode_seeds.json (experiments/decode.py: mean ± std over seeds per beam width and eval length)
and seed_S/metrics.jsonl (experiments/train.py: steps_per_sec of each logged window). A missing
folder or file is a cell that says so; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from cnnrnn_jax import workdir
from cnnrnn_jax.configs import seq2seq as configs
from cnnrnn_jax.tables import markdown_table

NOT_RUN = "not run"
# marker of each table in docs/seq2seq.md -> the cells that name a row (model; task and model)
KEY_COLUMNS = {
  "seq2seq-g2p": 1,
  "seq2seq-g2p-large": 1,
  "seq2seq-g2p-variants": 1,
  "seq2seq-transductions": 2,
}
# marker of each G2P table -> its preset task (configs/seq2seq.py): one size per table
G2P_TABLES = {"seq2seq-g2p": "g2p", "seq2seq-g2p-large": "g2p_large"}


def _load(path: str) -> Any:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _train_speed(run: str) -> tuple[float | None, int | None]:
  """(median seconds per training step over the logged windows of seed_0 but the first, which
  holds the compiles; batch size), from metrics.jsonl and config.json."""
  seed_dir = os.path.join(run, "seed_0")
  config = _load(os.path.join(seed_dir, "config.json"))
  if config is None:
    return None, None
  rates = workdir.step_rates(workdir.read_records(os.path.join(seed_dir, workdir.METRICS_FILE)))
  return (1.0 / float(np.median(rates)) if rates else None), config["batch_size"]


def _cell(summary: dict | None, key: str, metric: str, scale: float = 100.0, digits: int = 1):
  if summary is None or key not in summary or metric not in summary[key]:
    return NOT_RUN
  s = summary[key][metric]
  n = len(s["values"])
  text = f"{scale * s['mean']:.{digits}f}"
  return text + (f" ± {scale * s['std']:.{digits}f}" if n > 1 else "") + f" ({n})"


def _g2p_scores(summary: dict | None) -> list[str]:
  """Params, then PER and WER greedy and with beam 5, of one run's decode_seeds.json."""
  params = summary["beam1"]["params"]["mean"] if summary and "beam1" in summary else None
  return [
    f"{params / 1e6:.2f}M" if params else NOT_RUN,
    *(_cell(summary, k, m) for k in ("beam1", "beam5") for m in ("per", "wer")),
  ]


def g2p_table(workdirs: str, task: str = "g2p") -> str:
  """PER / WER with and without stress, greedy and beam 5, and the costs, one row per model
  of the G2P preset `task` (run folders WORKDIRS/MODEL_TASK)."""
  rows = []
  for name in configs.MODELS:
    run = os.path.join(workdirs, f"{name}_{task}")
    summary = _load(os.path.join(run, "decode_seeds.json"))
    step_s, batch = _train_speed(run)
    epoch = None
    if step_s is not None and summary and "beam1" in summary:
      epoch = f"{step_s * summary['beam1']['train_pairs']['mean'] / batch:.0f}"
    rows.append(
      [
        configs.MODELS[name],
        *_g2p_scores(summary),
        *(_cell(summary, k, m) for k in ("beam1", "beam5") for m in ("wer_nostress",)),
        epoch or NOT_RUN,
        _cell(summary, "beam1", "decode_ms_per_seq", 1.0, 2),
        _cell(summary, "beam5", "decode_ms_per_seq", 1.0, 2),
      ]
    )
  header = [
    "model",
    "params",
    "PER greedy %",
    "WER greedy %",
    "PER beam 5 %",
    "WER beam 5 %",
    "WER no stress, greedy %",
    "WER no stress, beam 5 %",
    "train s/epoch",
    "decode ms/word greedy",
    "decode ms/word beam 5",
  ]
  return markdown_table(header, rows)


def g2p_variants_table(workdirs: str) -> str:
  """One row per configs.VARIANTS entry (run folder WORKDIRS/NAME): what it changes in its
  preset, and its PER / WER greedy and with beam 5."""
  rows = []
  for name, (preset, changes) in configs.VARIANTS.items():
    summary = _load(os.path.join(workdirs, name, "decode_seeds.json"))
    changed = ", ".join(f"{k}={v}" for k, v in changes.items())
    rows.append(
      [
        name,
        f"{preset} with {changed}",
        *_g2p_scores(summary),
        _cell(summary, "beam5", "wer_nostress"),
      ]
    )
  header = [
    "variant",
    "preset and changes",
    "params",
    "PER greedy %",
    "WER greedy %",
    "PER beam 5 %",
    "WER beam 5 %",
    "WER no stress, beam 5 %",
  ]
  return markdown_table(header, rows)


TRANSDUCTIONS = {"reverse": (20, 40), "sort": (20, 40), "addition": (5, 8)}


def transduction_table(workdirs: str) -> str:
  """Sequence accuracy (greedy) at the trained length and a longer one, and the costs."""
  rows = []
  for task, (n, longer) in TRANSDUCTIONS.items():
    for name in configs.MODELS:
      run = os.path.join(workdirs, f"{name}_{task}")
      summary = _load(os.path.join(run, "decode_seeds.json"))
      step_s, _ = _train_speed(run)
      rows.append(
        [
          task,
          configs.MODELS[name],
          _cell(summary, f"beam1_len{n}", "seq_accuracy"),
          _cell(summary, f"beam1_len{longer}", "seq_accuracy"),
          f"{1000 * step_s:.0f}" if step_s else NOT_RUN,
          _cell(summary, f"beam1_len{n}", "decode_ms_per_seq", 1.0, 2),
        ]
      )
  header = [
    "task (train length)",
    "model",
    "seq. accuracy % at train length",
    "at the longer length",
    "train ms/step",
    "decode ms/seq greedy",
  ]
  return markdown_table(header, rows)
