r"""Kim 2014's Table 2 from finished runs: one row per preset of configs/kim2014.py.

  python -m experiments.kim_table --runs=runs              # print the table
  python -m experiments.kim_table --runs=runs --write=docs/kim2014.md
  python -m experiments.kim_table --runs=runs --data=../shared/data --write=docs/kim2014.md

A cell is filled only from a finished run's own summary: WORKDIR/seeds.json (3 seeds, the
datasets with a test split) or WORKDIR/folds.json (10-fold cross-validation, MR and CR):
test accuracy in %, mean ± sample std, and the mean training seconds per seed or fold (from
metrics.jsonl's steps/s). Every other cell reads "not run"; the command of every cell is
listed under the table. `--write` replaces the text between the `<!-- kim-table -->` and
`<!-- /kim-table -->` lines of the given file. With `--data` (the folder holding `kim2014/`)
it also scores CNN-rand's and the BiLSTM's SST-1 and SST-2 runs on the test sentences of each
length (the split files go to --lengths_dir) and writes that table between the
`<!-- kim-lengths -->` and `<!-- /kim-lengths -->` lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax.report import kim_tables
from cnnrnn_jax.tables import write_blocks

_RUNS = flags.DEFINE_string("runs", "runs", "Folder holding the runs/kim_* workdirs.")
_WRITE = flags.DEFINE_string("write", None, "Markdown file whose kim-table section to replace.")
_DATA = flags.DEFINE_string("data", None, "The data folder: also the accuracy-by-length table.")
_LENGTHS_DIR = flags.DEFINE_string("lengths_dir", "runs/kim_lengths", "Where the split files go.")

SECTIONS = {"table": ("<!-- kim-table -->", "<!-- /kim-table -->")}
SECTIONS["lengths"] = ("<!-- kim-lengths -->", "<!-- /kim-lengths -->")


def main(argv: Sequence[str]) -> None:
  """Prints the section, or writes it between the markers of --write."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _DATA.value and not os.path.isdir(os.path.join(_DATA.value, "kim2014")):
    sys.exit(
      f"--data={_DATA.value}: no kim2014/ folder in it; point --data at the folder holding it"
    )
  texts = {"table": kim_tables.section(_RUNS.value)}
  if _DATA.value:
    texts["lengths"] = kim_tables.length_section(_RUNS.value, _DATA.value, _LENGTHS_DIR.value)
  if not _WRITE.value:
    print("\n\n".join(texts.values()))
    return
  try:
    write_blocks(_WRITE.value, {SECTIONS[name]: text for name, text in texts.items()})
  except ValueError as e:
    sys.exit(str(e))


if __name__ == "__main__":
  app.run(main)
