r"""Kim 2014's Table 2 from finished runs: one row per preset of configs/kim2014.py.

  python -m experiments.kim_table --runs=runs              # print the table
  python -m experiments.kim_table --runs=runs --write=docs/kim2014.md

A cell is filled only from a finished run's own summary: WORKDIR/seeds.json (3 seeds, the
datasets with a test split) or WORKDIR/folds.json (10-fold cross-validation, MR and CR):
test accuracy in %, mean ± sample std, and the mean training seconds per seed or fold (from
metrics.jsonl's steps/s). Every other cell reads "not run"; the command of every cell is
listed under the table. `--write` replaces the text between the `<!-- kim-table -->` and
`<!-- /kim-table -->` lines of the given file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax.report import kim_tables
from cnnrnn_jax.tables import replace_block

_RUNS = flags.DEFINE_string("runs", "runs", "Folder holding the runs/kim_* workdirs.")
_WRITE = flags.DEFINE_string("write", None, "Markdown file whose kim-table section to replace.")

BEGIN, END = "<!-- kim-table -->", "<!-- /kim-table -->"


def main(argv: Sequence[str]) -> None:
  """Prints the section, or writes it between the markers of --write."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  text = kim_tables.section(_RUNS.value)
  if not _WRITE.value:
    print(text)
    return
  with open(_WRITE.value) as f:
    doc = f.read()
  try:
    doc = replace_block(doc, BEGIN, END, text)
  except ValueError as e:
    sys.exit(f"{_WRITE.value}: {e}")
  with open(_WRITE.value, "w") as f:
    f.write(doc)


if __name__ == "__main__":
  app.run(main)
