"""QRNN (Bradbury et al. 2017, "Quasi-Recurrent Neural Networks") as a cnnrnn_jax model.

Shape key: B batch, L length, C input channels, H hidden units, K gate convolution width.

The gates come from a causal convolution (PARALLEL: conv.conv1d), the memory from
fo-pooling c_t = f_t * c_{t-1} + (1 - f_t) * z_t, a linear recurrence computed by
linear_scan.linear_recurrence (PARALLEL RECURRENCE: an associative scan), and h_t = o_t * c_t.
So the whole model has no sequential loop, yet output t depends on every input up to t.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import conv, linear_scan, models
from cnnrnn_jax.encoders import readout_over_time
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.masks import mask_L


def qrnn(
  kernel_KxCx3H: jax.Array, bias_3H: jax.Array, x_LxC: jax.Array, length, impl: str
) -> jax.Array:
  """One QRNN layer over ONE sequence: h_LxH (zero past `length`)."""
  gates_Lx3H = conv.conv1d(kernel_KxCx3H, bias_3H, x_LxC, padding="causal")
  z_LxH, f_LxH, o_LxH = jnp.split(gates_Lx3H, 3, axis=-1)
  z_LxH, f_LxH, o_LxH = jnp.tanh(z_LxH), jax.nn.sigmoid(f_LxH), jax.nn.sigmoid(o_LxH)
  _, c_LxH = linear_scan.linear_recurrence(f_LxH, (1.0 - f_LxH) * z_LxH, length=length, impl=impl)
  return jnp.where(mask_L(length, x_LxC.shape[0])[:, None], o_LxH * c_LxH, 0.0)


class QRNN(nn.Module):
  """Thin shell: owns the gate kernel, vmaps `qrnn` over the batch, reads out over time."""

  hidden: int
  kernel_size: int
  readout: str = "last"
  scan_impl: str = "associative"

  @nn.compact
  def __call__(self, x_BxLxC: jax.Array, lengths_B: jax.Array, train: bool = False):
    del train
    kernel = self.param(
      "kernel",
      nn.initializers.lecun_normal(),
      (self.kernel_size, x_BxLxC.shape[-1], 3 * self.hidden),
    )
    bias = self.param("bias", nn.initializers.zeros, (3 * self.hidden,))
    core = lambda x_LxC, length: qrnn(kernel, bias, x_LxC, length, self.scan_impl)
    h_BxLxH = jax.vmap(core)(x_BxLxC, lengths_B)
    return h_BxLxH, readout_over_time(h_BxLxH, lengths_B, self.readout), {"h": h_BxLxH}


def _validate(arch, spec) -> None:
  if arch.qrnn_kernel_size <= 0:
    raise ConfigError(f"config.arch.qrnn_kernel_size={arch.qrnn_kernel_size} must be positive")
  if arch.qrnn_kernel_size > spec.seq_len:
    raise ConfigError(
      f"config.arch.qrnn_kernel_size={arch.qrnn_kernel_size} is wider than the sequence "
      f"length {spec.seq_len}; lower it"
    )


models.register(
  "qrnn",
  lambda arch, spec: QRNN(arch.hidden, arch.qrnn_kernel_size, arch.readout, arch.scan_impl),
  causal=True,  # causal gates + a forward scan: output t sees inputs up to t
  defaults={"qrnn_kernel_size": 2},
  validate=_validate,
)
