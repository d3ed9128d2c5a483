"""Kim 2014's Table 2 from finished runs (docs/kim2014.md): one row per preset of
configs/kim2014.py, one column per dataset.

A cell is filled only from a finished run's own summary: WORKDIR/seeds.json (3 seeds, the
datasets with a test split) or WORKDIR/folds.json (10-fold cross-validation, MR and CR):
test accuracy in %, mean ± sample std, and the mean training seconds per seed or fold (from
metrics.jsonl's steps/s). Every other cell reads "not run"; the command of every cell is
listed under the table. `length_section` scores the finished SST runs of CNN-rand and the
BiLSTM on the test sentences of each length.
"""

from __future__ import annotations

import json
import os

import numpy as np

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.scoring import scorer
from cnnrnn_jax.tables import markdown_table
from cnnrnn_jax.tasks.text import tokenize

PUBLISHED = {"mr": 76.1, "sst1": 45.0, "sst2": 82.7, "trec": 91.2, "cr": 79.8}
K = "$D/kim2014"
DATASETS = {  # column: (title, the data flags of its command)
  "mr": (
    "MR",
    f"--config.data.train_path={K}/rt-polarity.pos,{K}/rt-polarity.neg --config.data.cv_folds=10",
  ),
  "sst1": (
    "SST-1",
    f"--config.data.train_path={K}/stsa.fine.train --config.data.dev_path={K}/stsa.fine.dev "
    f"--config.data.eval_path={K}/stsa.fine.test --seeds=0,1,2",
  ),
  "sst2": (
    "SST-2",
    f"--config.data.train_path={K}/stsa.binary.train --config.data.dev_path={K}/stsa.binary.dev "
    f"--config.data.eval_path={K}/stsa.binary.test --seeds=0,1,2",
  ),
  "trec": (
    "TREC",
    f"--config.data.train_path={K}/TREC.train.all --config.data.eval_path={K}/TREC.test.all "
    "--seeds=0,1,2",
  ),
  "cr": ("CR", f"--config.data.train_path={K}/custrev.all --config.data.cv_folds=10"),
}
ROWS = {  # preset: (row title, workdir suffix)
  "table2": ("ours: CNN-rand (Kim's sizes, dev selection)", ""),
  "table2_cnn": ("ours: CNN, the project's default sizes", "_cnn"),
  "table2_bilstm": ("ours: BiLSTM (parameters matched to the CNN's encoder)", "_bilstm"),
  "table2_cnn_lstm": ("ours: cnn_lstm hybrid", "_cnn_lstm"),
  "table2_tcn": ("ours: TCN", "_tcn"),
  "table2_transformer": ("ours: transformer", "_transformer"),
}
# Kim trained SST-1 and SST-2 on every labelled phrase of the training sentences' parse trees,
# not on the sentences alone. GLUE's SST-2 training file holds those phrases (binary labels;
# the fine-grained ones of SST-1 are not in the data), so on SST-2 the effect can be measured:
# the same preset on the phrases, and on the sentences for as many steps (the control).
SST2_STEPS = 2000
SST2_ROWS = {  # workdir: (row title, training file)
  "kim_sst2_phrases": (
    f"ours: CNN-rand on SST-2's phrases, as Kim trained ({SST2_STEPS:,} steps)",
    "$D/sst2_glue/train.tsv",
  ),
  "kim_sst2_sentences": (
    f"ours: CNN-rand on SST-2's sentences, the same {SST2_STEPS:,} steps (control)",
    f"{K}/stsa.binary.train",
  ),
}


def command(preset: str, dataset: str) -> str:
  """The one command that fills the cell (preset, dataset)."""
  return (
    f"python -m experiments.train --config=cnnrnn_jax/configs/kim2014.py:{preset} "
    f"{DATASETS[dataset][1]} --workdir=runs/kim_{dataset}{ROWS[preset][1]}"
  )


def sst2_command(workdir: str) -> str:
  """The command of an SST2_ROWS row: `table2` on its training file for SST2_STEPS steps."""
  return (
    f"python -m experiments.train --config=cnnrnn_jax/configs/kim2014.py:table2 "
    f"--config.data.train_path={SST2_ROWS[workdir][1]} "
    f"--config.data.dev_path={K}/stsa.binary.dev --config.data.eval_path={K}/stsa.binary.test "
    f"--config.train_steps={SST2_STEPS} --seeds=0,1,2 --workdir=runs/{workdir}"
  )


def _seconds(run: str) -> float:
  return workdir_module.train_seconds(
    workdir_module.read_records(os.path.join(run, workdir_module.METRICS_FILE))
  )


