"""SEQUENTIAL: a recurrence is a step function folded over time with `jax.lax.scan`.

Shape key: B batch, L length, C input channels, H hidden units, G = gates x H.

Step t needs the carry of step t-1, so nothing here can be vmapped over time: the
driver `scan_sequence` is one `jax.lax.scan` over the L steps of ONE sequence (the
mirror image of `conv.conv1d_vmap`, which vmaps over positions). Modules vmap it over
the batch once, at the boundary.

A step function has the signature `step(params, carry, x_C) -> (carry, (h_H, gates))`:
  elman_step  h' = tanh(x Wx + h Wh + b)
  lstm_step   Hochreiter & Schmidhuber 1997 with a forget gate (gate order i, f, g, o)
  gru_step    Cho et al. 2014 in the cuDNN/torch/Flax form: n = tanh(x Wxn + bxn + r*(h Whn + bhn))

`scan_sequence` is the didactic form and the reference. Its fast twin for a whole batch,
`recurrent_fused.fused_scan` (same numbers, tested equal), has a hand-written backward
pass that keeps only what truly is sequential inside its loop and computes every weight
gradient as one matmul over all (step, sequence) pairs. `RNN(impl=...)` switches between
them; `experiments/benchmark.py` times both (docs/performance.md).

Masks, not ragged shapes: past a sequence's `length` the carry is frozen and the
emitted outputs are zero, so padding never changes a result. `reverse=True` reads
each sequence backwards *within its length* (pads stay at the end).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax.recurrent_fused import fused_scan

Params = dict[str, jax.Array]
Carry = Any
StepOut = tuple[Carry, tuple[jax.Array, jax.Array]]  # (carry, (h_H, gates_NxH))
StepFn = Callable[[Params, Carry, jax.Array], StepOut]


def elman_step(params: Params, h_H: jax.Array, x_C: jax.Array) -> StepOut:
  """h' = tanh(x Wx + h Wh + b)."""
  h_H = jnp.tanh(x_C @ params["w_x"] + h_H @ params["w_h"] + params["b"])
  return h_H, (h_H, h_H[None])  # an Elman cell has no gates; its "gate" is h itself


def lstm_step(params: Params, carry: Carry, x_C: jax.Array) -> StepOut:
  """(c, h) -> (c', h'); gates i, f, o are reported (g is the candidate, not a gate)."""
  c_H, h_H = carry
  z_G = x_C @ params["w_x"] + h_H @ params["w_h"] + params["b"]
  i_H, f_H, g_H, o_H = jnp.split(z_G, 4)
  i_H, f_H, o_H = jax.nn.sigmoid(i_H), jax.nn.sigmoid(f_H), jax.nn.sigmoid(o_H)
  c_H = f_H * c_H + i_H * jnp.tanh(g_H)
  h_H = o_H * jnp.tanh(c_H)
  return (c_H, h_H), (h_H, jnp.stack([i_H, f_H, o_H]))


def gru_step(params: Params, h_H: jax.Array, x_C: jax.Array) -> StepOut:
  """h -> h' with reset gate r and update gate z (both reported)."""
  xr_H, xz_H, xn_H = jnp.split(x_C @ params["w_x"] + params["b_x"], 3)
  hr_H, hz_H, hn_H = jnp.split(h_H @ params["w_h"] + params["b_h"], 3)
  r_H = jax.nn.sigmoid(xr_H + hr_H)
  z_H = jax.nn.sigmoid(xz_H + hz_H)
  n_H = jnp.tanh(xn_H + r_H * hn_H)
  h_H = (1.0 - z_H) * n_H + z_H * h_H
  return h_H, (h_H, jnp.stack([r_H, z_H]))


IMPLS = ("scan", "fused")  # RNN(impl=...): vmap of scan_sequence | fused_scan

CELLS: dict[str, tuple[StepFn, int]] = {  # name -> (step function, gates per unit)
  "rnn": (elman_step, 1),
  "lstm": (lstm_step, 4),
  "gru": (gru_step, 3),
}


def initial_carry(cell: str, hidden: int, dtype: jnp.dtype = jnp.float32) -> Carry:
  """Zeros: h_H, or (c_H, h_H) for an LSTM."""
  h_H = jnp.zeros((hidden,), dtype)
  return (h_H, h_H) if cell == "lstm" else h_H


def reverse_within_length(x_LxC: jax.Array, length: int | jax.Array) -> jax.Array:
  """Reverses the first `length` steps and leaves the padding where it is."""
  t_L = jnp.arange(x_LxC.shape[0])
  return x_LxC[jnp.where(t_L < length, length - 1 - t_L, t_L)]


