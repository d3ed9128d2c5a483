"""Video encoders: a frame encoder applied to every frame in PARALLEL, a sequence model over time.

Shape key: B batch, T frames, H x W frame, C = H * W pixels of a flattened frame, F filters,
D frame-feature width, h x w the last feature map's grid.

The lesson's hybrid "CNN -> frames, RNN -> temporal sequence". A clip arrives as the
trainer's usual continuous batch x_BxTxC, each step one flattened frame (the task's
`spec.frame_shape` says how to fold it back). `FramesThen` runs

  frame encoder:  jax.vmap over T (and B) of a pure per-frame core   -> f_BxTxD  (PARALLEL)
  temporal model: any registered sequence encoder on f_BxTxD          -> seq, pooled, aux

so every sequence model (lstm, gru, tcn, transformer, lru, the order-blind bag, ...) composes
with every frame encoder (`--config.arch.frame_encoder=cnn2d|mlp --config.model=lstm`),
without a class per pair. The frame cores are plain functions of (params, x_HxW):

  frame_cnn  conv 3x3 - ReLU - 2x2 max-pool per level (conv2d.convnd), then a readout of the
             last map: 'flatten' (a Dense over all h x w x F values: it keeps *where* things
             are) or global 'max' / 'mean' pooling (translation-invariant: it keeps *what*)
  frame_mlp  Dense - ReLU layers over the flattened pixels (no convolution at all)

`CNN3D` is the CNN-only answer to video: 3 x 3 x 3 convolutions over (time, height, width),
ReLU, 2x2 spatial max-pool per level, then max over space and over the valid frames.
Frames past a clip's length are zero at every level, so padding never changes an output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import conv2d
from cnnrnn_jax.encoders import EncoderOut, pool_over_time
from cnnrnn_jax.masks import mask_BxL

FRAME_POOLS = ("flatten", "max", "mean")


def frame_cnn(
  params: dict[str, Any], x_HxW: jax.Array, impl: str = "xla", pool: str = "flatten"
) -> tuple[jax.Array, jax.Array]:
  """ONE frame -> (feature_D, last feature map_hxwxF). params: 'convs' a list of
  (kernel_3x3xCxF, bias_F) per level, 'out' the readout's (w, b)."""
  h_HxWxF = x_HxW[:, :, None]
  for kernel_3x3xCxF, bias_F in params["convs"]:
    h_HxWxF = conv2d.max_pool2d(
      jax.nn.relu(conv2d.convnd(kernel_3x3xCxF, bias_F, h_HxWxF, impl=impl))
    )
  if pool == "flatten":
    v = h_HxWxF.reshape(-1)
  elif pool == "max":
    v = h_HxWxF.max(axis=(0, 1))
  elif pool == "mean":
    v = h_HxWxF.mean(axis=(0, 1))
  else:
    raise ValueError(f"unknown frame pooling {pool!r}; use one of {FRAME_POOLS}")
  w, b = params["out"]
  return jax.nn.relu(v @ w + b), h_HxWxF


def frame_mlp(params: dict[str, Any], x_HxW: jax.Array) -> jax.Array:
  """ONE frame -> feature_D: Dense - ReLU layers over the flattened pixels."""
  h = x_HxW.reshape(-1)
  for w, b in params["layers"]:
    h = jax.nn.relu(h @ w + b)
  return h


def _dense_params(module: nn.Module, name: str, fan_in: int, fan_out: int):
  w = module.param(f"{name}_w", nn.initializers.lecun_normal(), (fan_in, fan_out))
  return w, module.param(f"{name}_b", nn.initializers.zeros, (fan_out,))