def cell(workdir: str) -> str | None:
  """'mean ± std (n seeds|folds, s/run)' from a finished run's summary, else None."""
  for name, parts in (("seeds.json", "seed"), ("folds.json", "fold")):
    path = os.path.join(workdir, name)
    if os.path.exists(path):
      with open(path) as f:
        accuracy = json.load(f)["accuracy"]
      keys = accuracy["seeds" if parts == "seed" else "folds"]
      seconds = [_seconds(os.path.join(workdir, f"{parts}_{k}")) for k in keys]
      return (
        f"{100 * accuracy['mean']:.1f} ± {100 * accuracy['std']:.1f} "
        f"({len(keys)} {parts}s, {sum(seconds) / len(seconds):.0f} s each)"
      )
  return None


def section(runs: str) -> str:
  """The table and the command of every cell, as markdown."""
  header = ["model", *(title for title, _ in DATASETS.values())]
  rows = [["Kim CNN-rand, published", *(f"{PUBLISHED[d]:.1f}" for d in DATASETS)]]
  for preset, (title, suffix) in ROWS.items():
    found = [cell(os.path.join(runs, f"kim_{d}{suffix}")) for d in DATASETS]
    rows.append([f"{title} (`{preset}`)", *(c or "not run" for c in found)])
  for workdir, (title, _) in SST2_ROWS.items():
    found = cell(os.path.join(runs, workdir)) or "not run"
    rows.append([f"{title} (`table2`)", *(found if d == "sst2" else "-" for d in DATASETS)])
  lines = [markdown_table(header, rows), "", "The command of each cell (`D=../shared/data`):", ""]
  for preset in ROWS:
    for dataset, (title, _) in DATASETS.items():
      lines.append(f"- `{preset}` on {title}: `{command(preset, dataset)}`")
  for workdir, (title, _) in SST2_ROWS.items():
    lines.append(f"- {title}: `{sst2_command(workdir)}`")
  return "\n".join(lines)


# Accuracy by sentence length: CNN-rand against the BiLSTM on the SST test sentences, each
# seed's dev-selected parameters scored on the test sentences of each length (in words, as
# the tokenizer splits them).
LENGTH_DATASETS = {"sst1": "stsa.fine.test", "sst2": "stsa.binary.test"}
LENGTH_PRESETS = ("table2", "table2_bilstm")
LENGTHS = ((1, 10), (11, 20), (21, 30), (31, None))  # words, inclusive; None: no upper end


def _length_name(lo: int, hi: int | None) -> str:
  return f"{lo}-{hi} words" if hi else f"{lo}+ words"


def split_by_length(test_file: str, outdir: str) -> list[tuple[str, str, int]]:
  """(bucket name, path, sentences) per LENGTHS bucket: the `<label> <sentence>` lines of
  `test_file` whose sentence has that many words, written unchanged into `outdir`."""
  with open(test_file, encoding="utf-8") as f:
    lines = [line for line in f.read().split("\n") if line.strip()]
  words = [len(tokenize(line.partition(" ")[2], "word", True)) for line in lines]  # as seen
  os.makedirs(outdir, exist_ok=True)
  buckets = []
  for lo, hi in LENGTHS:
    name = _length_name(lo, hi)
    kept = [line for line, n in zip(lines, words) if lo <= n and (hi is None or n <= hi)]
    path = os.path.join(outdir, f"{os.path.basename(test_file)}.{lo}-{hi or 'up'}")
    with open(path, "w", encoding="utf-8") as f:
      f.write("".join(line + "\n" for line in kept))
    buckets.append((name, path, len(kept)))
  return buckets


def length_section(runs: str, data_dir: str, outdir: str) -> str:
  """Test accuracy (%) by sentence length of each LENGTH_PRESETS run on each LENGTH_DATASETS
  dataset that finished (mean ± sample std over its seeds), as markdown."""
  tables = []
  for dataset, test_name in LENGTH_DATASETS.items():
    test_file = os.path.join(data_dir, "kim2014", test_name)
    buckets = split_by_length(test_file, os.path.join(outdir, dataset))
    rows = []
    for preset in LENGTH_PRESETS:
      workdir = os.path.join(runs, f"kim_{dataset}{ROWS[preset][1]}")
      if not os.path.exists(os.path.join(workdir, "seeds.json")):
        rows.append([f"`{preset}`", *["not run"] * len(buckets)])
        continue
      with open(os.path.join(workdir, "seeds.json")) as f:
        seeds = json.load(f)["accuracy"]["seeds"]
      score_on = [scorer(os.path.join(workdir, f"seed_{k}")) for k in seeds]  # restored once
      cells = []
      for _, path, _ in buckets:
        values = [100 * score_seed(path)["accuracy"] for score_seed in score_on]
        cells.append(f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}")
      rows.append([f"`{preset}` ({len(seeds)} seeds)", *cells])
    title = DATASETS[dataset][0]
    header = [f"{title} test", *(f"{name} ({n})" for name, _, n in buckets)]
    tables.append(markdown_table(header, rows))
  return "\n\n".join(tables)
