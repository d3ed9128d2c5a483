"""PARALLEL RECURRENCE: h_t = a_t * h_{t-1} + b_t is associative, so it needs no loop.

Shape key: B batch, L length, C input channels, H hidden units, N state units (LRU).

A recurrence whose step is *linear* in the carry (elementwise, with coefficients a_t and
b_t that depend on the input only) composes: applying step (a1, b1) then (a2, b2) is the
single step (a1 a2, a2 b1 + b2). That binary operator is associative, so
`jax.lax.associative_scan` computes all L states in O(log L) depth (Blelloch 1990) —
the third point between `conv.conv1d_vmap` (every position independent) and
`recurrent.scan_sequence` (step t waits for step t-1). `scan_sequential` is the twin:
the same recurrence folded by `recurrent.scan_sequence`; the two are tested equal
forward and backward, and `linear_recurrence(..., impl=)` switches between them.

Masks, not ragged shapes: past a sequence's `length` the coefficients become a = 1,
b = 0, so the carry freezes at the last valid state, and the emitted states are zero.

Two models sit on the core (both causal, both real-input, real-output):
  MinGRU  Feng et al. 2024, "Were RNNs All We Needed?": the GRU with its gates
          computed from x_t alone, h_t = (1 - z_t) h_{t-1} + z_t h~_t.
  LRU     Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long
          Sequences": a complex diagonal linear recurrence with stable exponential
          parametrisation, ring initialisation and gamma normalisation.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import recurrent
from cnnrnn_jax.masks import mask_L

IMPLS = ("associative", "sequential")


def combine(
  earlier: tuple[jax.Array, jax.Array], later: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
  """Composes two linear steps: h -> a1 h + b1, then h -> a2 h + b2."""
  a1, b1 = earlier
  a2, b2 = later
  return a1 * a2, a2 * b1 + b2


def mask_coefficients(
  a_LxH: jax.Array, b_LxH: jax.Array, length: int | jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Past `length` the step is the identity (a = 1, b = 0): the carry freezes."""
  valid_Lx1 = mask_L(length, a_LxH.shape[0])[:, None]
  return jnp.where(valid_Lx1, a_LxH, 1.0), jnp.where(valid_Lx1, b_LxH, 0.0)


