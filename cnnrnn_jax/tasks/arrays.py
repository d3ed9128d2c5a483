"""In-memory datasets as tasks: the plumbing every real-data task shares.

Shape key: N examples, B batch, L length, C channels, T tokens in a stream.

  DenseTask     fixed-length examples (x_NxLxC floats, one class or real target each):
                MNIST variants, MNIST-1D, forecasting windows
  TokenTask     variable-length token id sequences with one class each, padded to the
                smallest of a few length buckets (text classification)
  StreamLMTask  one long token stream cut into windows: next-token prediction

Training batches are a pure function of (seed, step): epoch e visits the training examples
in the e-th seeded permutation (`rng_for(seed, TRAIN_STREAM, e)`), and step s takes
positions s*B .. s*B+B-1 of the concatenated epochs (so a batch may straddle two epochs;
nothing is dropped). Eval batches walk the fixed eval set and pad the last one with
weight-0 rows (`base.pad_rows`).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Iterator, Sequence

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.tasks.base import TRAIN_STREAM, Batch, Task, TaskSpec, pad_rows, rng_for

HOLDOUT_STREAM = 2
"""`rng_for(0, HOLDOUT_STREAM)` picks held-out examples: the same ones for every run seed."""


@functools.lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
  order = rng_for(seed, TRAIN_STREAM, epoch).permutation(n)
  order.flags.writeable = False
  return order


def epoch_rows(seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
  """Rows of training batch `step`: positions step*B.. of the seeded epoch permutations."""
  positions_B = step * batch_size + np.arange(batch_size)
  epochs_B = positions_B // n
  rows_B = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs_B):
    here = epochs_B == epoch
    rows_B[here] = _epoch_order(seed, int(epoch), n)[positions_B[here] % n]
  return rows_B


def holdout_split(n: int, fraction: float, what: str) -> tuple[np.ndarray, np.ndarray]:
  """(train_rows, eval_rows): a seeded `fraction` of range(n) held out, both sorted."""
  if not 0.0 < fraction < 1.0:
    raise ConfigError(
      f"{what}: eval_fraction={fraction} must be in (0, 1); set "
      "--config.data.eval_fraction or give --config.data.eval_path"
    )
  n_eval = int(round(n * fraction))
  if n_eval < 1 or n_eval >= n:
    raise ConfigError(
      f"{what}: eval_fraction={fraction} of {n} examples leaves an empty "
      "train or eval part; give --config.data.eval_path or more data"
    )
  order = rng_for(0, HOLDOUT_STREAM).permutation(n)
  return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def cap_eval(n: int, eval_size: int | None, what: str) -> int:
  """How many eval examples to use: all of them, or the first `eval_size`."""
  if eval_size is None:
    return n
  if isinstance(eval_size, bool) or not isinstance(eval_size, (int, np.integer)) or eval_size < 1:
    raise ConfigError(
      f"{what}: eval_size={eval_size!r} must be a positive integer (or None "
      "for the whole eval split); set --config.data.eval_size"
    )
  return min(n, int(eval_size))


class ExampleTask(Task):
  """A task over N_train training and N_eval eval examples that `collate` turns into rows."""

  def __init__(self, spec: TaskSpec, seed: int, num_train: int, num_eval: int):
    if num_train < 1 or num_eval < 1:
      raise ConfigError(
        f"{type(self).__name__} got {num_train} training and {num_eval} eval "
        "examples; both must be >= 1"
      )
    self.spec = spec
    self.seed = seed
    self.num_train = num_train
    self.num_eval = num_eval

  @abc.abstractmethod
  def collate(self, split: str, rows: np.ndarray) -> Batch:
    """A batch of exactly the examples `rows` of `split` ('train' or 'eval')."""

  def train_batch(self, step: int, batch_size: int) -> Batch:
    return self.collate("train", epoch_rows(self.seed, step, batch_size, self.num_train))

  def eval_order(self) -> np.ndarray:
    return np.arange(self.num_eval)

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    order = self.eval_order()
    for start in range(0, self.num_eval, batch_size):
      yield pad_rows(self.collate("eval", order[start : start + batch_size]), batch_size)


class DenseTask(ExampleTask):
  """Fixed-length float examples x_NxLxC with integer (classify) or real (regress) targets."""

  def __init__(
    self,
    spec: TaskSpec,
    seed: int,
    x_train_NxLxC: np.ndarray,
    y_train_N: np.ndarray,
    x_eval_NxLxC: np.ndarray,
    y_eval_N: np.ndarray,
  ):
    super().__init__(spec, seed, len(x_train_NxLxC), len(x_eval_NxLxC))
    target_dtype = np.float32 if spec.kind == "regress" else np.int32
    self.x = {"train": x_train_NxLxC.astype(np.float32), "eval": x_eval_NxLxC.astype(np.float32)}
    self.y = {"train": y_train_N.astype(target_dtype), "eval": y_eval_N.astype(target_dtype)}

  def collate(self, split: str, rows: np.ndarray) -> Batch:
    x_BxLxC = self.x[split][rows]
    return {
      "inputs": x_BxLxC,
      "lengths": np.full(len(rows), x_BxLxC.shape[1], np.int32),
      "targets": self.y[split][rows],
      "weights": np.ones(len(rows), np.float32),
    }


class TokenTask(ExampleTask):
  """Token id sequences (1 <= length <= the longest bucket) with one class each.

  A batch is padded to the smallest bucket that holds its longest row, so a step compiles
  once per bucket. The eval set is visited shortest first (sums do not care about order and
  short batches get short buckets).
  """

  def __init__(
    self,
    spec: TaskSpec,
    seed: int,
    train: tuple[Sequence[np.ndarray], np.ndarray],
    evaluation: tuple[Sequence[np.ndarray], np.ndarray],
    buckets: Sequence[int],
  ):
    super().__init__(spec, seed, len(train[0]), len(evaluation[0]))
    self.buckets = np.asarray(sorted(buckets))
    self.ids = {"train": list(train[0]), "eval": list(evaluation[0])}
    self.labels = {
      "train": np.asarray(train[1], np.int32),
      "eval": np.asarray(evaluation[1], np.int32),
    }
    self.lengths = {
      split: np.array([len(x) for x in ids], np.int32) for split, ids in self.ids.items()
    }
    for split, lengths in self.lengths.items():
      if lengths.min() < 1 or lengths.max() > self.buckets[-1]:
        raise ValueError(f"{split} lengths must be in [1, {self.buckets[-1]}]")

  def eval_order(self) -> np.ndarray:
    return np.argsort(self.lengths["eval"], kind="stable")

  def collate(self, split: str, rows: np.ndarray) -> Batch:
    lengths_B = self.lengths[split][rows]
    width = int(self.buckets[np.searchsorted(self.buckets, lengths_B.max())])
    ids_BxL = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
      ids_BxL[i, : lengths_B[i]] = self.ids[split][row]
    return {
      "inputs": ids_BxL,
      "lengths": lengths_B,
      "targets": self.labels[split][rows],
      "weights": np.ones(len(rows), np.float32),
    }


class StreamLMTask(Task):
  """Next-token prediction on one token stream per split.

  Train: B windows of seq_len + 1 tokens at seeded random offsets (rng_for(seed,
  TRAIN_STREAM, step)); inputs are the first seq_len, targets the last seq_len. Eval: the
  eval stream cut into consecutive windows (every token after the first is predicted once,
  each window starting without context); the last window is shorter and padded with weight 0.
  """

  def __init__(
    self,
    spec: TaskSpec,
    seed: int,
    train_ids_T: np.ndarray,
    eval_ids_T: np.ndarray,
    eval_size: int | None = None,
    what: str = "lm",
  ):
    seq_len = spec.seq_len
    if len(train_ids_T) < seq_len + 2:
      raise ConfigError(
        f"{what}: the training text has {len(train_ids_T)} tokens, fewer than "
        f"seq_len + 2 = {seq_len + 2}; lower --config.data.seq_len"
      )
    if len(eval_ids_T) < 2:
      raise ConfigError(
        f"{what}: the eval text has {len(eval_ids_T)} tokens; it needs >= 2 "
        "(raise --config.data.eval_fraction or give a longer eval file)"
      )
    self.spec, self.seed = spec, seed
    self.train_ids_T = np.asarray(train_ids_T, np.int32)
    self.eval_ids_T = np.asarray(eval_ids_T, np.int32)
    num_windows = -(-(len(eval_ids_T) - 1) // seq_len)
    self.num_eval_windows = cap_eval(num_windows, eval_size, what)

  def train_batch(self, step: int, batch_size: int) -> Batch:
    seq_len = self.spec.seq_len
    rng = rng_for(self.seed, TRAIN_STREAM, step)
    starts_B = rng.integers(0, len(self.train_ids_T) - seq_len, batch_size)
    windows_BxL1 = self.train_ids_T[starts_B[:, None] + np.arange(seq_len + 1)]
    return {
      "inputs": windows_BxL1[:, :-1],
      "lengths": np.full(batch_size, seq_len, np.int32),
      "targets": windows_BxL1[:, 1:],
      "weights": np.ones((batch_size, seq_len), np.float32),
    }

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    seq_len, stream = self.spec.seq_len, self.eval_ids_T
    for first in range(0, self.num_eval_windows, batch_size):
      windows = range(first, min(first + batch_size, self.num_eval_windows))
      inputs_BxL = np.zeros((len(windows), seq_len), np.int32)
      targets_BxL = np.zeros((len(windows), seq_len), np.int32)
      lengths_B = np.zeros(len(windows), np.int32)
      for i, w in enumerate(windows):
        piece = stream[w * seq_len : (w + 1) * seq_len + 1]
        lengths_B[i] = len(piece) - 1
        inputs_BxL[i, : lengths_B[i]] = piece[:-1]
        targets_BxL[i, : lengths_B[i]] = piece[1:]
      weights_BxL = mask_BxL(lengths_B, seq_len, np).astype(np.float32)
      yield pad_rows(
        {
          "inputs": inputs_BxL,
          "lengths": lengths_B,
          "targets": targets_BxL,
          "weights": weights_BxL,
        },
        batch_size,
      )
