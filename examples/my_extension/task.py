"""`parens`: is a sequence of brackets balanced? A cnnrnn_jax task with a setting of its own.

Shape key: B batch, L length.

Tokens: 0 PAD, 1 '(', 2 ')'. Every example holds as many '(' as ')' (L/2 each), so no count
answers it: a balanced example never closes more brackets than it opened, at any prefix,
and never nests deeper than `parens_max_depth`; an unbalanced one is a balanced one with one
'(' and one later ')' swapped where that drives a prefix below zero. Label 1 = balanced.
"""

from __future__ import annotations

import numpy as np

from cnnrnn_jax import tasks

OPEN, CLOSE = 1, 2


def balanced(rng: np.random.Generator, length: int, max_depth: int) -> np.ndarray:
  """A random balanced bracket sequence of even `length`, nesting at most `max_depth`."""
  out, depth = np.empty(length, np.int32), 0
  for t in range(length):
    left = length - t
    if depth == 0 or (depth < max_depth and depth < left and rng.random() < 0.5):
      out[t], depth = OPEN, depth + 1
    else:
      out[t], depth = CLOSE, depth - 1
  return out


def is_balanced(seq: np.ndarray) -> bool:
  """Every prefix opens at least as many brackets as it closes, and the whole closes all."""
  depth = np.cumsum(np.where(seq == OPEN, 1, -1))
  return bool(depth.min() >= 0 and depth[-1] == 0)


def unbalance(rng: np.random.Generator, seq: np.ndarray) -> np.ndarray:
  """`seq` with one '(' and one later ')' swapped so that some prefix goes below zero."""
  while True:
    i = rng.choice(np.flatnonzero(seq == OPEN))
    later = np.flatnonzero((seq == CLOSE) & (np.arange(len(seq)) > i))
    if len(later):
      out = seq.copy()
      j = rng.choice(later)
      out[i], out[j] = CLOSE, OPEN
      if not is_balanced(out):
        return out


@tasks.register_generated("parens", defaults={"parens_max_depth": 4})
class Parens(tasks.GeneratedTask):
  """Balanced or not, at sequence length seq_len (even; default 32)."""

  def __init__(self, seed, seq_len, distance, vocab_size, eval_size, parens_max_depth):
    del distance, vocab_size  # the shared knobs this task does not read
    length = tasks.check_int("parens", "seq_len", seq_len, 32, 2)
    if length % 2:
      raise tasks.ConfigError(f"parens: seq_len={length} must be even; set --config.data.seq_len")
    self.max_depth = tasks.check_int("parens", "parens_max_depth", parens_max_depth, 4, 1)
    super().__init__(tasks.TaskSpec("classify", 2, length, vocab_size=3), seed, eval_size)

  def generate(self, rng: np.random.Generator, n: int) -> tasks.Batch:
    L = self.spec.seq_len
    inputs_BxL = np.stack([balanced(rng, L, self.max_depth) for _ in range(n)])
    targets_B = rng.integers(0, 2, n).astype(np.int32)
    for row in np.flatnonzero(targets_B == 0):
      inputs_BxL[row] = unbalance(rng, inputs_BxL[row])
    return {
      "inputs": inputs_BxL,
      "lengths": np.full(n, L, np.int32),
      "targets": targets_B,
      "weights": np.ones(n, np.float32),
    }
