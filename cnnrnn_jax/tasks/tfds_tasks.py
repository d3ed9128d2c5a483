"""Public datasets through tensorflow-datasets (tfds).

  imdb         imdb_reviews: 25k/25k movie reviews, positive or negative (eval: test)
  sst2         glue/sst2: SST-2 sentences, positive or negative (eval: validation)
  seq_mnist    MNIST as 784 steps of 1 pixel                      (eval: test)
  row_mnist    MNIST as 28 steps of a 28-pixel row                (eval: test)
  perm_mnist   seq_mnist with one fixed seeded permutation of the pixels (the same for every
               run seed)
  shakespeare  tiny_shakespeare as character language modelling (train; eval: test)

The *_mnist tasks read the standard IDX files instead when `--config.data.train_path`
points at them (a folder holding train-/t10k- images and labels, or the train images file;
`eval_path` optionally points at the test files): no TensorFlow involved.

Which tfds path, and why. The splits are loaded ONCE with tf.data (`builder.as_dataset`,
batched, `tfds.as_numpy`) into numpy arrays; after that a task is plain numpy, and batches
come from our own seeded epoch permutations (tasks/arrays.py), so they are a pure function
of (seed, step) and a resumed run sees the same batches. TensorFlow is imported lazily, only
by these tasks, and its GPUs are hidden (`tf.config.set_visible_devices([], "GPU")`) so it
never takes accelerator memory from JAX; model and training code never import it. We do
not use the TF-free `tfds.data_source`: it needs the dataset prepared in the ArrayRecord
format, while `download_and_prepare()` writes TFRecord by default, so most prepared copies
(and a user's `~/tensorflow_datasets`) would not load; these datasets fit in memory anyway.

`--config.data.data_dir` is tfds's data_dir (default: tfds's own, ~/tensorflow_datasets).
A dataset that is not prepared there is downloaded; when that fails (no network) the task
stops with one line saying how to prepare it. `--config.data.eval_split` names the tfds
split to evaluate on. Text tasks take the text_files knobs (max_len, vocab_size, min_count,
level, lowercase, vocab_path); shakespeare takes the text_corpus knobs (seq_len, ...).
"""

from __future__ import annotations

import functools

import ml_collections
import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays, idx, text
from cnnrnn_jax.tasks.base import TaskSpec, register, rng_for

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
PERMUTATION_STREAM = 4
"""`rng_for(0, PERMUTATION_STREAM)` draws perm_mnist's (and mnist1d_shuffled's) fixed order."""


@functools.lru_cache(maxsize=1)
def _tfds():
  """tensorflow_datasets, with TensorFlow's GPUs hidden (JAX keeps the accelerators)."""
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConfigError(
      f"this task needs tensorflow-datasets and tensorflow-cpu ({e}); install "
      "them with pip install -e '.[data]'"
    ) from None
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # TF already initialised its devices elsewhere; nothing to hide now
    pass
  return tfds


def load_split(
  dataset: str, split: str, data_config: ml_collections.ConfigDict, task: str, ragged=False
) -> dict[str, np.ndarray]:
  """All examples of one tfds split as numpy arrays (bytes for text), feature by feature.

  `ragged`: the examples differ in shape (audio); each feature is then a list of arrays.
  """
  tfds = _tfds()
  data_dir = data_config.get("data_dir")
  builder = tfds.builder(dataset, data_dir=data_dir)
  if not builder.is_prepared():
    try:
      builder.download_and_prepare()
    except Exception as e:  # any failure here means: not prepared and not downloadable
      where = data_dir or "tfds's default data_dir (~/tensorflow_datasets)"
      raise ConfigError(
        f"{task}: {dataset} is not prepared in {where} and downloading it failed "
        f'({type(e).__name__}); prepare it on a connected machine with python -c "import '
        f"tensorflow_datasets as tfds; tfds.builder('{dataset}').download_and_prepare()\" and "
        "copy the data_dir here, or point --config.data.data_dir at prepared data"
      ) from None
  try:
    dataset_tf = builder.as_dataset(split=split, shuffle_files=False)
  except (ValueError, KeyError) as e:
    raise ConfigError(
      f"{task}: cannot read split {split!r} of {dataset} ({e}); set "
      "--config.data.eval_split to one of its splits"
    ) from None
  if ragged:
    examples = list(tfds.as_numpy(dataset_tf))
    return {key: [e[key] for e in examples] for key in (examples[0] if examples else {})}
  chunks = list(tfds.as_numpy(dataset_tf.batch(4096)))
  return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def _label_names(dataset: str, data_config) -> list[str]:
  return list(
    _tfds().builder(dataset, data_dir=data_config.get("data_dir")).info.features["label"].names
  )


