"""Benchmark cases: one implementation at one shape, compiled and ready to time.

Shape key: B batch, T length, I input channels, H hidden units, C channels, F filters,
K convolution width, E embedding width, D model width, N matmul side, S frame side.

Every builder returns a forward case and a forward+backward case of (params, inputs):
"fwd+bwd" is the value and gradient of a fixed linear function of the outputs with
respect to parameters and inputs (the value keeps XLA from dropping the forward pass of
a layer that is linear in its parameters); for the Kim CNN and LSTM *models* it is the
gradient of the real train-mode classification loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnrnn_jax import attention, conv, conv2d, linear_scan, metrics, models, recurrent
from cnnrnn_jax.bench import cost
from cnnrnn_jax.tasks.base import TaskSpec

FLAX_CELLS = {"lstm": "OptimizedLSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}
HLO_FAMILIES = ("conv", "kim_cnn")  # whose optimized HLO is counted op by op


@dataclasses.dataclass
class Case:
  """One implementation at one shape, compiled (or a torch closure) and ready to time."""

  suite: str
  family: str
  impl: str
  mode: str  # fwd | fwd+bwd
  dims: dict[str, int]
  call: Callable | None
  args: tuple
  compile_s: float | None = None
  temp_mb: float | None = None
  flops: float | None = None
  note: str = ""
  times: list[float] = dataclasses.field(default_factory=list)
  hlo: dict[str, int] = dataclasses.field(default_factory=dict)  # op counts (conv families)


def _normal(seed: int, shape: Sequence[int]) -> jax.Array:
  return jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


def jax_case(
  suite: str,
  family: str,
  impl: str,
  mode: str,
  dims: dict[str, int],
  fn: Callable,
  args: tuple,
  note: str = "",
) -> Case:
  """`fn(*args)` compiled, with its compile time, temporary memory, scan-aware FLOPs and
  (for the convolution families) the op counts of its optimized HLO."""
  compiled = cost.compile_timed(fn, *args)
  try:
    flops = cost.scan_aware_flops(fn, *args)["flops"]
  except Exception as e:  # a count we cannot make is no reason to stop timing
    flops, note = None, f"{note} FLOPs not counted: {type(e).__name__}: {e}".strip()[:200]
  temp_mb = None if compiled.temp_bytes is None else compiled.temp_bytes / 2**20
  hlo = cost.hlo_op_counts(compiled.call) if family in HLO_FAMILIES else {}
  return Case(
    suite,
    family,
    impl,
    mode,
    dims,
    compiled.call,
    args,
    compiled.compile_s,
    temp_mb,
    flops,
    note,
    hlo=hlo,
  )


def _pair(
  suite: str,
  family: str,
  impl: str,
  dims: dict[str, int],
  apply: Callable,
  params: Any,
  inputs: Any,
) -> list[Case]:
  """[fwd case, fwd+bwd case] of `apply(params, inputs)`."""
  out_shape = jax.eval_shape(apply, params, inputs).shape
  w_out = _normal(99, out_shape)
  grad = jax.value_and_grad(lambda p, x: jnp.sum(apply(p, x) * w_out), argnums=(0, 1))
  return [
    jax_case(suite, family, impl, "fwd", dims, apply, (params, inputs)),
    jax_case(suite, family, impl, "fwd+bwd", dims, grad, (params, inputs)),
  ]


def recurrent_cases(suite: str, cell: str, impl: str, B: int, T: int, I: int, H: int) -> list[Case]:
  """Our RNN layer (impl 'fused' | 'scan') or Flax nn.RNN ('flax', 'flax_lstmcell')."""
  x = _normal(1, (B, T, I))
  lengths = jnp.full((B,), T, jnp.int32)
  if impl in recurrent.IMPLS:
    layer = recurrent.RNN(cell, H, impl=impl)
    apply = lambda p, x: layer.apply(p, x, lengths)[0]
    params = layer.init(jax.random.PRNGKey(0), x, lengths)
  else:
    cell_cls = nn.LSTMCell if impl == "flax_lstmcell" else getattr(nn, FLAX_CELLS[cell])
    flax_layer = nn.RNN(cell_cls(H))
    apply = flax_layer.apply
    params = flax_layer.init(jax.random.PRNGKey(0), x)
  return _pair(suite, cell, impl, dict(B=B, T=T, I=I, H=H), apply, params, x)


def conv_cases(suite: str, impl: str, B: int, T: int, C: int, F: int, K: int) -> list[Case]:
  """One Conv1D layer ('same' padding) of width K."""
  x = _normal(2, (B, T, C))
  layer = conv.Conv1D(F, K, "same", impl=impl)
  params = layer.init(jax.random.PRNGKey(0), x)
  return _pair(suite, "conv", impl, dict(B=B, T=T, C=C, F=F, K=K), layer.apply, params, x)


def conv2d_cases(suite: str, impl: str, B: int, S: int, C: int, F: int) -> list[Case]:
  """One 3x3 'same' ConvND layer over B frames of S x S pixels and C channels."""
  x = _normal(8, (B, S, S, C))
  layer = conv2d.ConvND(F, (3, 3), "same", impl=impl)
  params = layer.init(jax.random.PRNGKey(0), x)
  return _pair(suite, "conv2d", impl, dict(B=B, S=S, C=C, F=F, K=3), layer.apply, params, x)


def _model_cases(
  suite: str, family: str, impl: str, encoder: nn.Module, B: int, T: int, E: int, vocab: int
) -> list[Case]:
  """A whole SequenceModel (embedding, encoder, dropout, head): forward in eval mode,
  fwd+bwd = the gradient of the train-mode classification loss (metrics.loss_and_sums)."""
  spec = TaskSpec("classify", num_outputs=2, seq_len=T, vocab_size=vocab)
  model = models.SequenceModel(spec, encoder, embed_dim=E, dropout=0.1)
  k_in, k_y = jax.random.split(jax.random.PRNGKey(3))
  batch = {
    "inputs": jax.random.randint(k_in, (B, T), 1, vocab),
    "lengths": jnp.full((B,), T, jnp.int32),
    "targets": jax.random.randint(k_y, (B,), 0, 2),
    "weights": jnp.ones((B,), jnp.float32),
  }
  params = model.init(jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])
  rng = jax.random.PRNGKey(4)

  def forward(p, batch):
    return model.apply(p, batch["inputs"], batch["lengths"])[0]

  def loss(p, batch):
    outputs, _ = model.apply(
      p, batch["inputs"], batch["lengths"], train=True, rngs={"dropout": rng}
    )
    return metrics.loss_and_sums(spec, outputs, batch)[0]

  dims = dict(B=B, T=T, E=E)
  return [
    jax_case(suite, family, impl, "fwd", dims, forward, (params, batch)),
    jax_case(suite, family, impl, "fwd+bwd", dims, jax.value_and_grad(loss), (params, batch)),
  ]


def kim_cnn_cases(
  suite: str, impl: str, B: int, T: int, E: int, F: int, widths: Sequence[int], vocab: int
) -> list[Case]:
  """Kim's CNN model: convolutions of `widths` ('valid', F maps each), max-over-time."""
  encoder = models.TextCNN(tuple(widths), F, "valid", impl)
  return _model_cases(suite, "kim_cnn", impl, encoder, B, T, E, vocab)


