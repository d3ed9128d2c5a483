"""The CNN -> RNN pipeline of speech recognisers: 2-D convolutions over (time, frequency) that
stride in time, then a (bidirectional) recurrence over the shortened frames.

Shape key: B batch, L input frames, M mel bands, T frames after the strides, N bands after
them, F filters, H hidden units (per direction), D = N * F features per frame.

The shape of Deep Speech 2 (Amodei et al. 2016), scaled down: each conv level is a 3 x 3
convolution (conv2d.ConvND: the vmapped window products, tested equal to XLA's op) with
stride `time_stride` along time and `freq_stride` along the bands, then ReLU; the frames that
come out (their bands x filters flattened, layer-normalised) feed recurrent.py's GRU/LSTM
(`bidirectional`). The convolutions see local time-frequency patterns (formant shapes,
onsets) that do not care which speaker's pitch they sit at; the strides cut the frames the
recurrence has to walk by 2 ** levels, which is where the CNN makes the RNN cheaper.

Lengths shrink with the strides: a clip of `len` frames has ceil(len / s) valid frames after
a stride s ('same' padding). After every level the frames past that length are set to 0,
so the next convolution sees exactly the zeros a shorter padding would have shown it, and
padding never changes an output (tested). `aux` keeps every level's feature maps and the
frame lengths the recurrence saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax.conv2d import ConvND
from cnnrnn_jax.encoders import EncoderOut, RecurrentEncoder
from cnnrnn_jax.masks import mask_BxL


def strided_lengths(lengths_B: jax.Array, stride: int) -> jax.Array:
  """Valid frames after a 'same'-padded stride: ceil(len / stride)."""
  return (lengths_B + stride - 1) // stride


class CRNN(nn.Module):
  """Conv levels over (time, bands), then a recurrence over the frames (see the module doc)."""

  filters: Sequence[int] = (16, 32)
  kernel_size: int = 3
  time_stride: int = 2
  freq_stride: int = 2
  cell: str = "gru"
  hidden: int = 64
  bidirectional: bool = True
  readout: str = "last"
  conv_impl: str = "xla"
  rnn_impl: str = "fused"

  @nn.compact
  def __call__(self, x_BxLxM: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    x_BxTxNxF = x_BxLxM[..., None]  # one input channel: the log-mel energy
    maps = []
    for level, features in enumerate(self.filters):
      conv = ConvND(
        features,
        (self.kernel_size, self.kernel_size),
        impl=self.conv_impl,
        strides=(self.time_stride, self.freq_stride),
        name=f"conv{level}",
      )
      lengths_B = strided_lengths(lengths_B, self.time_stride)
      x_BxTxNxF = nn.relu(conv(x_BxTxNxF))
      valid_BxT = mask_BxL(lengths_B, x_BxTxNxF.shape[1])
      x_BxTxNxF = jnp.where(valid_BxT[:, :, None, None], x_BxTxNxF, 0.0)
      maps.append(x_BxTxNxF)
    B, T, N, F = x_BxTxNxF.shape
    frames_BxTxD = nn.LayerNorm(name="frame_norm")(x_BxTxNxF.reshape(B, T, N * F))
    seq, pooled, aux = RecurrentEncoder(
      self.cell, self.hidden, self.bidirectional, self.readout, self.rnn_impl, name="rnn"
    )(frames_BxTxD, lengths_B, train)
    return seq, pooled, {**aux, "conv_maps": maps, "frame_lengths": lengths_B}
