"""PARALLEL: a 1-D convolution is the same small matmul at every output position.

Shape key: B batch, L length, C input channels, F filters, K kernel width, D dilation.

No output position depends on another, so the core is written as `jax.vmap` over
positions: `at_position(t)` reads one window of the input and multiplies it by the
kernel. Its recurrent mirror is `recurrent.scan_sequence`, where step t cannot start
before step t-1 has finished.

`conv1d(..., impl='xla')` computes the same numbers with `lax.conv_general_dilated`;
the forms are tested equal, and benchmarks time them all (XLA's own convolution is the
faster one on CPU, so it is the default that speed comparisons use).

`conv1d_vmap_shifted` is the same vmap over positions with the windows cut differently:
by K static shifts of the input (one per tap) instead of by indexing inside the
vmapped function. The numbers are identical; the gradient is not built the same way.
JAX differentiates a per-position read `x[t + taps]` into a scatter-add, which XLA:CPU
runs as a serial loop; the gradient of a static shift is a pad. docs/performance.md
has the measured difference and why XLA's convolution stays faster still.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax.masks import mask_L

PADDINGS = ("valid", "same", "causal")
IMPLS = ("vmap", "vmap_shifted", "xla")


def pad_amounts(padding: str, kernel_size: int, dilation: int = 1) -> tuple[int, int]:
  """(left, right) zeros added to the input so the output has the padding's length.

  valid: L - D(K-1) outputs, no padding.  same: L outputs, window centred (the extra
  zero goes right for even spans).  causal: L outputs, output t sees inputs <= t only.
  """
  span = dilation * (kernel_size - 1)
  if padding == "valid":
    return 0, 0
  if padding == "same":
    return span // 2, span - span // 2
  if padding == "causal":
    return span, 0
  raise ValueError(f"unknown padding {padding!r}; use one of {PADDINGS}")


def output_length(length: int, padding: str, kernel_size: int, dilation: int = 1) -> int:
  """Number of outputs of a convolution over `length` inputs with this padding."""
  left, right = pad_amounts(padding, kernel_size, dilation)
  return length + left + right - dilation * (kernel_size - 1)


def conv1d_vmap(
  kernel_KxCxF: jax.Array,
  bias_F: jax.Array,
  x_LxC: jax.Array,
  padding: str = "valid",
  dilation: int = 1,
) -> jax.Array:
  """The didactic form: one window . kernel product per output position, vmapped."""
  K, C, F = kernel_KxCxF.shape
  left, right = pad_amounts(padding, K, dilation)
  xpad_PxC = jnp.pad(x_LxC, ((left, right), (0, 0)))
  taps_K = jnp.arange(K) * dilation
  kernel_KCxF = kernel_KxCxF.reshape(K * C, F)

  def at_position(t):
    window_KxC = xpad_PxC[t + taps_K]  # the K inputs output t sees
    return window_KxC.reshape(K * C) @ kernel_KCxF + bias_F  # y_F

  num_out = output_length(x_LxC.shape[0], padding, K, dilation)
  return jax.vmap(at_position)(jnp.arange(num_out))  # y_LxF


def conv1d_vmap_shifted(
  kernel_KxCxF: jax.Array,
  bias_F: jax.Array,
  x_LxC: jax.Array,
  padding: str = "valid",
  dilation: int = 1,
) -> jax.Array:
  """The vmap form with windows cut by K static shifts: no per-position indexing."""
  K, C, F = kernel_KxCxF.shape
  left, right = pad_amounts(padding, K, dilation)
  xpad_PxC = jnp.pad(x_LxC, ((left, right), (0, 0)))
  num_out = output_length(x_LxC.shape[0], padding, K, dilation)
  # windows[t, k] = xpad[t + k * dilation]: tap k's inputs for every output at once.
  windows_LxKxC = jnp.stack(
    [xpad_PxC[k * dilation : k * dilation + num_out] for k in range(K)], axis=1
  )
  kernel_KCxF = kernel_KxCxF.reshape(K * C, F)

  def at_position(window_KxC):
    return window_KxC.reshape(K * C) @ kernel_KCxF + bias_F  # y_F

  return jax.vmap(at_position)(windows_LxKxC)  # y_LxF


def conv1d_xla(
  kernel_KxCxF: jax.Array,
  bias_F: jax.Array,
  x_LxC: jax.Array,
  padding: str = "valid",
  dilation: int = 1,
) -> jax.Array:
  """The same convolution through XLA's convolution op (lax.conv_general_dilated)."""
  left, right = pad_amounts(padding, kernel_KxCxF.shape[0], dilation)
  y_1xLxF = jax.lax.conv_general_dilated(
    x_LxC[None],
    kernel_KxCxF,
    window_strides=(1,),
    padding=[(left, right)],
    rhs_dilation=(dilation,),
    dimension_numbers=("NWC", "WIO", "NWC"),
  )
  return y_1xLxF[0] + bias_F[None, :]


def conv1d(
  kernel_KxCxF: jax.Array,
  bias_F: jax.Array,
  x_LxC: jax.Array,
  padding: str = "valid",
  dilation: int = 1,
  impl: str = "xla",
) -> jax.Array:
  """1-D convolution of ONE sequence; `impl` picks a vmap form or XLA's op."""
  if impl == "vmap":
    return conv1d_vmap(kernel_KxCxF, bias_F, x_LxC, padding, dilation)
  if impl == "vmap_shifted":
    return conv1d_vmap_shifted(kernel_KxCxF, bias_F, x_LxC, padding, dilation)
  if impl == "xla":
    return conv1d_xla(kernel_KxCxF, bias_F, x_LxC, padding, dilation)
  raise ValueError(f"unknown conv impl {impl!r}; use one of {IMPLS}")


def masked_max_over_time(
  y_LxF: jax.Array, num_valid: int | jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Max over the first `num_valid` positions of each feature map, and where it was.

  Returns (max_F, argmax_F): the argmax is the output position, i.e. the start of
  the n-gram window that "won" for each filter (for 'valid' padding).
  """
  valid_L = mask_L(num_valid, y_LxF.shape[0])
  masked_LxF = jnp.where(valid_L[:, None], y_LxF, -jnp.inf)
  argmax_F = jnp.argmax(masked_LxF, axis=0)
  return jnp.take_along_axis(y_LxF, argmax_F[None], axis=0)[0], argmax_F


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int] | None = None) -> int:
  """How many input steps one output of a stack of stride-1 convolutions sees."""
  dilations = dilations if dilations is not None else [1] * len(kernel_sizes)
  if len(dilations) != len(kernel_sizes):
    raise ValueError("receptive_field needs one dilation per kernel size")
  return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))


class Conv1D(nn.Module):
  """Thin shell: owns kernel and bias, calls the pure core vmapped over the batch."""

  features: int
  kernel_size: int
  padding: str = "valid"
  dilation: int = 1
  impl: str = "xla"
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x_BxLxC: jax.Array) -> jax.Array:
    kernel_KxCxF = self.param(
      "kernel", self.kernel_init, (self.kernel_size, x_BxLxC.shape[-1], self.features)
    )
    bias_F = self.param("bias", nn.initializers.zeros, (self.features,))
    core = lambda x_LxC: conv1d(kernel_KxCxF, bias_F, x_LxC, self.padding, self.dilation, self.impl)
    return jax.vmap(core)(x_BxLxC)