def lstm_model_cases(
  suite: str, impl: str, B: int, T: int, E: int, H: int, vocab: int
) -> list[Case]:
  """The same model around one LSTM layer of H units instead of the convolutions."""
  encoder = models.RecurrentEncoder("lstm", H, impl=impl)
  return _model_cases(suite, "lstm_model", impl, encoder, B, T, E, vocab)


def linear_cases(suite: str, impl: str, B: int, T: int, H: int) -> list[Case]:
  """h_t = a_t h_{t-1} + b_t over B sequences (a in (0, 1))."""
  inputs = (jax.nn.sigmoid(_normal(5, (B, T, H))), _normal(6, (B, T, H)))
  run = jax.vmap(lambda a, b: linear_scan.linear_recurrence(a, b, impl=impl)[1])
  return _pair(suite, "linear", impl, dict(B=B, T=T, H=H), lambda p, ab: run(*ab), {}, inputs)


def attention_cases(suite: str, B: int, T: int, D: int, heads: int) -> list[Case]:
  """One multi-head self-attention layer of width D over full-length sequences."""
  x = _normal(7, (B, T, D))
  lengths = jnp.full((B,), T, jnp.int32)
  layer = attention.SelfAttention(num_heads=heads)
  params = layer.init(jax.random.PRNGKey(0), x, lengths)
  dims = dict(B=B, T=T, D=D, heads=heads)
  apply = lambda p, x: layer.apply(p, x, lengths)[0]
  return _pair(suite, "attention", "self_attention", dims, apply, params, x)


def ceiling_case(suite: str, n: int) -> Case:
  """XLA's N x N float32 matmul: the machine's ceiling, timed in the same rounds."""
  compiled, args, flops = cost.matmul_ceiling_case(n)
  temp_mb = (compiled.temp_bytes or 0) / 2**20
  return Case(
    suite,
    "matmul",
    "jnp.matmul",
    "fwd",
    dict(N=n),
    compiled.call,
    args,
    compiled.compile_s,
    temp_mb,
    flops,
  )
