"""Pictures of a video model reading a clip: the frames, the frame encoder's strongest feature
map in each frame, and the temporal model's hidden state over the frames.

Shape key: T frames, H x W frame, h x w feature-map grid, F feature maps, U hidden units.

`clip_readout` runs a trained frames-CNN + sequence model (a `train.restore`d run of
configs/video.py) on clips of its own eval set; `film_strip_figure` draws one clip.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from cnnrnn_jax import models
from cnnrnn_jax.plotting import figure
from cnnrnn_jax.tasks.base import Task
from cnnrnn_jax.viz.figures import _top_units

DIRECTION_NAMES = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")  # tasks.video.DIRECTIONS_8x2


def clip_readout(config: Any, params: Any, task: Task, num_clips: int) -> dict[str, np.ndarray]:
  """The first `num_clips` eval clips through the model of `config`: frames (N x T x H x W),
  targets, predictions, frame_maps (N x T x h x w x F) and hidden (N x T x U) when the
  temporal model has per-step states."""
  model = models.build_model(config.model, config.arch, task.spec)
  batch = next(task.eval_batches(num_clips))
  logits, aux = jax.jit(model.apply)({"params": params}, batch["inputs"], batch["lengths"])
  N, T = batch["inputs"].shape[:2]
  out = {
    "frames": batch["inputs"].reshape(N, T, *task.spec.frame_shape),
    "targets": batch["targets"],
    "predictions": np.asarray(logits).argmax(-1),
    "frame_maps": np.asarray(aux["frame_maps"]),
  }
  if "hidden" in aux:
    out["hidden"] = np.asarray(aux["hidden"])
  return out


def film_strip_figure(
  frames_TxHxW: np.ndarray,
  maps_TxhxwxF: np.ndarray,
  hidden_TxU: np.ndarray | None,
  title: str,
  max_units: int = 16,
) -> Figure:
  """Row 1: the frames. Row 2: per frame, the feature map with the largest activation in
  it (its index above it). Row 3: the hidden state h_t after each frame (the `max_units`
  units that change most), one column per frame."""
  T = len(frames_TxHxW)
  rows = 3 if hidden_TxU is not None else 2
  fig = figure(0.8 * T + 1.2, 1.7 * rows + 0.4)
  grid = fig.add_gridspec(rows, T, height_ratios=[1, 1, 1.6][:rows])
  strongest_T = maps_TxhxwxF.max(axis=(1, 2)).argmax(axis=1)
  top = maps_TxhxwxF.max()
  for t in range(T):
    ax = fig.add_subplot(grid[0, t])
    ax.imshow(frames_TxHxW[t], cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_title(f"t={t}", fontsize=7)
    ax.axis("off")
    ax = fig.add_subplot(grid[1, t])
    ax.imshow(maps_TxhxwxF[t, :, :, strongest_T[t]], cmap="magma", vmin=0.0, vmax=top)
    ax.set_title(f"map {strongest_T[t]}", fontsize=7)
    ax.axis("off")
  if hidden_TxU is not None:
    units = _top_units(hidden_TxU, max_units)
    ax = fig.add_subplot(grid[2, :])
    image = ax.imshow(hidden_TxU[:, units].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(T), [str(t) for t in range(T)], fontsize=7)
    ax.set_yticks(range(len(units)), [f"unit {u}" for u in units], fontsize=6)
    ax.set_xlabel("frame t (h_t: the state after reading frame t)")
    fig.colorbar(image, ax=ax, label="h_t", shrink=0.8)
  fig.suptitle(title, fontsize=10)
  return fig


def label_name(label: str, value: int) -> str:
  """A class id of the task's label in words (direction: compass points)."""
  if label == "direction":
    return DIRECTION_NAMES[value]
  if label == "sequence":
    return "first > last" if value else "first < last"
  return str(value)
