"""torch peers: nn.LSTM / GRU / RNN / Conv1d and torch's own matmul, timed next to ours.

torch is optional (`pip install -e ".[bench]"`): `load_torch` imports it when a benchmark
asks for peers, and every function here takes the module. The peers run on the GPU when
JAX runs on one too (and torch sees it); torch's FLOPs are those of our fused twin of the
same layer (the same arithmetic).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax

from cnnrnn_jax.bench.cases import Case
from cnnrnn_jax.errors import ConfigError

TORCH_LAYERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def load_torch() -> ModuleType:
  """The torch module, or a ConfigError that says how to install it."""
  try:
    return importlib.import_module("torch")
  except ImportError as e:
    raise ConfigError(
      "--with_torch needs torch: pip install -e '.[bench]' (or pip install torch)"
    ) from e


def device(torch: ModuleType) -> str:
  """Where the torch peers run: the GPU when JAX runs on one too (and torch sees it)."""
  return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _synced(torch: ModuleType, fn: Callable, on_gpu: bool) -> Callable:
  """`fn`, waiting for the GPU before it returns (torch launches asynchronously)."""
  if not on_gpu:
    return fn

  def call():
    out = fn()
    torch.cuda.synchronize()
    return out

  return call


def ceiling_case(torch: ModuleType, suite: str, n: int) -> Case:
  """torch's N x N float32 matmul: the peer's own ceiling, timed in the same rounds."""
  a, b = (torch.randn(n, n, device=device(torch)) for _ in range(2))
  call = _synced(torch, lambda: a @ b, a.is_cuda)
  return Case(suite, "matmul", "torch.matmul", "fwd", dict(N=n), call, (), flops=2.0 * n**3)


def _pair(
  torch: ModuleType,
  suite: str,
  family: str,
  dims: dict[str, int],
  layer: Any,
  x: Any,
  w_out: Any,
  flops_by_mode: dict[str, float | None],
) -> list[Case]:
  """fwd (no_grad) and fwd+bwd (backward of <outputs, fixed weights>) closures, once with
  torch's default thread count and once with one thread: under load from other
  processes, torch's OpenMP threads lose more than a single thread does, so the target
  ratios use whichever is faster (the peer's best). On a GPU: one variant, and each
  call waits for the device (torch launches asynchronously)."""
  threads = torch.get_num_threads()
  on_gpu = x.is_cuda

  def run(fn, n):
    def call():
      torch.set_num_threads(n)
      try:
        return fn()
      finally:
        torch.set_num_threads(threads)

    return _synced(torch, call, on_gpu)

  def forward():
    with torch.no_grad():
      return layer(x)[0] if family != "conv" else layer(x)

  def fwd_bwd():
    layer.zero_grad(set_to_none=True)
    x.grad = None
    out = layer(x)[0] if family != "conv" else layer(x)
    out.backward(w_out)

  variants = (("torch", threads),) if on_gpu else (("torch", threads), ("torch_1thread", 1))
  return [
    Case(suite, family, impl, mode, dims, run(fn, n), (), flops=flops_by_mode.get(mode))
    for impl, n in variants
    for mode, fn in (("fwd", forward), ("fwd+bwd", fwd_bwd))
  ]


def recurrent_cases(
  torch: ModuleType,
  suite: str,
  cell: str,
  B: int,
  T: int,
  I: int,
  H: int,
  flops_by_mode: dict[str, float | None],
) -> list[Case]:
  """torch's nn.LSTM / nn.GRU / nn.RNN layer (batch first), `cell` as in ours."""
  where = device(torch)
  layer = getattr(torch.nn, TORCH_LAYERS[cell])(I, H, batch_first=True).to(where)
  x = torch.randn(B, T, I, device=where, requires_grad=True)
  w_out = torch.randn(B, T, H, device=where)
  return _pair(torch, suite, cell, dict(B=B, T=T, I=I, H=H), layer, x, w_out, flops_by_mode)


def conv_cases(
  torch: ModuleType,
  suite: str,
  B: int,
  T: int,
  C: int,
  F: int,
  K: int,
  flops_by_mode: dict[str, float | None],
) -> list[Case]:
  """torch's nn.Conv1d ('same' padding) in its native channels-first layout."""
  where = device(torch)
  layer = torch.nn.Conv1d(C, F, K, padding="same").to(where)
  x = torch.randn(B, C, T, device=where, requires_grad=True)
  w_out = torch.randn(B, F, T, device=where)
  return _pair(torch, suite, "conv", dict(B=B, T=T, C=C, F=F, K=K), layer, x, w_out, flops_by_mode)
