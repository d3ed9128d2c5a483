r"""Print (or write into docs/seq2seq.md) the seq2seq tables from the runs' files.

  python -m experiments.seq2seq_table --workdirs=runs/s2s
  python -m experiments.seq2seq_table --workdirs=runs/s2s --write=docs/seq2seq.md

With --write, the text between the `<!-- seq2seq-g2p -->`, `<!-- seq2seq-g2p-large -->`,
`<!-- seq2seq-g2p-variants -->` (run folders under --variants) and
`<!-- seq2seq-transductions -->` markers and their `<!-- end -->` lines is replaced by the
tables (report/seq2seq_tables.py); a row whose run folder is not under --workdirs keeps what
the file had, so the tables can be updated one finished run at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax.report import seq2seq_tables
from cnnrnn_jax.tables import keep_earlier_rows, read_block, write_blocks

_WORKDIRS = flags.DEFINE_string("workdirs", "runs/s2s", "Folder of the MODEL_TASK run folders.")
_VARIANTS = flags.DEFINE_string(
  "variants", "runs/s2s_variants", "Folder of the run folders of configs/seq2seq.py's VARIANTS."
)
_WRITE = flags.DEFINE_string("write", None, "A markdown file whose marked tables to replace.")


def main(argv: Sequence[str]) -> None:
  """Prints the tables, or writes them between the markers of --write."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  tables = {
    **{
      marker: seq2seq_tables.g2p_table(_WORKDIRS.value, task)
      for marker, task in seq2seq_tables.G2P_TABLES.items()
    },
    "seq2seq-g2p-variants": seq2seq_tables.g2p_variants_table(_VARIANTS.value),
    "seq2seq-transductions": seq2seq_tables.transduction_table(_WORKDIRS.value),
  }
  if not _WRITE.value:
    print("\n\n".join(tables.values()))
    return
  with open(_WRITE.value) as f:
    doc = f.read()
  blocks = {}
  for marker, table in tables.items():  # rows whose runs are not here keep what they had
    begin = f"<!-- {marker} -->"
    earlier = read_block(doc, begin, "<!-- end -->")
    keys = seq2seq_tables.KEY_COLUMNS[marker]
    blocks[(begin, "<!-- end -->")] = keep_earlier_rows(
      table, earlier, keys, seq2seq_tables.NOT_RUN
    )
  try:
    write_blocks(_WRITE.value, blocks)
  except ValueError as e:
    raise app.UsageError(str(e)) from None


if __name__ == "__main__":
  app.run(main)