class FrameCNN(nn.Module):
  """Thin shell over `frame_cnn`: declares its parameters, vmaps the core over T and B.

  Returns (f_BxTxD, aux) with aux['frame_maps'] the last feature map of every frame
  (B x T x h x w x F): what the film-strip picture shows.
  """

  filters: Sequence[int] = (16, 32, 32)
  features: int = 64
  pool: str = "flatten"
  impl: str = "xla"

  @nn.compact
  def __call__(self, x_BxTxHxW: jax.Array) -> tuple[jax.Array, dict[str, Any]]:
    H, W = x_BxTxHxW.shape[2:]
    convs, channels = [], 1
    for i, F in enumerate(self.filters):
      kernel = self.param(f"conv{i}_kernel", nn.initializers.lecun_normal(), (3, 3, channels, F))
      convs.append((kernel, self.param(f"conv{i}_bias", nn.initializers.zeros, (F,))))
      channels = F
    cells = (H >> len(self.filters)) * (W >> len(self.filters))
    fan_in = channels * (cells if self.pool == "flatten" else 1)
    params = {"convs": convs, "out": _dense_params(self, "out", fan_in, self.features)}
    core = lambda x_HxW: frame_cnn(params, x_HxW, self.impl, self.pool)
    f_BxTxD, maps = jax.vmap(jax.vmap(core))(x_BxTxHxW)  # every frame at once: PARALLEL
    return f_BxTxD, {"frame_maps": maps}


class FrameMLP(nn.Module):
  """Thin shell over `frame_mlp` (`layers` Dense-ReLU layers of width `features`)."""

  features: int = 64
  layers: int = 2

  @nn.compact
  def __call__(self, x_BxTxHxW: jax.Array) -> tuple[jax.Array, dict[str, Any]]:
    fan_in = x_BxTxHxW.shape[2] * x_BxTxHxW.shape[3]
    layers = []
    for i in range(self.layers):
      layers.append(_dense_params(self, f"dense{i}", fan_in, self.features))
      fan_in = self.features
    core = lambda x_HxW: frame_mlp({"layers": layers}, x_HxW)
    return jax.vmap(jax.vmap(core))(x_BxTxHxW), {}


class FramesThen(nn.Module):
  """The hybrid: `frames` encodes every frame, `temporal` (any sequence encoder) reads the
  sequence of frame features. Features past each clip's length are zero."""

  frames: nn.Module
  temporal: nn.Module
  frame_shape: tuple[int, int]

  @nn.compact
  def __call__(self, x_BxTxC: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    B, T = x_BxTxC.shape[:2]
    f_BxTxD, frame_aux = self.frames(x_BxTxC.reshape(B, T, *self.frame_shape))
    f_BxTxD = jnp.where(mask_BxL(lengths_B, T)[:, :, None], f_BxTxD, 0.0)
    seq, pooled, aux = self.temporal(f_BxTxD, lengths_B, train)
    return seq, pooled, {**aux, **frame_aux, "frame_features": f_BxTxD}


class CNN3D(nn.Module):
  """3 x 3 x 3 convolutions over (T, H, W) per level (ReLU, frames past the length zeroed,
  2 x 2 spatial max-pool), then max over space (seq_BxTxF) and over the valid frames, and a
  ReLU layer of width `hidden`. Its temporal reach is 1 + 2 * levels frames."""

  frame_shape: tuple[int, int]
  filters: Sequence[int] = (16, 32, 32)
  hidden: int = 64
  impl: str = "xla"

  @nn.compact
  def __call__(self, x_BxTxC: jax.Array, lengths_B: jax.Array, train: bool = False) -> EncoderOut:
    B, T = x_BxTxC.shape[:2]
    valid_BxT = mask_BxL(lengths_B, T)
    h = x_BxTxC.reshape(B, T, *self.frame_shape, 1)
    maps = {}
    for i, F in enumerate(self.filters):
      h = nn.relu(conv2d.ConvND(F, (3, 3, 3), "same", self.impl, name=f"conv{i}")(h))
      h = jnp.where(valid_BxT[:, :, None, None, None], h, 0.0)
      h = jax.vmap(jax.vmap(conv2d.max_pool2d))(h)
      maps[f"level{i}"] = h
    seq_BxTxF = h.max(axis=(2, 3))
    pooled_BxF = pool_over_time(seq_BxTxF, lengths_B, "max")
    pooled_BxH = nn.relu(nn.Dense(self.hidden, name="hidden")(pooled_BxF))
    return seq_BxTxF, pooled_BxH, {"feature_maps": maps}
