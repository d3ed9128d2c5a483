"""Video: clips of moving MNIST digits (Srivastava et al. 2015), three labels.

Shape key: N clips, T frames, H = W frame side, S digit side, K digits per clip.

  moving_mnist   T frames (`seq_len`, default 16) of H x H pixels (`frame_size`, 32) in [0, 1];
                 K digits (`num_digits`, 1) of S x S pixels (`digit_size`, 14: MNIST's 28 x 28
                 resized by area) move `speed` pixels a frame (2) along each moving axis in
                 one of 8 compass directions and bounce off the walls (`motion` 'bounce', the
                 default) or leave one side to come back on the other ('wrap': the frame is a
                 torus); overlapping digits take the brighter pixel. `label` says what to predict:

  digits     the multiset of the K digit classes (10 classes for one digit, 55 for two):
             any single frame shows it, order does not matter
  direction  which of the 8 directions the digits move (all K share it): the first
             FREE_MOVES moves never meet a wall, so the first frames decide it (later
             bounces turn the digits); no single frame can. Bounces break time-reversal
             symmetry: where a digit piles up against a wall says which way it went, so the
             *set* of frames holds most of the label. With 'wrap', a clip played backwards
             is a clip of the opposite direction: the set shows only the axis of motion
  sequence   two digits of different classes appear one after the other, each for
             `show_frames` frames (3), `distance` empty frames (4) apart, at a random time:
             1 iff the first is larger than the second. It needs recognition and memory

Clips are batches of the trainer's continuous kind: inputs N x T x (H * H), each step one
flattened frame, and `spec.frame_shape = (H, H)` lets frame encoders fold it back. Train
clips use MNIST's train digits, eval clips (`eval_size`, 1024) its test digits; both are
pure functions of (seed, step) like every generated task. The digits come from the IDX
files in `--config.data.train_path` (the MNIST folder) or tfds `mnist`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import (
  DEFAULT_EVAL_SIZE,
  EVAL_STREAM,
  TRAIN_STREAM,
  Batch,
  Task,
  TaskSpec,
  check_int,
  register,
  rng_for,
  split_into_batches,
)
from cnnrnn_jax.tasks.tfds_tasks import mnist_arrays

LABELS = ("digits", "direction", "sequence")
# (dy, dx) per label of `direction`: E, NE, N, NW, W, SW, S, SE (y grows downwards)
DIRECTIONS_8x2 = np.array([(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)])
DEFAULTS = {
  "seq_len": 16,
  "frame_size": 32,
  "digit_size": 14,
  "num_digits": 1,
  "speed": 2,
  "show_frames": 3,
  "distance": 4,
}
MOTIONS = ("bounce", "wrap")
FREE_MOVES = 3  # direction: moves before the first possible bounce (fewer in shorter clips)


def area_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
  """R (size_out x size_in): R @ img @ R.T resizes by pixel-area averaging."""
  edges_in, edges_out = np.arange(size_in + 1), np.linspace(0, size_in, size_out + 1)
  lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
  hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
  overlap = np.clip(hi - lo, 0.0, None)
  return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_digits(images_NxHxW: np.ndarray, size: int) -> np.ndarray:
  """uint8 digit images -> float32 N x size x size in [0, 1], resized by area."""
  R = area_resize_matrix(images_NxHxW.shape[1], size)
  return R @ (images_NxHxW.astype(np.float32) / 255.0) @ R.T


def bounce(start_N: np.ndarray, velocity_N: np.ndarray, T: int, room: int) -> np.ndarray:
  """Positions N x T of points moving `velocity` a frame in [0, room], reflected at both ends."""
  free_NxT = start_N[:, None] + velocity_N[:, None] * np.arange(T)[None, :]
  if room == 0:
    return np.zeros_like(free_NxT)
  folded_NxT = np.mod(free_NxT, 2 * room)
  return room - np.abs(folded_NxT - room)


def render(
  digits_NxSxS: np.ndarray, pos_NxTx2: np.ndarray, visible_NxT: np.ndarray, canvas: np.ndarray
) -> None:
  """Draws one digit per clip into canvas (N x T x H x W) at its top-left (y, x) of each frame
  where it is visible; overlaps keep the brighter pixel. Pixels past an edge come back on the
  opposite one (positions are taken modulo the frame: a torus)."""
  N, T = visible_NxT.shape
  S = digits_NxSxS.shape[1]
  H, W = canvas.shape[2:]
  rows_NxTxS = (pos_NxTx2[..., 0, None] + np.arange(S)) % H
  cols_NxTxS = (pos_NxTx2[..., 1, None] + np.arange(S)) % W
  index = (
    np.arange(N)[:, None, None, None],
    np.arange(T)[None, :, None, None],
    rows_NxTxS[:, :, :, None],
    cols_NxTxS[:, :, None, :],
  )
  sprite_NxTxSxS = digits_NxSxS[:, None] * visible_NxT[:, :, None, None]
  canvas[index] = np.maximum(canvas[index], sprite_NxTxSxS)


def read_knobs(data_config) -> dict:
  """The task's knobs from `config.data` (defaults filled in), with a one-line ConfigError
  for any setting no clip can satisfy: checked before a digit is read."""
  knobs = {
    knob: check_int(
      "moving_mnist", knob, data_config.get(knob), default, 0 if knob == "distance" else 1
    )
    for knob, default in DEFAULTS.items()
  }
  knobs["label"] = label = data_config.get("label") or "digits"
  knobs["motion"] = motion = data_config.get("motion") or "bounce"
  if motion not in MOTIONS:
    raise ConfigError(
      f"moving_mnist: motion={motion!r} is not one of {MOTIONS}; set --config.data.motion"
    )
  knobs["eval_size"] = check_int(
    "moving_mnist", "eval_size", data_config.get("eval_size"), DEFAULT_EVAL_SIZE, 1
  )
  T, H, S = knobs["seq_len"], knobs["frame_size"], knobs["digit_size"]
  if label not in LABELS:
    raise ConfigError(
      f"moving_mnist: label={label!r} is not one of {LABELS}; set --config.data.label"
    )
  if label == "sequence":
    if data_config.get("num_digits") not in (None, 2):
      raise ConfigError(
        f"moving_mnist: sequence shows exactly 2 digits, not num_digits="
        f"{knobs['num_digits']}; leave --config.data.num_digits unset"
      )
    knobs["num_digits"] = 2
  K = knobs["num_digits"]
  if S > H:
    raise ConfigError(
      f"moving_mnist: digit_size={S} is larger than the frame ({H}x{H}); lower "
      "--config.data.digit_size or raise --config.data.frame_size"
    )
  fit = (H // S) ** 2
  if K > fit:
    raise ConfigError(
      f"moving_mnist: num_digits={K} do not fit in a {H}x{H} frame ({fit} digits of "
      f"{S}x{S} at most); lower --config.data.num_digits or --config.data.digit_size"
    )
  if label == "direction" and T < 2:
    raise ConfigError(
      f"moving_mnist: direction needs 2 or more frames to show a move, not seq_len={T}; "
      "raise --config.data.seq_len"
    )
  free = knobs["speed"] * min(FREE_MOVES, T - 1)
  if label == "direction" and motion == "bounce" and H - S < free:
    raise ConfigError(
      f"moving_mnist: a {S}x{S} digit in a {H}x{H} frame has {H - S} pixels to move, less "
      f"than the {free} of its first moves at speed={knobs['speed']}; lower "
      "--config.data.speed or --config.data.digit_size"
    )
  span = 2 * knobs["show_frames"] + knobs["distance"]
  if label == "sequence" and span > T:
    raise ConfigError(
      f"moving_mnist: sequence needs {span} frames (2 x show_frames={knobs['show_frames']} "
      f"+ distance={knobs['distance']}) but seq_len={T}; raise --config.data.seq_len"
    )
  return knobs


class MovingDigits(Task):
  """Clips of moving digits drawn from given digit images (see the module docstring).

  `knobs` come from `read_knobs`; the images are uint8 N x 28 x 28 (any square size).
  """

  def __init__(
    self,
    knobs: dict,
    seed: int,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    eval_images: np.ndarray,
    eval_labels: np.ndarray,
  ):
    self.label, self.seed, self.eval_size = knobs["label"], seed, knobs["eval_size"]
    self.T, self.H, self.S = knobs["seq_len"], knobs["frame_size"], knobs["digit_size"]
    self.K, self.speed = knobs["num_digits"], knobs["speed"]
    self.show, self.distance = knobs["show_frames"], knobs["distance"]
    self.motion = knobs["motion"]
    self.pools = {
      TRAIN_STREAM: (resize_digits(train_images, self.S), np.asarray(train_labels)),
      EVAL_STREAM: (resize_digits(eval_images, self.S), np.asarray(eval_labels)),
    }
    combos = itertools.combinations_with_replacement(range(10), self.K)
    self.multisets = {combo: i for i, combo in enumerate(combos)}  # digits: class ids
    num_classes = {"digits": len(self.multisets), "direction": 8, "sequence": 2}[self.label]
    H = self.H
    self.spec = TaskSpec(
      kind="classify", num_outputs=num_classes, seq_len=self.T, input_dim=H * H, frame_shape=(H, H)
    )
    self._eval: Batch | None = None

  def clips(self, rng: np.random.Generator, n: int, stream: int) -> Batch:
    """`n` clips with digits from the train (TRAIN_STREAM) or eval pool, and their labels."""
    images_MxSxS, classes_M = self.pools[stream]
    T, H, S = self.T, self.H, self.S
    room = H - S
    K = self.K
    if self.label == "sequence":  # two different classes, the first drawn freely
      first_N = rng.integers(len(classes_M), size=n)
      second_N = rng.integers(len(classes_M), size=n)
      tie = classes_M[first_N] == classes_M[second_N]
      while tie.any():  # redraw the second digit of ties (about 1 in 10 each round)
        second_N[tie] = rng.integers(len(classes_M), size=int(tie.sum()))
        tie = classes_M[first_N] == classes_M[second_N]
      picks_NxK = np.stack([first_N, second_N], axis=1)
    else:
      picks_NxK = rng.integers(len(classes_M), size=(n, K))
    if self.label == "direction":
      heading_N = rng.integers(8, size=n)
      heading_NxK = np.repeat(heading_N[:, None], K, axis=1)
    else:
      heading_NxK = rng.integers(8, size=(n, K))
    velocity_NxKx2 = DIRECTIONS_8x2[heading_NxK] * self.speed
    # starts from which the first moves stay inside the frame (the label is their direction)
    reach_NxKx2 = velocity_NxKx2 * (min(FREE_MOVES, T - 1) if self.label == "direction" else 1)
    low_NxKx2 = np.maximum(-reach_NxKx2, 0)
    high_NxKx2 = room - np.maximum(reach_NxKx2, 0)
    if self.motion == "wrap":  # anywhere on the torus
      low_NxKx2, high_NxKx2 = np.zeros_like(reach_NxKx2), np.full_like(reach_NxKx2, H - 1)
    start_NxKx2 = low_NxKx2 + np.floor(rng.random((n, K, 2)) * (high_NxKx2 - low_NxKx2 + 1)).astype(
      np.int64
    )
    visible_NxKxT = np.ones((n, K, T), np.float32)
    if self.label == "sequence":
      onset_N = rng.integers(T - (2 * self.show + self.distance) + 1, size=n)
      second_onset_N = onset_N + self.show + self.distance
      steps_T = np.arange(T)[None, :]
      for k, begin_N in enumerate((onset_N, second_onset_N)):
        shown_NxT = (steps_T >= begin_N[:, None]) & (steps_T < begin_N[:, None] + self.show)
        visible_NxKxT[:, k] = shown_NxT
    canvas_NxTxHxW = np.zeros((n, T, H, H), np.float32)
    for k in range(K):
      start_Nx2, velocity_Nx2 = start_NxKx2[:, k], velocity_NxKx2[:, k]
      if self.motion == "wrap":
        pos_NxTx2 = start_Nx2[:, None] + velocity_Nx2[:, None] * np.arange(T)[None, :, None]
      else:
        pos_NxTx2 = np.stack(
          [bounce(start_Nx2[:, axis], velocity_Nx2[:, axis], T, room) for axis in (0, 1)], -1
        )
      render(images_MxSxS[picks_NxK[:, k]], pos_NxTx2, visible_NxKxT[:, k], canvas_NxTxHxW)
    classes_NxK = classes_M[picks_NxK]
    if self.label == "digits":
      targets_N = np.array([self.multisets[tuple(sorted(row))] for row in classes_NxK.tolist()])
    elif self.label == "direction":
      targets_N = heading_N
    else:
      targets_N = (classes_NxK[:, 0] > classes_NxK[:, 1]).astype(np.int32)
    return {
      "inputs": canvas_NxTxHxW.reshape(n, T, H * H),
      "lengths": np.full(n, T, np.int32),
      "targets": targets_N.astype(np.int32),
      "weights": np.ones(n, np.float32),
    }

  def train_batch(self, step: int, batch_size: int) -> Batch:
    return self.clips(rng_for(self.seed, TRAIN_STREAM, step), batch_size, TRAIN_STREAM)

  def eval_batches(self, batch_size: int) -> Iterator[Batch]:
    if self._eval is None:
      self._eval = self.clips(rng_for(self.seed, EVAL_STREAM), self.eval_size, EVAL_STREAM)
      for array in self._eval.values():
        array.flags.writeable = False
    return split_into_batches(self._eval, batch_size)


@register("moving_mnist")
def _moving_mnist(data_config, seed: int) -> Task:
  knobs = read_knobs(data_config)
  return MovingDigits(knobs, seed, *mnist_arrays(data_config, "moving_mnist"))
