"""Markdown tables: the one writer used by the report, the benchmark and the docs tables."""

from __future__ import annotations

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
