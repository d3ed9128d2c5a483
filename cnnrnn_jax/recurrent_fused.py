"""The fast twin of `recurrent.scan_sequence`: a whole batch at once, with a hand-written backward.

Shape key: B batch, L length, C input channels, H hidden units, G = gates x H,
A = activations saved per step (5H lstm, 4H gru, H rnn).

Differentiating `scan_sequence` makes JAX do four small matmuls per step in the backward
loop: dh and dx_t, and the weight gradients accumulated one (H x B) @ (B x G) product and
one H x G add at a time. The fused backward keeps only what is truly sequential inside its
loop (dz @ W_h^T) and computes dW_x, dW_h and dx after it, as single matmuls over all L*B
(step, sequence) pairs, which use both cores fully. It is written for a batch, time-major
(x_LxBxC), because those matmuls contract over the batch too: under vmap, JAX would compute
one weight gradient per sequence and sum them.

Per cell there is a forward step (which also applies the length mask) and its backward; the
activations `acts_BxA` saved by the forward step are all the backward step needs besides the
previous carry. Carries are tuples here, with h last: lstm (c, h), rnn and gru (h,).

`fused_scan` returns exactly what vmapping `scan_sequence` over the batch returns (tested
equal, values and gradients); `recurrent.RNN(impl='fused')` calls it.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from cnnrnn_jax.masks import mask_BxL

Params = dict[str, jax.Array]
Carry = Any


def _sigmoid(x):
  """sigmoid(x) = (1 + tanh(x / 2)) / 2: the same function, but XLA:CPU evaluates tanh
  about 5x faster than its logistic op (measured over 16M float32 values)."""
  return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _elman_forward(params, carry, zx_BxG, valid_Bx1):
  h_BxH = jnp.where(valid_Bx1, jnp.tanh(zx_BxG + carry[0] @ params["w_h"]), carry[0])
  return (h_BxH,), h_BxH


def _elman_backward(params, d_cand, d_acts_BxA, acts_BxA, prev):
  del prev
  h_BxH = acts_BxA
  dpre_BxG = (d_cand[0] + d_acts_BxA) * (1.0 - h_BxH * h_BxH)
  return (dpre_BxG @ params["w_h"].T,), dpre_BxG, None


def _lstm_forward(params, carry, zx_BxG, valid_Bx1):
  c_BxH, h_BxH = carry
  i, f, g, o = jnp.split(zx_BxG + h_BxH @ params["w_h"], 4, axis=-1)
  i, f, g, o = _sigmoid(i), _sigmoid(f), jnp.tanh(g), _sigmoid(o)
  # h from the already-masked c (a frozen step's h is discarded by its own mask): each
  # value then has one consumer and XLA fuses the step into fewer kernels.
  c_BxH = jnp.where(valid_Bx1, f * c_BxH + i * g, c_BxH)
  h_BxH = jnp.where(valid_Bx1, o * jnp.tanh(c_BxH), h_BxH)
  return (c_BxH, h_BxH), jnp.concatenate([i, f, g, o, c_BxH], -1)


def _lstm_backward(params, d_cand, d_acts_BxA, acts_BxA, prev):
  dc, dh = d_cand
  i, f, g, o, c = jnp.split(acts_BxA, 5, axis=-1)
  di_x, df_x, dg_x, do_x, dc_x = jnp.split(d_acts_BxA, 5, axis=-1)
  tanh_c = jnp.tanh(c)
  dc = dc + dc_x + dh * o * (1.0 - tanh_c * tanh_c)
  di, df = dc * g + di_x, dc * prev[0] + df_x
  dg, do = dc * i + dg_x, dh * tanh_c + do_x
  dz_BxG = jnp.concatenate(
    [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), do * o * (1.0 - o)], -1
  )
  return (dc * f, dz_BxG @ params["w_h"].T), dz_BxG, None


def _gru_forward(params, carry, zx_BxG, valid_Bx1):
  h_BxH = carry[0]
  xr, xz, xn = jnp.split(zx_BxG, 3, axis=-1)
  hr, hz, hn = jnp.split(h_BxH @ params["w_h"] + params["b_h"][None, :], 3, axis=-1)
  r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
  n = jnp.tanh(xn + r * hn)
  h_BxH = jnp.where(valid_Bx1, (1.0 - z) * n + z * h_BxH, h_BxH)
  return (h_BxH,), jnp.concatenate([r, z, n, hn], -1)


def _gru_backward(params, d_cand, d_acts_BxA, acts_BxA, prev):
  dh, h_prev = d_cand[0], prev[0]
  r, z, n, hn = jnp.split(acts_BxA, 4, axis=-1)
  dr_x, dz_x, dn_x, dhn_x = jnp.split(d_acts_BxA, 4, axis=-1)
  dn = (dh * (1.0 - z) + dn_x) * (1.0 - n * n)
  dr = (dn * hn + dr_x) * r * (1.0 - r)
  dz = (dh * (h_prev - n) + dz_x) * z * (1.0 - z)
  dzh_BxG = jnp.concatenate([dr, dz, dn * r + dhn_x], -1)  # through h @ W_h + b_h
  dzx_BxG = jnp.concatenate([dr, dz, dn], -1)  # through x @ W_x + b_x
  return (dh * z + dzh_BxG @ params["w_h"].T,), dzx_BxG, dzh_BxG


# name -> (forward step, backward step, input bias, names of the gates in `acts`)
_FUSED = {
  "rnn": (_elman_forward, _elman_backward, "b", (0,)),  # h itself
  "lstm": (_lstm_forward, _lstm_backward, "b", (0, 1, 3)),  # i, f, o of (i, f, g, o, c)
  "gru": (_gru_forward, _gru_backward, "b_x", (0, 1)),  # r, z of (r, z, n, hn)
}
_NUM_ACTS = {"rnn": 1, "lstm": 5, "gru": 4}


def _valid_Bx1(t, lengths_B):
  return (t < lengths_B)[:, None]


def _fused_forward(cell, reverse, unroll, params, carry0, x_LxBxC, lengths_B):
  """Scans the batch; emits the carry's h after every step (frozen past a length)
  and the activations the backward needs."""
  forward_step, _, bias, _ = _FUSED[cell]

  def step(carry, inputs):
    t, x_BxC = inputs
    # x @ W_x stays inside the loop: hoisted out, it is one big matmul, but it writes
    # L x B x G to memory and reads it back, which measured slower on a 2-core CPU.
    zx_BxG = x_BxC @ params["w_x"] + params[bias][None, :]
    carry, acts_BxA = forward_step(params, carry, zx_BxG, _valid_Bx1(t, lengths_B))
    return carry, (carry[-1], acts_BxA)

  steps_L = jnp.arange(x_LxBxC.shape[0])
  return jax.lax.scan(step, carry0, (steps_L, x_LxBxC), reverse=reverse, unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _fused(cell, reverse, unroll, params, carry0, x_LxBxC, lengths_B):
  """(last carry, carry h after each step, activations). Activations are differentiated
  at valid steps only (the caller masks them, so they get no other cotangent)."""
  carry, (h_LxBxH, acts_LxBxA) = _fused_forward(
    cell, reverse, unroll, params, carry0, x_LxBxC, lengths_B
  )
  return carry, h_LxBxH, acts_LxBxA


def _fused_fwd(cell, reverse, unroll, params, carry0, x_LxBxC, lengths_B):
  out = _fused(cell, reverse, unroll, params, carry0, x_LxBxC, lengths_B)
  return out, (params, carry0, x_LxBxC, lengths_B, out[1], out[2])


def _previous_carries(cell, carry0, h_LxBxH, acts_LxBxA, reverse):
  """The carry each step started from: the one emitted by the step read before it."""
  states = [h_LxBxH]
  if cell == "lstm":
    states.insert(0, jnp.split(acts_LxBxA, 5, axis=-1)[4])  # c, saved by the forward
  if reverse:
    return tuple(
      jnp.concatenate([s_LxBxH[1:], s0_BxH[None]], 0) for s_LxBxH, s0_BxH in zip(states, carry0)
    )
  return tuple(
    jnp.concatenate([s0_BxH[None], s_LxBxH[:-1]], 0) for s_LxBxH, s0_BxH in zip(states, carry0)
  )


def _pairs_matmul(a_LxBxK, d_LxBxG):
  """a^T d summed over all L*B (step, sequence) pairs: K x G. Flattened to one 2-D
  matmul first: XLA:CPU ran the 3-D einsum over (l, b) measurably slower."""
  a_NxK = a_LxBxK.reshape(-1, a_LxBxK.shape[-1])
  return a_NxK.T @ d_LxBxG.reshape(-1, d_LxBxG.shape[-1])


def _fused_bwd(cell, reverse, unroll, residuals, cotangents):
  params, carry0, x_LxBxC, lengths_B, h_LxBxH, acts_LxBxA = residuals
  d_carry, dh_LxBxH, d_acts_LxBxA = cotangents
  _, backward_step, bias, _ = _FUSED[cell]
  prev = _previous_carries(cell, carry0, h_LxBxH, acts_LxBxA, reverse)

  def step(d_carry, inputs):
    t, dh_BxH, d_acts_BxA, acts_BxA, prev_t = inputs
    valid_Bx1 = _valid_Bx1(t, lengths_B)
    d_carry = d_carry[:-1] + (d_carry[-1] + dh_BxH,)  # the emitted h is the carry's h
    d_step = tuple(jnp.where(valid_Bx1, d, 0.0) for d in d_carry)
    d_prev, dzx_BxG, dzh_BxG = backward_step(
      params, d_step, jnp.where(valid_Bx1, d_acts_BxA, 0.0), acts_BxA, prev_t
    )
    # A frozen step passes its carry's cotangent straight to the step before.
    d_carry = tuple(dp + jnp.where(valid_Bx1, 0.0, d) for dp, d in zip(d_prev, d_carry))
    return d_carry, (dzx_BxG, dzh_BxG)

  steps_L = jnp.arange(x_LxBxC.shape[0])
  d_carry0, (dzx_LxBxG, dzh_LxBxG) = jax.lax.scan(
    step,
    d_carry,
    (steps_L, dh_LxBxH, d_acts_LxBxA, acts_LxBxA, prev),
    reverse=not reverse,
    unroll=unroll,
  )
  dzh_LxBxG = dzx_LxBxG if dzh_LxBxG is None else dzh_LxBxG
  grads = {"w_x": _pairs_matmul(x_LxBxC, dzx_LxBxG), "w_h": _pairs_matmul(prev[-1], dzh_LxBxG)}
  grads[bias] = jnp.sum(dzx_LxBxG, axis=(0, 1))
  if cell == "gru":
    grads["b_h"] = jnp.sum(dzh_LxBxG, axis=(0, 1))
  dx_LxBxC = (dzx_LxBxG.reshape(-1, dzx_LxBxG.shape[-1]) @ params["w_x"].T).reshape(x_LxBxC.shape)
  return grads, d_carry0, dx_LxBxC, None


_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_scan(
  cell: str,
  params: Params,
  carry: Carry,
  x_BxLxC: jax.Array,
  lengths_B: jax.Array | None = None,
  reverse: bool = False,
  unroll: int = 1,
) -> tuple[Carry, tuple[jax.Array, jax.Array]]:
  """B sequences at once; the same numbers as vmapping `scan_sequence` over the batch.

  `carry` holds batched states (B x H each, as `recurrent.initial_carry` has H). Returns
  (last_carry, (h_BxLxH, gates_BxLxNxH)) exactly like
  `jax.vmap(recurrent.scan_sequence(recurrent.CELLS[cell][0], params, ...))`.
  Differentiable in reverse mode (a custom VJP); use `scan_sequence` where forward-mode
  derivatives are needed.
  """
  if cell not in _FUSED:
    raise ValueError(f"unknown cell {cell!r}; use one of {sorted(_FUSED)}")
  B, L = x_BxLxC.shape[:2]
  lengths_B = jnp.full((B,), L, jnp.int32) if lengths_B is None else lengths_B
  carry0 = tuple(carry) if cell == "lstm" else (carry,)
  carry, h_LxBxH, acts_LxBxA = _fused(
    cell, reverse, unroll, params, carry0, jnp.swapaxes(x_BxLxC, 0, 1), lengths_B
  )
  valid_LxBx1 = mask_BxL(lengths_B, L).T[:, :, None]
  acts = jnp.split(acts_LxBxA, _NUM_ACTS[cell], axis=-1)
  gates_LxBxNxH = jnp.stack([acts[k] for k in _FUSED[cell][3]], axis=2)
  gates_LxBxNxH = jnp.where(valid_LxBx1[..., None], gates_LxBxNxH, 0.0)
  h_LxBxH = jnp.where(valid_LxBx1, h_LxBxH, 0.0)
  carry = carry if cell == "lstm" else carry[0]
  return carry, (jnp.swapaxes(h_LxBxH, 0, 1), jnp.swapaxes(gates_LxBxNxH, 0, 1))
