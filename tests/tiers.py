"""The fast tier: which cells of a parametrized grid run without `-m slow`."""

import pytest


def fast_tier(cells, fast):
  """pytest params for `cells` (tuples of arguments), every cell not in `fast` marked slow."""
  return [pytest.param(*cell, marks=() if cell in fast else pytest.mark.slow) for cell in cells]
