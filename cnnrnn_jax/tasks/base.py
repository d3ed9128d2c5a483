"""What a task is: fixed-shape numpy batches, a head kind and a metric.

Shape key: B batch, L length, C input channels, K classes.

A batch is a dict of numpy arrays:
  inputs   int32 B x L (token ids, 0 = PAD)  or  float32 B x L x C (continuous)
  lengths  int32 B      valid steps of each row; positions >= length are padding
  targets  int32 B (classify) | float32 B or B x O (regress) | int32 B x L (per_step, lm)
           | int32 B x T (seq2seq: the target sequence, EOS-terminated)
           | int32 B x S (ctc: the label sequence, classes 1..K-1, 0 past its end)
  weights  float32 B or B x L: 1 for what counts in loss/metric, 0 for padding
           (padded eval rows, positions past the length, steps without a target)
  decoder_inputs  seq2seq only: int32 B x T, the targets shifted right behind BOS (teacher
           forcing); models are called as model(inputs, lengths, decoder_inputs)

Tasks are deterministic: `train_batch(step, batch_size)` depends only on the task's
seed and `step` (so a resumed run sees exactly the batches an uninterrupted run saw),
and `eval_batches(batch_size)` is a fixed, finite list.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import ml_collections
import numpy as np

from cnnrnn_jax import plugins
from cnnrnn_jax.errors import ConfigError  # noqa: F401  (re-exported for old imports)

Batch = dict[str, np.ndarray]

KINDS = ("classify", "regress", "per_step", "lm", "seq2seq", "ctc")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """Everything a model and the trainer need to know about a task.

  kind: 'classify' (one label per sequence), 'regress' (one real number per sequence),
    'per_step' (a label at each step, weights mark the scored steps), 'lm'
    (next-token prediction: the model must be causal), 'seq2seq' (a target sequence per
    source sequence: an encoder-decoder with a causal decoder, tasks/seq2seq.py) or 'ctc'
    (a label sequence shorter than the input, unaligned: per-frame logits with class 0 the
    blank, scored by CTC; metrics.py).
  vocab_size: number of token ids including PAD=0, or None for continuous inputs.
  input_dim: channels of continuous inputs (None for tokens).
  num_outputs: classes (classify, per_step, lm) or 1 (regress).
  seq_len: the longest L a batch can have (buckets may be shorter).
  metric: name of the headline metric ('accuracy', 'mse', 'bits_per_char', ...).
  baseline: an optional reference value of `loss` that a memoryless/trivial
    predictor reaches (e.g. copy memory's 10 ln 8 / (T + 20)); reported next to it.
  horizon: forecasting tasks only: the steps ahead each target channel is predicted for
    (num_outputs = horizon x target channels, laid out step-major); None elsewhere.
  frame_shape: (H, W) when each step is a flattened H x W frame of a clip (video tasks,
    input_dim = H * W); frame encoders and cnn3d fold the steps back into frames.
  target_len: seq2seq only: the longest target a batch can hold (EOS included), which is
    also how many steps decoding may take; num_outputs is then the target vocabulary.
  """

  kind: str
  num_outputs: int
  seq_len: int
  vocab_size: int | None = None
  input_dim: int | None = None
  metric: str = "accuracy"
  baseline: float | None = None
  horizon: int | None = None
  frame_shape: tuple[int, int] | None = None
  target_len: int | None = None

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"task kind {self.kind!r} is not one of {KINDS}")
    if (self.vocab_size is None) == (self.input_dim is None):
      raise ValueError("a TaskSpec needs exactly one of vocab_size (tokens) or input_dim")
    if (self.kind == "seq2seq") != (self.target_len is not None):
      raise ValueError("a TaskSpec has target_len exactly when its kind is seq2seq")
    if self.frame_shape is not None and self.frame_shape[0] * self.frame_shape[1] != self.input_dim:
      raise ValueError(f"frame_shape {self.frame_shape} does not hold input_dim {self.input_dim}")

  @property
  def per_step(self) -> bool:
    """True when the model answers at every step (per_step, lm and ctc tasks)."""
    return self.kind in ("per_step", "lm", "ctc")


def model_args(batch: Batch) -> tuple[Any, ...]:
  """What a model is called with: (inputs, lengths), and decoder_inputs for seq2seq batches."""
  args = (batch["inputs"], batch["lengths"])
  return args + ((batch["decoder_inputs"],) if "decoder_inputs" in batch else ())


class Task(abc.ABC):
  """A source of deterministic fixed-shape batches; see the module docstring."""

  spec: TaskSpec

  @abc.abstractmethod
  def train_batch(self, step: int, batch_size: int) -> Batch:
    """The training batch for `step` (a pure function of the task seed and step)."""

  @abc.abstractmethod
  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    """The fixed evaluation set, in batches of exactly `batch_size` rows.

    The last batch is padded with weight-0 rows, so every batch has one shape.
    """

  def save_assets(self, workdir: str) -> None:
    """Writes what evaluation and later runs need besides the parameters (a tokenizer's
    vocab.json, forecast baselines.json) into the run's workdir.

    Tasks are built as `factory(data_config, seed)` with no workdir; the trainer calls this
    once the workdir exists. A later run reuses a saved vocabulary with
    `--config.data.vocab_path=WORKDIR/vocab.json`. Default: nothing to save.
    """
    del workdir


_REGISTRY: dict[str, Callable[..., Task]] = {}


def register(
  name: str, defaults: dict[str, Any] | None = None
) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
  """Class/function decorator: `@register('order')` makes a task buildable by name.

  The registered callable is called as `factory(data_config, seed)` where
  `data_config` is the `config.data` ConfigDict (task knobs) and `seed` the run seed.
  `defaults` are the task's own knobs, added to `config.data` of every config
  (`--config.data.<field>=...`); their names must be new.
  """

  def deco(factory):
    if name in _REGISTRY:
      raise ValueError(f"task {name!r} is registered twice")
    plugins.add_settings("data", name, defaults)
    _REGISTRY[name] = factory
    return factory

  return deco


def names() -> list[str]:
  """The registered task names, sorted."""
  return sorted(_REGISTRY)


def build(name: str, data_config: ml_collections.ConfigDict, seed: int) -> Task:
  """The registered task `name`, built from `config.data` and the run seed."""
  if name not in _REGISTRY:
    raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
  return _REGISTRY[name](plugins.with_settings(data_config, "data", name), seed)


def pad_rows(batch: Batch, batch_size: int) -> Batch:
  """Pads a batch with fewer rows up to `batch_size` rows of weight 0."""
  n = len(batch["lengths"])
  if n == batch_size:
    return batch
  out = {}
  for key, value in batch.items():
    pad = np.zeros((batch_size - n,) + value.shape[1:], value.dtype)
    if key == "lengths":
      pad[:] = 1  # a harmless length for rows that count for nothing
    out[key] = np.concatenate([value, pad])
  return out


def split_into_batches(examples: Batch, batch_size: int) -> Iterator[Batch]:
  """Cuts a dict of equal-length arrays into padded batches of `batch_size` rows."""
  n = len(examples["lengths"])
  for start in range(0, n, batch_size):
    yield pad_rows({k: v[start : start + batch_size] for k, v in examples.items()}, batch_size)


def rng_for(seed: int, *key: int) -> np.random.Generator:
  """An independent numpy stream per (seed, key...): ('train', step) and 'eval' never collide."""
  return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


TRAIN_STREAM, EVAL_STREAM = 0, 1


# ---------------------------------------------------------------------------------------------
# Generated tasks: every batch drawn by numpy from (seed, stream, step), configured by KNOBS


KNOBS = ("seq_len", "distance", "vocab_size", "eval_size")  # what a generated task reads
DEFAULT_EVAL_SIZE = 1024


def register_generated(name: str, defaults: dict[str, Any] | None = None) -> Callable[[type], type]:
  """Registers a GeneratedTask class as `factory(data_config, seed)`: the class is built as
  `cls(seed, **knobs)` with KNOBS and the task's own `defaults` (e.g. {"depth": 4}, also
  added to `config.data`) read from `config.data`."""
  keys = KNOBS + tuple(defaults or {})

  def deco(cls):
    def factory(data_config, seed: int) -> Task:
      return cls(seed, **{knob: data_config.get(knob) for knob in keys})

    register(name, defaults)(factory)
    cls.name = name
    return cls

  return deco


def default_if_none(value: Any, default: Any) -> Any:
  """`value`, or `default` when it is None (0, '' and False are values, not "unset")."""
  return default if value is None else value


def check_int(task: str, knob: str, value: Any, default: int | None, minimum: int) -> int | None:
  """`value`, or `default` when it is None; a ConfigError unless it is an integer >= minimum."""
  if value is None:
    return default
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ConfigError(
      f"{task}: {knob}={value!r} must be an integer >= {minimum}; "
      f"set --config.data.{knob} to one (or leave it None for the default)"
    )
  return int(value)


class GeneratedTask(Task):
  """A task drawn by `generate`: train batches from (seed, step), a cached eval set of
  `eval_size` rows (synthetic.py, long_memory.py)."""

  name: str

  def __init__(self, spec: TaskSpec, seed: int, eval_size: int | None):
    self.spec = spec
    self.seed = seed
    self.eval_size = check_int(self.name, "eval_size", eval_size, DEFAULT_EVAL_SIZE, 1)
    self._eval: Batch | None = None

  @abc.abstractmethod
  def generate(self, rng: np.random.Generator, n: int) -> Batch:
    """`n` fresh examples drawn from `rng`, as one batch with weight 1 everywhere it counts."""

  def train_batch(self, step: int, batch_size: int) -> Batch:
    return self.generate(rng_for(self.seed, TRAIN_STREAM, step), batch_size)

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    if self._eval is None:
      self._eval = self.generate(rng_for(self.seed, EVAL_STREAM), self.eval_size)
      for array in self._eval.values():
        array.flags.writeable = False  # batches are views of the cache: keep it intact
    return split_into_batches(self._eval, batch_size)
