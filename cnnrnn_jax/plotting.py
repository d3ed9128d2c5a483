"""Matplotlib helpers shared by the report, the pictures and the benchmark plots.

Figures are built with matplotlib's object API (`Figure`, not `pyplot`), so nothing here
touches a global figure manager or needs a display: safe in worker processes and on servers.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


def figure(width: float, height: float, dpi: int = 100) -> Figure:
  """An empty figure with constrained layout."""
  return Figure(figsize=(width, height), layout="constrained", dpi=dpi)


def row_of_axes(ncols: int, width: float = 5.0, height: float = 3.8):
  """(figure, list of `ncols` axes side by side), each `width` inches wide."""
  fig = figure(width * ncols, height)
  axes = fig.subplots(1, ncols, squeeze=False)
  return fig, list(axes[0])


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
  """The figure as PNG bytes (tight bounding box)."""
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
  return buf.getvalue()


def model_style(model: str, models: list[str]) -> dict:
  """Line style of one model, the same colour for it in every plot of one report."""
  import matplotlib as mpl  # pylint: disable=g-import-not-at-top

  colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
  return {"color": colors[models.index(model) % len(colors)], "marker": "o", "markersize": 3}
