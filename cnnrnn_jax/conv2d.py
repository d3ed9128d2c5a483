"""PARALLEL in 2-D and 3-D: the convolution of conv.py over images (H x W) and clips (T x H x W).

Shape key: H height, W width, T time (frames), C input channels, F filters, K kernel taps
(all of a window's positions, K = K1 * K2 [* K3]), N output positions, S spatial dims.

Exactly the story of `conv.conv1d`, with a grid of output positions instead of a line:
every output pixel is the same small matmul of one window with the kernel, so the didactic
core `convnd_vmap` is `jax.vmap` over the flattened output positions, `at_position(index)`
cutting its window with `lax.dynamic_slice`. `convnd_vmap_shifted` cuts the same windows
by K static shifts of the whole input (whose gradient is a pad, not a scatter-add), and
`convnd_xla` hands the job to `lax.conv_general_dilated`. The three are tested equal,
forward and backward, and `experiments/benchmark.py` times them (suite `conv2d`).

A stride per spatial dim (`strides`, default 1) keeps every s-th output position, the
positions `lax.conv_general_dilated` computes with `window_strides`: ceil(n / s) outputs
with 'same' padding (the speech CRNN strides in time and frequency).

One image or clip per call (the core sees x_HxWxC or x_TxHxWxC); `ConvND` vmaps over the
batch at the boundary. `max_pool2d` halves height and width (2 x 2 windows, stride 2).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax.conv import output_length, pad_amounts

PADDINGS = ("valid", "same")
IMPLS = ("vmap", "vmap_shifted", "xla")


def _padded(x_SxC: jax.Array, kernel_shape: Sequence[int], padding: str) -> jax.Array:
  """x with the zeros `padding` adds on both sides of every spatial dim."""
  if padding not in PADDINGS:
    raise ValueError(f"unknown 2-D/3-D padding {padding!r}; use one of {PADDINGS}")
  pads = [pad_amounts(padding, k) for k in kernel_shape]
  return jnp.pad(x_SxC, pads + [(0, 0)])


def _out_shape(
  x_SxC: jax.Array, kernel_shape: Sequence[int], padding: str, strides: Sequence[int]
) -> tuple[int, ...]:
  """Output positions per spatial dim: every s-th of the unstrided ones, ceil(n / s)."""
  return tuple(
    -(-output_length(n, padding, k) // s)
    for n, k, s in zip(x_SxC.shape[:-1], kernel_shape, strides)
  )


def _strides(strides: Sequence[int] | None, kernel_shape: Sequence[int]) -> tuple[int, ...]:
  return tuple(strides) if strides is not None else (1,) * len(kernel_shape)


def convnd_vmap(
  kernel_SxCxF: jax.Array,
  bias_F: jax.Array,
  x_SxC: jax.Array,
  padding: str = "same",
  strides: Sequence[int] | None = None,
) -> jax.Array:
  """The didactic form: one window . kernel product per output position, vmapped."""
  kernel_shape, (C, F) = kernel_SxCxF.shape[:-2], kernel_SxCxF.shape[-2:]
  strides = _strides(strides, kernel_shape)
  xpad_SxC = _padded(x_SxC, kernel_shape, padding)
  out_shape = _out_shape(x_SxC, kernel_shape, padding, strides)
  kernel_KCxF = kernel_SxCxF.reshape(-1, F)

  def at_position(index_S):
    start = tuple(index_S) + (0,)
    window = jax.lax.dynamic_slice(xpad_SxC, start, tuple(kernel_shape) + (C,))
    return window.reshape(-1) @ kernel_KCxF + bias_F  # y_F

  grids = jnp.meshgrid(*[s * jnp.arange(n) for n, s in zip(out_shape, strides)], indexing="ij")
  index_NxS = jnp.stack([g.reshape(-1) for g in grids], axis=1)
  return jax.vmap(at_position)(index_NxS).reshape(out_shape + (F,))  # y_SxF


def convnd_vmap_shifted(
  kernel_SxCxF: jax.Array,
  bias_F: jax.Array,
  x_SxC: jax.Array,
  padding: str = "same",
  strides: Sequence[int] | None = None,
) -> jax.Array:
  """The vmap form with windows cut by K static shifts of the input: no per-position reads."""
  kernel_shape, F = kernel_SxCxF.shape[:-2], kernel_SxCxF.shape[-1]
  strides = _strides(strides, kernel_shape)
  xpad_SxC = _padded(x_SxC, kernel_shape, padding)
  out_shape = _out_shape(x_SxC, kernel_shape, padding, strides)
  # tap (k1, k2, ...) of every output at once: xpad shifted by the tap's offsets
  taps = [
    xpad_SxC[
      tuple(slice(k, k + (n - 1) * s + 1, s) for k, n, s in zip(offsets, out_shape, strides))
    ]
    for offsets in itertools.product(*[range(k) for k in kernel_shape])
  ]
  windows_NxKC = jnp.stack(taps, axis=-2).reshape(math.prod(out_shape), -1)
  kernel_KCxF = kernel_SxCxF.reshape(-1, F)
  y_NxF = jax.vmap(lambda window_KC: window_KC @ kernel_KCxF + bias_F)(windows_NxKC)
  return y_NxF.reshape(out_shape + (F,))


_DIMENSION_NUMBERS = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def convnd_xla(
  kernel_SxCxF: jax.Array,
  bias_F: jax.Array,
  x_SxC: jax.Array,
  padding: str = "same",
  strides: Sequence[int] | None = None,
) -> jax.Array:
  """The same convolution through XLA's convolution op (lax.conv_general_dilated)."""
  kernel_shape = kernel_SxCxF.shape[:-2]
  if padding not in PADDINGS:
    raise ValueError(f"unknown 2-D/3-D padding {padding!r}; use one of {PADDINGS}")
  y_1xSxF = jax.lax.conv_general_dilated(
    x_SxC[None],
    kernel_SxCxF,
    window_strides=_strides(strides, kernel_shape),
    padding=[pad_amounts(padding, k) for k in kernel_shape],
    dimension_numbers=_DIMENSION_NUMBERS[len(kernel_shape)],
  )
  return y_1xSxF[0] + bias_F.reshape((1,) * len(kernel_shape) + bias_F.shape)


