"""IDX files (MNIST's format): an array, optionally gzipped, and MNIST's four-file folders."""

from __future__ import annotations

import gzip
import os

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import text

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
  """An IDX file (optionally gzipped) as an array: 0 0 dtype ndim, big-endian dims, data."""
  data = text.read_bytes(path)
  if data[:2] == b"\x1f\x8b":
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError) as e:
      raise ConfigError(f"{path}: broken gzip file ({e})") from None
  if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
    raise ConfigError(
      f"{path} is not an IDX file (starts with {data[:4].hex()}); expected "
      "e.g. train-images-idx3-ubyte.gz"
    )
  dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
  offset = 4 + 4 * ndim
  if len(data) - offset != int(np.prod(shape)) * dtype.itemsize:
    raise ConfigError(
      f"{path}: header says shape {shape} but the file holds "
      f"{len(data) - offset} bytes of data; the file is truncated or corrupt"
    )
  return np.frombuffer(data, dtype, offset=offset).reshape(shape)


def _idx_files(path: str, prefix: str) -> tuple[str, str]:
  """(images, labels) paths: in folder `path` (prefix train or t10k), or `path` is the
  images file and the labels file sits next to it (images -> labels, idx3 -> idx1)."""
  if os.path.isdir(path):
    found = {}
    for name in sorted(os.listdir(path)):
      for kind, pattern in (("images", "idx3"), ("labels", "idx1")):
        if name.startswith(f"{prefix}-{kind}") and pattern in name:
          found.setdefault(kind, os.path.join(path, name))
    if len(found) < 2:
      raise ConfigError(
        f"{path} lacks {prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]; point the path at the MNIST folder"
      )
    return found["images"], found["labels"]
  labels = os.path.join(
    os.path.dirname(path),
    os.path.basename(path).replace("images", "labels").replace("idx3", "idx1"),
  )
  if labels == path or not os.path.exists(labels):
    raise ConfigError(f"no labels file {labels} next to {path}; pass the MNIST folder instead")
  return path, labels


def read_mnist_idx(
  train_path: str, eval_path: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(x_train_NxHxW uint8, y_train_N, x_test, y_test) from the four MNIST IDX files."""
  if not os.path.exists(train_path):
    raise ConfigError(
      f"train_path {train_path} does not exist; point it at the MNIST IDX "
      "folder or train-images-idx3-ubyte.gz"
    )
  folder = train_path if os.path.isdir(train_path) else os.path.dirname(train_path)
  out = []
  for path, prefix in ((train_path, "train"), (eval_path or folder, "t10k")):
    images_path, labels_path = _idx_files(path, prefix)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
      raise ConfigError(
        f"{images_path} ({images.shape}) and {labels_path} ({labels.shape}) "
        "are not N x H x W images with N labels"
      )
    out += [images, labels.astype(np.int32)]
  return tuple(out)