def _text_task(
  name: str,
  dataset: str,
  text_key: str,
  default_eval: str,
  data_config,
  seed: int,
  clean=lambda s: s,
) -> text.TextClassifyTask:
  names = _label_names(dataset, data_config)
  splits = {}
  for part, split in (("train", "train"), ("eval", data_config.get("eval_split") or default_eval)):
    raw = load_split(dataset, split, data_config, name)
    splits[part] = [
      (clean(t.decode("utf-8")), names[int(y)], f"{dataset}:{split}[{i}]")
      for i, (t, y) in enumerate(zip(raw[text_key], raw["label"]))
      if 0 <= int(y) < len(names)
    ]  # unlabelled rows (-1) are not examples
  return text.TextClassifyTask(name, data_config, seed, splits["train"], splits["eval"], names)


@register("imdb")
def _imdb(data_config, seed: int):
  return _text_task(
    "imdb",
    "imdb_reviews",
    "text",
    "test",
    data_config,
    seed,
    clean=lambda s: s.replace("<br />", " "),
  )


@register("sst2")
def _sst2(data_config, seed: int):
  return _text_task("sst2", "glue/sst2", "sentence", "validation", data_config, seed)


@register("shakespeare")
def _shakespeare(data_config, seed: int):
  parts = [
    load_split("tiny_shakespeare", split, data_config, "shakespeare")["text"]
    for split in ("train", data_config.get("eval_split") or "test")
  ]
  train_text, eval_text = ("".join(t.decode("utf-8") for t in part) for part in parts)
  return text.CorpusTask(
    "shakespeare",
    data_config,
    seed,
    text.normalize_newlines(train_text),
    text.normalize_newlines(eval_text),
  )


def mnist_arrays(
  data_config: ml_collections.ConfigDict, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(x_train_NxHxW uint8, y_train, x_eval, y_eval): IDX files when train_path is set,
  else tfds mnist (eval split: test)."""
  if data_config.get("train_path"):
    return idx.read_mnist_idx(data_config.train_path, data_config.get("eval_path"))
  out = []
  for split in ("train", data_config.get("eval_split") or "test"):
    raw = load_split("mnist", split, data_config, task)
    out += [raw["image"][..., 0], raw["label"].astype(np.int32)]
  return tuple(out)


def _mnist_task(name: str, as_sequence):
  """Registers an MNIST task whose images (N x 28 x 28) become N x L x C by `as_sequence`."""

  def factory(data_config, seed: int):
    x_train, y_train, x_eval, y_eval = mnist_arrays(data_config, name)
    n_eval = arrays.cap_eval(len(x_eval), data_config.get("eval_size"), name)

    def prepare(images):
      return as_sequence((images.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD)

    x_train, x_eval = prepare(x_train), prepare(x_eval[:n_eval])
    spec = TaskSpec(
      kind="classify", num_outputs=10, seq_len=x_train.shape[1], input_dim=x_train.shape[2]
    )
    return arrays.DenseTask(spec, seed, x_train, y_train, x_eval, y_eval[:n_eval])

  register(name)(factory)


def fixed_permutation(n: int) -> np.ndarray:
  """The one permutation of n pixels every permuted-MNIST run uses (seed-independent)."""
  return rng_for(0, PERMUTATION_STREAM).permutation(n)


_mnist_task("seq_mnist", lambda x: x.reshape(len(x), -1, 1))
_mnist_task("row_mnist", lambda x: x)
_mnist_task(
  "perm_mnist",
  lambda x: x.reshape(len(x), -1)[:, fixed_permutation(x.shape[1] * x.shape[2])][..., None],
)