def scan_associative(
  a_LxH: jax.Array, b_LxH: jax.Array, h0_H: jax.Array, length: int | jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
  """Parallel form. Returns (last_h_H, h_LxH); h is zero past `length`."""
  L = a_LxH.shape[0]
  length = L if length is None else length
  a_LxH, b_LxH = mask_coefficients(a_LxH, b_LxH, length)
  b_LxH = b_LxH.at[0].add(a_LxH[0] * h0_H)  # fold the initial state into step 0
  _, h_LxH = jax.lax.associative_scan(combine, (a_LxH, b_LxH))
  valid_Lx1 = mask_L(length, L)[:, None]
  return h_LxH[-1], jnp.where(valid_Lx1, h_LxH, 0.0)


def linear_step(params: recurrent.Params, h_H: jax.Array, ab_2H: jax.Array) -> recurrent.StepOut:
  """One step of the recurrence, in `recurrent`'s step signature (a_t, b_t stacked)."""
  del params
  a_H, b_H = jnp.split(ab_2H, 2)
  h_H = a_H * h_H + b_H
  return h_H, (h_H, a_H[None])  # the "gate" of a linear recurrence is its decay a_t


def scan_sequential(
  a_LxH: jax.Array, b_LxH: jax.Array, h0_H: jax.Array, length: int | jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
  """Sequential twin: the same recurrence folded step by step by `recurrent.scan_sequence`."""
  h_H, (h_LxH, _) = recurrent.scan_sequence(
    linear_step, {}, h0_H, jnp.concatenate([a_LxH, b_LxH], -1), length
  )
  return h_H, h_LxH


def linear_recurrence(
  a_LxH: jax.Array,
  b_LxH: jax.Array,
  h0_H: jax.Array | None = None,
  length: int | jax.Array | None = None,
  impl: str = "associative",
) -> tuple[jax.Array, jax.Array]:
  """h_t = a_t * h_{t-1} + b_t over ONE sequence; returns (last_h_H, h_LxH)."""
  h0_H = jnp.zeros(a_LxH.shape[1:], b_LxH.dtype) if h0_H is None else h0_H
  if impl == "associative":
    return scan_associative(a_LxH, b_LxH, h0_H, length)
  if impl == "sequential":
    return scan_sequential(a_LxH, b_LxH, h0_H, length)
  raise ValueError(f"unknown scan impl {impl!r}; use one of {IMPLS}")


# --------------------------------------------------------------------------------------------
# minGRU (Feng et al. 2024)


def mingru_coefficients(params: recurrent.Params, x_LxC: jax.Array) -> tuple[jax.Array, jax.Array]:
  """z_t = sigmoid(x_t Wz + bz), h~_t = x_t Wh + bh; a_t = 1 - z_t, b_t = z_t h~_t."""
  z_LxH, cand_LxH = jnp.split(x_LxC @ params["w"] + params["b"][None, :], 2, axis=-1)
  z_LxH = jax.nn.sigmoid(z_LxH)
  return 1.0 - z_LxH, z_LxH * cand_LxH


class MinGRU(nn.Module):
  """minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201).

  The GRU without the hidden state in its gates: z_t and the candidate h~_t are
  functions of x_t only, so h_t = (1 - z_t) h_{t-1} + z_t h~_t is a linear recurrence
  and runs as a parallel scan. Computed in linear (not log) space: the products of
  a_t in (0, 1) can only underflow towards 0, which is their true limit.

  A time mixer: (x_BxLxC, lengths_B) -> (h_BxLxH, {'gates': z_BxLxH}), zero past each
  length (the state after the last valid step is h at length - 1).
  """

  hidden: int = 128
  impl: str = "associative"

  @nn.compact
  def __call__(
    self, x_BxLxC: jax.Array, lengths_B: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    C = x_BxLxC.shape[-1]
    params = {
      "w": self.param("w", nn.initializers.glorot_uniform(), (C, 2 * self.hidden)),
      "b": self.param("b", nn.initializers.zeros, (2 * self.hidden,)),
    }

    def one_sequence(x_LxC, length):
      a_LxH, b_LxH = mingru_coefficients(params, x_LxC)
      _, h_LxH = linear_recurrence(a_LxH, b_LxH, None, length, self.impl)
      valid_Lx1 = mask_L(length, x_LxC.shape[0])[:, None]
      return h_LxH, jnp.where(valid_Lx1, 1.0 - a_LxH, 0.0)

    h_BxLxH, z_BxLxH = jax.vmap(one_sequence)(x_BxLxC, lengths_B)
    return h_BxLxH, {"gates": z_BxLxH}


# --------------------------------------------------------------------------------------------
# LRU (Orvieto et al. 2023)


def lru_init(
  rng: jax.Array, in_dim: int, state: int, r_min: float, r_max: float, max_phase: float
) -> recurrent.Params:
  """Ring initialisation: |lambda| uniform on [r_min, r_max] (in area), phase in [0, max_phase]."""
  k_u1, k_u2, k_b, k_c, k_d = jax.random.split(rng, 5)
  u1_N = jax.random.uniform(k_u1, (state,))
  u2_N = jax.random.uniform(k_u2, (state,))
  nu_log_N = jnp.log(-0.5 * jnp.log(u1_N * (r_max**2 - r_min**2) + r_min**2))
  theta_log_N = jnp.log(max_phase * u2_N)
  modulus_N = jnp.exp(-jnp.exp(nu_log_N))
  b_2xNxC = jax.random.normal(k_b, (2, state, in_dim)) / math.sqrt(2 * in_dim)
  c_2xCxN = jax.random.normal(k_c, (2, in_dim, state)) / math.sqrt(state)
  return {
    "nu_log": nu_log_N,
    "theta_log": theta_log_N,
    "gamma_log": jnp.log(jnp.sqrt(1.0 - modulus_N**2)),
    "B": b_2xNxC,
    "C": c_2xCxN,
    "D": jax.random.normal(k_d, (in_dim,)),
  }


def lru_coefficients(params: recurrent.Params, x_LxC: jax.Array) -> tuple[jax.Array, jax.Array]:
  """lambda = exp(-exp(nu) + i exp(theta)); a_t = lambda, b_t = gamma * (B x_t) (complex)."""
  lam_N = jnp.exp(-jnp.exp(params["nu_log"]) + 1j * jnp.exp(params["theta_log"]))
  b_NxC = params["B"][0] + 1j * params["B"][1]
  bx_LxN = (x_LxC.astype(jnp.complex64) @ b_NxC.T) * jnp.exp(params["gamma_log"])[None, :]
  return jnp.broadcast_to(lam_N[None, :], bx_LxN.shape), bx_LxN


def lru_readout(params: recurrent.Params, h_LxN: jax.Array, x_LxC: jax.Array) -> jax.Array:
  """y_t = Re(C h_t) + D * x_t, in x's dtype (the state is complex64: there is no bfloat16
  complex type, so under mixed precision the LRU's recurrence stays in complex64)."""
  c_CxN = params["C"][0] + 1j * params["C"][1]
  return ((h_LxN @ c_CxN.T).real + params["D"][None, :] * x_LxC).astype(x_LxC.dtype)


class LRU(nn.Module):
  """Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks
  for Long Sequences", ICML, arXiv:2303.06349).

  A complex diagonal recurrence h_t = lambda * h_{t-1} + gamma * (B x_t) with
  lambda = exp(-exp(nu) + i exp(theta)) (|lambda| < 1 by construction), read out as
  y_t = Re(C h_t) + D * x_t. Output width = input width C; `state` is N.

  A time mixer: (x_BxLxC, lengths_B) -> (y_BxLxC, {'state_modulus': |h|_BxLxN}), zero
  past each length.
  """

  state: int = 128
  impl: str = "associative"
  r_min: float = 0.9
  r_max: float = 0.999
  max_phase: float = 2 * math.pi

  @nn.compact
  def __call__(
    self, x_BxLxC: jax.Array, lengths_B: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    params = self.param(
      "lru", lru_init, x_BxLxC.shape[-1], self.state, self.r_min, self.r_max, self.max_phase
    )

    def one_sequence(x_LxC, length):
      a_LxN, b_LxN = lru_coefficients(params, x_LxC)
      _, h_LxN = linear_recurrence(a_LxN, b_LxN, None, length, self.impl)
      valid_Lx1 = mask_L(length, x_LxC.shape[0])[:, None]
      y_LxC = jnp.where(valid_Lx1, lru_readout(params, h_LxN, x_LxC), 0.0)
      return y_LxC, jnp.abs(h_LxN)

    y_BxLxC, modulus_BxLxN = jax.vmap(one_sequence)(x_BxLxC, lengths_B)
    return y_BxLxC, {"state_modulus": modulus_BxLxN}