def convnd(
  kernel_SxCxF: jax.Array,
  bias_F: jax.Array,
  x_SxC: jax.Array,
  padding: str = "same",
  impl: str = "xla",
  strides: Sequence[int] | None = None,
) -> jax.Array:
  """2-D (x_HxWxC) or 3-D (x_TxHxWxC) convolution of ONE input; `impl` picks the form."""
  if impl == "vmap":
    return convnd_vmap(kernel_SxCxF, bias_F, x_SxC, padding, strides)
  if impl == "vmap_shifted":
    return convnd_vmap_shifted(kernel_SxCxF, bias_F, x_SxC, padding, strides)
  if impl == "xla":
    return convnd_xla(kernel_SxCxF, bias_F, x_SxC, padding, strides)
  raise ValueError(f"unknown conv impl {impl!r}; use one of {IMPLS}")


def max_pool2d(x_HxWxF: jax.Array) -> jax.Array:
  """Max over 2 x 2 windows with stride 2 (H and W even): x_(H/2)x(W/2)xF."""
  H, W, F = x_HxWxF.shape
  return x_HxWxF.reshape(H // 2, 2, W // 2, 2, F).max(axis=(1, 3))


class ConvND(nn.Module):
  """Thin shell: owns kernel and bias, calls `convnd` vmapped over the batch.

  `kernel_size` has one entry per spatial dim: (3, 3) for images x_BxHxWxC, (3, 3, 3) for
  clips x_BxTxHxWxC.
  """

  features: int
  kernel_size: tuple[int, ...]
  padding: str = "same"
  impl: str = "xla"
  strides: tuple[int, ...] | None = None  # one per spatial dim; None = 1 everywhere
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x_BxSxC: jax.Array) -> jax.Array:
    shape = tuple(self.kernel_size) + (x_BxSxC.shape[-1], self.features)
    kernel_SxCxF = self.param("kernel", self.kernel_init, shape)
    bias_F = self.param("bias", nn.initializers.zeros, (self.features,))
    core = lambda x_SxC: convnd(kernel_SxCxF, bias_F, x_SxC, self.padding, self.impl, self.strides)
    return jax.vmap(core)(x_BxSxC)
