r"""Bai et al. (2018) at the paper's sequence lengths, from finished runs.

  python -m experiments.bai_table --runs=runs                          # print the table
  python -m experiments.bai_table --runs=runs --write=docs/results.md

One row per run of cnnrnn_jax/report/bai_tables.py's ROWS (adding at T = 600, copy memory at
T = 1000, sequential and permuted MNIST), filled only from the run's own seeds.json,
config.json and metrics.jsonl; a row without a finished run reads "not run". The command of
every row is listed under the table, then the finished MNIST runs' test accuracy by epochs of
images. `--write` replaces the text between the `<!-- bai-paper -->` and
`<!-- /bai-paper -->` lines of the given file; a row whose run is not under --runs keeps the
line the file has for the same command (rows finished on other machines or in earlier runs
folders stay as they were written).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax.report import bai_tables
from cnnrnn_jax.tables import read_block, write_blocks

_RUNS = flags.DEFINE_string(
  "runs", "runs", "Folder holding the bai2018/, seq_mnist/ and perm_mnist/ runs."
)
_WRITE = flags.DEFINE_string("write", None, "Markdown file whose bai-paper section to replace.")

MARKERS = ("<!-- bai-paper -->", "<!-- /bai-paper -->")


def main(argv: Sequence[str]) -> None:
  """Prints the section, or writes it between the markers of --write."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _WRITE.value:
    print(bai_tables.section(_RUNS.value))
    return
  try:
    with open(_WRITE.value) as f:
      earlier = bai_tables.Earlier.parse(read_block(f.read(), *MARKERS))
    text = bai_tables.section(_RUNS.value, earlier)
    write_blocks(_WRITE.value, {MARKERS: text})
  except (OSError, ValueError) as e:
    sys.exit(str(e))


if __name__ == "__main__":
  app.run(main)
