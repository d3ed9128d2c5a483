"""Markdown tables: the one writer used by the report, the benchmark and the docs tables."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any


def cell(value: Any, digits: int = 1) -> str:
  """A table cell: '-' for missing, fixed digits for floats (3 significant when huge)."""
  if value is None or value == "":
    return "-"
  if isinstance(value, float):
    return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
  return str(value)


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], digits: int = 1) -> str:
  """A GitHub-flavoured markdown table; '|' inside a cell is escaped."""

  def text(value: Any) -> str:
    return cell(value, digits).replace("|", "\\|")

  lines = ["| " + " | ".join(text(h) for h in header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def row_cells(line: str) -> list[str]:
  """The cells of one markdown table row ('| a | b |' -> ['a', 'b'])."""
  return [c.strip() for c in line.strip().strip("|").split(" | ")]


def keep_earlier_rows(table: str, earlier: str, keys: int, missing: str) -> str:
  """`table` (markdown) with each row whose cells after the first `keys` all say `missing`
  replaced by the row of `earlier` (the same table as written before) with the same first
  `keys` cells: a results table rewritten from the runs at hand keeps the rows whose runs are
  not here, and a row is updated as soon as its own run is."""
  before = {}
  for line in earlier.splitlines()[2:]:
    if line.startswith("|"):
      before[tuple(row_cells(line)[:keys])] = line
  lines = table.splitlines()
  for i, line in enumerate(lines[2:], start=2):
    cells = row_cells(line)
    if all(c == missing for c in cells[keys:]) and tuple(cells[:keys]) in before:
      lines[i] = before[tuple(cells[:keys])]
  return "\n".join(lines)


def _block_span(doc: str, begin: str, end: str) -> tuple[int, int] | None:
  """(start, stop) of the text between the line `begin` and the next line `end`, or None."""
  start = doc.find(begin + "\n")
  stop = -1 if start < 0 else doc.find(end, start + len(begin) + 1)
  return None if stop < 0 else (start + len(begin) + 1, stop)


def read_block(doc: str, begin: str, end: str) -> str:
  """The text between the line `begin` and the next line `end` of `doc` ('' without them)."""
  span = _block_span(doc, begin, end)
  return "" if span is None else doc[span[0] : span[1]].rstrip("\n")


def replace_block(doc: str, begin: str, end: str, text: str) -> str:
  """`doc` with the lines between the line `begin` and the next line `end` replaced by
  `text` (how results are written into a docs page: between markers, the rest untouched).
  Raises ValueError naming the markers when `doc` lacks them."""
  span = _block_span(doc, begin, end)
  if span is None:
    raise ValueError(f"no {begin} ... {end} block to write between")
  return f"{doc[: span[0]]}{text}\n{doc[span[1] :]}"


def write_blocks(path: str, blocks: dict[tuple[str, str], str]) -> None:
  """Rewrites the markdown file `path` with each (begin, end) marker pair's lines replaced by
  its text (`replace_block`); nothing is written when a pair is missing, and the ValueError
  names the file and the markers."""
  with open(path) as f:
    doc = f.read()
  try:
    for (begin, end), text in blocks.items():
      doc = replace_block(doc, begin, end, text)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  with open(path, "w") as f:
    f.write(doc)


def write_table_files(outdir: str, name: str, rows: list[dict[str, Any]], table: str) -> None:
  """Writes OUTDIR/NAME.json (the rows) and OUTDIR/NAME.md (the rendered table)."""
  os.makedirs(outdir, exist_ok=True)
  with open(os.path.join(outdir, f"{name}.json"), "w") as f:
    json.dump(rows, f, indent=2)
  with open(os.path.join(outdir, f"{name}.md"), "w") as f:
    f.write(table + "\n")