def scan_sequence(
  step: StepFn,
  params: Params,
  carry: Carry,
  x_LxC: jax.Array,
  length: int | jax.Array | None = None,
  reverse: bool = False,
  unroll: int = 1,
) -> StepOut:
  """Runs `step` over ONE sequence with `jax.lax.scan`.

  Returns (last_carry, (h_LxH, gates_LxNxH)): the carry at the last valid step, and
  per-step outputs and gate values that are zero past `length`. With `reverse=True`
  the sequence is read from its last valid step to its first and the outputs are
  put back in input order (h_t is then the summary of steps t..length-1).
  """
  length = x_LxC.shape[0] if length is None else length
  if reverse:
    x_LxC = reverse_within_length(x_LxC, length)

  def masked_step(carry, inputs):
    t, x_C = inputs
    new_carry, (h_H, gates) = step(params, carry, x_C)
    valid = t < length
    carry = jax.tree.map(lambda new, old: jnp.where(valid, new, old), new_carry, carry)
    return carry, (jnp.where(valid, h_H, 0.0), jnp.where(valid, gates, 0.0))

  steps_L = jnp.arange(x_LxC.shape[0])
  carry, (h_LxH, gates_LxNxH) = jax.lax.scan(masked_step, carry, (steps_L, x_LxC), unroll=unroll)
  if reverse:
    h_LxH = reverse_within_length(h_LxH, length)
    gates_LxNxH = reverse_within_length(gates_LxNxH, length)
  return carry, (h_LxH, gates_LxNxH)


def init_cell_params(
  rng: jax.Array, cell: str, in_dim: int, hidden: int, dtype: jnp.dtype = jnp.float32
) -> Params:
  """Glorot-uniform input weights, orthogonal recurrent weights per gate, zero biases
  (the LSTM forget gate starts at +1, Jozefowicz et al. 2015)."""
  num_gates = CELLS[cell][1]
  k_x, k_h = jax.random.split(rng)
  w_x = nn.initializers.glorot_uniform()(k_x, (in_dim, num_gates * hidden), dtype)
  w_h = jnp.concatenate(
    [
      nn.initializers.orthogonal()(k, (hidden, hidden), dtype)
      for k in jax.random.split(k_h, num_gates)
    ],
    axis=1,
  )
  if cell == "gru":
    return {
      "w_x": w_x,
      "w_h": w_h,
      "b_x": jnp.zeros((3 * hidden,), dtype),
      "b_h": jnp.zeros((3 * hidden,), dtype),
    }
  b = jnp.zeros((num_gates * hidden,), dtype)
  if cell == "lstm":
    b = b.at[hidden : 2 * hidden].set(1.0)
  return {"w_x": w_x, "w_h": w_h, "b": b}


class RNN(nn.Module):
  """Thin shell over the recurrence: declares the cell's weights, runs the batch.

  impl='scan' vmaps `scan_sequence` over the batch (the didactic form); impl='fused'
  calls `recurrent_fused.fused_scan` (the same numbers, faster to train).
  Returns (h_BxLxH, last_h_BxH, gates_BxLxNxH). `last_h` is the hidden state after
  the last valid step (for `reverse`: after reading the whole sequence backwards).
  """

  cell: str = "lstm"
  hidden: int = 128
  reverse: bool = False
  unroll: int = 1
  impl: str = "fused"

  @nn.compact
  def __call__(
    self, x_BxLxC: jax.Array, lengths_B: jax.Array
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    if self.cell not in CELLS:
      raise ValueError(f"unknown cell {self.cell!r}; use one of {sorted(CELLS)}")
    if self.impl not in IMPLS:
      raise ValueError(f"unknown recurrence impl {self.impl!r}; use one of {IMPLS}")
    step, _ = CELLS[self.cell]
    params = self.param("cell", init_cell_params, self.cell, x_BxLxC.shape[-1], self.hidden)
    carry0 = initial_carry(self.cell, self.hidden, x_BxLxC.dtype)

    if self.impl == "fused":
      carry0_B = jax.tree.map(
        lambda s_H: jnp.broadcast_to(s_H, (x_BxLxC.shape[0],) + s_H.shape), carry0
      )
      carry, (h_BxLxH, gates) = fused_scan(
        self.cell, params, carry0_B, x_BxLxC, lengths_B, self.reverse, self.unroll
      )
      return h_BxLxH, carry[1] if self.cell == "lstm" else carry, gates

    def one_sequence(x_LxC, length):
      carry, (h_LxH, gates) = scan_sequence(
        step, params, carry0, x_LxC, length, self.reverse, self.unroll
      )
      last_h_H = carry[1] if self.cell == "lstm" else carry
      return h_LxH, last_h_H, gates

    return jax.vmap(one_sequence)(x_BxLxC, lengths_B)


class Bidirectional(nn.Module):
  """A forward and a reverse RNN; outputs concatenated along features (2H)."""

  cell: str = "lstm"
  hidden: int = 128
  unroll: int = 1
  impl: str = "fused"

  @nn.compact
  def __call__(
    self, x_BxLxC: jax.Array, lengths_B: jax.Array
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    fwd = RNN(
      self.cell, self.hidden, reverse=False, unroll=self.unroll, impl=self.impl, name="forward"
    )
    bwd = RNN(
      self.cell, self.hidden, reverse=True, unroll=self.unroll, impl=self.impl, name="backward"
    )
    h_f, last_f, gates_f = fwd(x_BxLxC, lengths_B)
    h_b, last_b, gates_b = bwd(x_BxLxC, lengths_B)
    return (
      jnp.concatenate([h_f, h_b], -1),
      jnp.concatenate([last_f, last_b], -1),
      jnp.concatenate([gates_f, gates_b], -1),
    )
