"""The long-memory benchmarks of Bai et al. 2018: the adding problem and copy memory.

  adding       sum of two marked reals, Hochreiter & Schmidhuber 1997 / Bai et al. 2018
  copy_memory  recall 10 digits after a long blank gap, Bai et al. 2018  (long memory)

Shape key: B batch, L length (seq_len), T the paper's sequence length or gap.

Generated like the folklore tasks of synthetic.py (the same KNOBS, `rng_for` streams and
cached eval set: tasks/base.py `GeneratedTask`); configs/bai2018.py maps the paper's T onto
`seq_len` and `distance`.
"""

from __future__ import annotations

import math

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import Batch, GeneratedTask, TaskSpec, check_int, register_generated

# ---------------------------------------------------------------------------------------------
# adding problem


def adding_target(inputs_Tx2: np.ndarray) -> float:
  """The sum of the values (channel 0) at the two marked steps (channel 1 == 1)."""
  return float(np.sum(inputs_Tx2[:, 0] * inputs_Tx2[:, 1]))


@register_generated("adding")
class AddingTask(GeneratedTask):
  """The adding problem (Hochreiter & Schmidhuber 1997; Bai et al. 2018 setup).

  inputs float32 B x T x 2 (T = seq_len, default 100): channel 0 uniform in [0, 1], channel 1
  exactly two 1s, one in the first half [0, T//2) and one in the second half [T//2, T).
  target = the sum of the two marked values (= adding_target). lengths are all T. The metric is
  MSE; baseline 1/6: always predicting 1 (the mean of a sum of two U(0, 1)) has MSE equal to the
  sum's variance, 2 * 1/12. `distance` and `vocab_size` are not used.
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    del distance, vocab_size  # the dependency spans the sequence; inputs are continuous
    seq_len = check_int("adding", "seq_len", seq_len, 100, 2)
    super().__init__(
      TaskSpec(
        kind="regress", num_outputs=1, seq_len=seq_len, input_dim=2, metric="mse", baseline=1 / 6
      ),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len = self.spec.seq_len
    rows_B = np.arange(n)
    values_BxL = rng.random((n, seq_len), np.float32)
    first_B = rng.integers(0, seq_len // 2, n)
    second_B = rng.integers(seq_len // 2, seq_len, n)
    markers_BxL = np.zeros((n, seq_len), np.float32)
    markers_BxL[rows_B, first_B] = 1
    markers_BxL[rows_B, second_B] = 1
    return {
      "inputs": np.stack([values_BxL, markers_BxL], axis=-1),
      "lengths": np.full(n, seq_len, np.int32),
      "targets": values_BxL[rows_B, first_B] + values_BxL[rows_B, second_B],
      "weights": np.ones(n, np.float32),
    }


# ---------------------------------------------------------------------------------------------
# copy memory

COPY_DIGITS, COPY_RECALL = 8, 10  # symbols 1..8, 10 of them to remember
COPY_BLANK, COPY_DELIMITER = 1, 10  # input ids: blank 1, digits 2..9, delimiter 10 (0 = PAD)


def copy_memory_baseline(gap: int) -> float:
  """Mean cross-entropy of the memoryless predictor: certain 'blank' for the first gap + 10
  steps (loss 0), uniform over the 8 digits for the last 10 (ln 8 each), over gap + 20 steps."""
  return COPY_RECALL * math.log(COPY_DIGITS) / (gap + 2 * COPY_RECALL)


@register_generated("copy_memory")
class CopyMemoryTask(GeneratedTask):
  """Copy memory (Bai et al. 2018): recall 10 digits after a blank gap of T = distance steps.

  Bai's sequence [10 digits in 1..8] + [0] * (T-1) + [9] + [0] * 10 of length L = T + 20, with
  input ids shifted by +1 since our 0 is PAD: blank 1, digits 2..9, delimiter 10
  (spec.vocab_size 11). targets int32 B x L are classes 0..8 (0 blank, 1..8 digits; the delimiter
  is never a target, so num_outputs 9): 0 for the first T + 10 steps, then the 10 digits.
  weights are 1 at every step (the loss is over all L steps, as in Bai). baseline =
  copy_memory_baseline(T) = 10 ln 8 / (T + 20). distance defaults to 100; seq_len, if given,
  must be distance + 20 (with distance unset, it sets T = seq_len - 20). `vocab_size` is not
  used.
  """

  def __init__(
    self,
    seed: int,
    seq_len: int | None = None,
    distance: int | None = None,
    vocab_size: int | None = None,
    eval_size: int | None = None,
  ):
    del vocab_size  # Bai's task fixes 8 digit symbols
    extra = 2 * COPY_RECALL
    seq_len = check_int("copy_memory", "seq_len", seq_len, None, extra + 1)
    default_gap = 100 if seq_len is None else seq_len - extra
    self.gap = check_int("copy_memory", "distance", distance, default_gap, 1)
    if seq_len is not None and seq_len != self.gap + extra:
      raise ConfigError(
        f"copy_memory: seq_len={seq_len} must be distance + 20 = "
        f"{self.gap + extra}; leave --config.data.seq_len unset or set it to "
        f"{self.gap + extra}"
      )
    super().__init__(
      TaskSpec(
        kind="per_step",
        num_outputs=COPY_DIGITS + 1,
        seq_len=self.gap + extra,
        vocab_size=COPY_DELIMITER + 1,
        baseline=copy_memory_baseline(self.gap),
      ),
      seed,
      eval_size,
    )

  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    seq_len = self.spec.seq_len
    digits_Bx10 = rng.integers(1, COPY_DIGITS + 1, (n, COPY_RECALL))
    inputs_BxL = np.full((n, seq_len), COPY_BLANK, np.int32)
    inputs_BxL[:, :COPY_RECALL] = digits_Bx10 + COPY_BLANK
    inputs_BxL[:, seq_len - COPY_RECALL - 1] = COPY_DELIMITER
    targets_BxL = np.zeros((n, seq_len), np.int32)
    targets_BxL[:, seq_len - COPY_RECALL :] = digits_Bx10
    return {
      "inputs": inputs_BxL,
      "lengths": np.full(n, seq_len, np.int32),
      "targets": targets_BxL,
      "weights": np.ones((n, seq_len), np.float32),
    }
