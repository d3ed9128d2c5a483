"""MNIST-1D (Greydanus 2020): 10 classes of 40-step 1-D signals, generated offline.

  mnist1d           4000 train / 1000 test sequences of 40 steps x 1 channel
  mnist1d_shuffled  the same with one fixed permutation of the 40 positions (the same for
                    every run seed): local structure is gone, the label is still there

The data comes from the `mnist1d` package's `make_dataset(get_dataset_args())` (defaults:
5000 samples, 80/20 split, seed 42): it is generated, never downloaded (we do not call its
`get_dataset`, whose default fetches a pickle from the internet). It matches the frozen
`mnist1d_data.pkl` of the paper to ~1e-16. `make_dataset` seeds NumPy's global RNG; we
generate once per process. Published test accuracies (paper, Table 1): CNN 94%, GRU 91%,
MLP 68%; shuffled: CNN 56%, GRU 57%. `eval_size` caps the test examples.
"""

from __future__ import annotations

import functools

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import arrays
from cnnrnn_jax.tasks.base import TaskSpec, register
from cnnrnn_jax.tasks.tfds_tasks import fixed_permutation


@functools.lru_cache(maxsize=1)
def generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(x_train 4000x40, y_train, x_test 1000x40, y_test) from the package's default args."""
  try:
    from mnist1d.data import get_dataset_args, make_dataset  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConfigError(
      f"mnist1d tasks need the mnist1d package ({e}); pip install mnist1d"
    ) from None
  data = make_dataset(get_dataset_args())
  out = (data["x"], data["y"], data["x_test"], data["y_test"])
  for array in out:
    array.flags.writeable = False
  return out


def _task(name: str, shuffled: bool):
  def factory(data_config, seed: int):
    x_train, y_train, x_test, y_test = generate()
    if shuffled:
      order = fixed_permutation(x_train.shape[1])
      x_train, x_test = x_train[:, order], x_test[:, order]
    n_eval = arrays.cap_eval(len(x_test), data_config.get("eval_size"), name)
    spec = TaskSpec(kind="classify", num_outputs=10, seq_len=x_train.shape[1], input_dim=1)
    return arrays.DenseTask(
      spec, seed, x_train[..., None], y_train, x_test[:n_eval, :, None], y_test[:n_eval]
    )

  register(name)(factory)


_task("mnist1d", shuffled=False)
_task("mnist1d_shuffled", shuffled=True)
