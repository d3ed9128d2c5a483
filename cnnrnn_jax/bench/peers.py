"""torch peers: nn.LSTM / GRU / RNN / Conv1d and torch's own matmul, timed next to ours, and
whole-model twins (`twin_module`: the same model in torch) whose training step is timed in a
separate process (`twin_times`).

torch is optional (`pip install -e ".[bench]"`): `load_torch` imports it when a benchmark
asks for peers, and every function here takes the module. The peers run on the GPU when
JAX runs on one too (and torch sees it); torch's FLOPs are those of our fused twin of the
same layer (the same arithmetic).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
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
      "torch not installed: --with_torch needs it: pip install -e '.[bench]' (or pip install torch)"
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


# ---------------------------------------------------------------------------------------------
# Whole-model twins: a training step of the same model in torch, timed in a separate process.

TWIN_MODELS = ("cnn", "rnn", "lstm", "gru", "transformer", "tcn")


def twin_module(torch: ModuleType, twin: dict[str, Any]) -> Any:
  """torch's twin of one of our models (`TWIN_MODELS`) described by `twin` (train_steps.
  twin_of): the same layers, widths, readout and head, so the same trainable parameters.

  Our LSTM and Elman cells have one bias per gate where torch's have two: torch's second
  bias (`bias_hh`) is frozen, which leaves the same model with the same parameter count.
  Sequences are not packed: every step is computed (as ours does, masked), and the head
  reads the last valid step. Inputs are token ids (an embedding) or float channels.
  """
  nn, F = torch.nn, torch.nn.functional
  t = twin
  width = t["embed_dim"] if t["vocab_size"] else t["input_dim"]

  def last_valid(h_BxLxD, lengths_B):
    index = (lengths_B - 1).clamp(min=0)
    return h_BxLxD[torch.arange(h_BxLxD.shape[0]), index]

  class Recurrent(nn.Module):
    def __init__(self):
      super().__init__()
      kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[t["model"]]
      self.layer = kind(width, t["hidden"], batch_first=True, bidirectional=t["bidirectional"])
      if t["model"] != "gru":
        for name, p in self.layer.named_parameters():
          if name.startswith("bias_hh"):
            p.requires_grad_(False)
            p.data.zero_()

    def forward(self, x_BxLxE, lengths_B):
      h_BxLxD, _ = self.layer(x_BxLxE)
      if not t["bidirectional"]:
        return h_BxLxD, last_valid(h_BxLxD, lengths_B)
      H = t["hidden"]
      return h_BxLxD, torch.cat([last_valid(h_BxLxD[..., :H], lengths_B), h_BxLxD[:, 0, H:]], -1)

  class TextCNN(nn.Module):
    def __init__(self):
      super().__init__()
      self.convs = nn.ModuleList(nn.Conv1d(width, t["num_filters"], k) for k in t["kernel_sizes"])

    def forward(self, x_BxLxE, lengths_B):
      pooled, x_BxExL = [], x_BxLxE.transpose(1, 2)
      for k, conv in zip(t["kernel_sizes"], self.convs):
        y_BxFxW = F.relu(conv(x_BxExL))
        windows_B = (lengths_B - (k - 1)).clamp(min=1)
        valid_BxW = torch.arange(y_BxFxW.shape[-1])[None] < windows_B[:, None]
        pooled.append(y_BxFxW.masked_fill(~valid_BxW[:, None], float("-inf")).amax(-1))
      return None, torch.cat(pooled, -1)

  class Block(nn.Module):
    def __init__(self, cin, dilation):
      super().__init__()
      wn = nn.utils.parametrizations.weight_norm if t["weight_norm"] else (lambda m: m)
      K, Fo = t["kernel_size"], t["hidden"]
      self.pad = (K - 1) * dilation
      self.conv1 = wn(nn.Conv1d(cin, Fo, K, dilation=dilation))
      self.conv2 = wn(nn.Conv1d(Fo, Fo, K, dilation=dilation))
      self.project = nn.Conv1d(cin, Fo, 1) if cin != Fo else None
      self.drop = nn.Dropout(t["dropout"])

    def forward(self, x_BxCxL):
      y = self.drop(F.relu(self.conv1(F.pad(x_BxCxL, (self.pad, 0)))))
      y = self.drop(F.relu(self.conv2(F.pad(y, (self.pad, 0)))))
      return F.relu(y + (x_BxCxL if self.project is None else self.project(x_BxCxL)))

  class TCN(nn.Module):
    def __init__(self):
      super().__init__()
      widths = [width] + [t["hidden"]] * t["levels"]
      self.blocks = nn.Sequential(*(Block(widths[i], 2**i) for i in range(t["levels"])))

    def forward(self, x_BxLxE, lengths_B):
      h_BxLxH = self.blocks(x_BxLxE.transpose(1, 2)).transpose(1, 2)
      return h_BxLxH, last_valid(h_BxLxH, lengths_B)

  class Transformer(nn.Module):
    def __init__(self):
      super().__init__()
      D, M = t["hidden"], t["mlp_dim"]
      self.in_proj = nn.Linear(width, D)
      self.attn = nn.ModuleList(
        nn.MultiheadAttention(D, t["num_heads"], batch_first=True) for _ in range(t["num_layers"])
      )
      self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(2 * t["num_layers"] + 1))
      self.mlp_in = nn.ModuleList(nn.Linear(D, M) for _ in range(t["num_layers"]))
      self.mlp_out = nn.ModuleList(nn.Linear(M, D) for _ in range(t["num_layers"]))
      self.drop = nn.Dropout(t["dropout"])
      L = t["seq_len"]
      pos_L, freq_D2 = (
        torch.arange(L)[:, None],
        torch.exp(-math.log(1e4) * torch.arange(0, D, 2) / D),
      )
      self.register_buffer(
        "pos_LxD", torch.cat([torch.sin(pos_L * freq_D2), torch.cos(pos_L * freq_D2)], -1)
      )

    def forward(self, x_BxLxE, lengths_B):
      L = x_BxLxE.shape[1]
      pad_BxL = torch.arange(L)[None] >= lengths_B[:, None]
      x = self.in_proj(x_BxLxE) + self.pos_LxD[:L]
      for i, attn in enumerate(self.attn):
        y = self.norms[2 * i](x)
        x = x + self.drop(attn(y, y, y, key_padding_mask=pad_BxL, need_weights=False)[0])
        y = F.gelu(self.mlp_in[i](self.norms[2 * i + 1](x)), approximate="tanh")
        x = x + self.drop(self.mlp_out[i](y))
      x = self.norms[-1](x).masked_fill(pad_BxL[..., None], 0.0)
      return x, x.sum(1) / lengths_B.clamp(min=1)[:, None]

  encoders = {"cnn": TextCNN, "rnn": Recurrent, "lstm": Recurrent, "gru": Recurrent}
  encoders.update(transformer=Transformer, tcn=TCN)

  class Model(nn.Module):
    def __init__(self):
      super().__init__()
      self.embed = nn.Embedding(t["vocab_size"], t["embed_dim"]) if t["vocab_size"] else None
      self.encoder = encoders[t["model"]]()
      self.drop = nn.Dropout(t["head_dropout"])
      self.head = nn.Linear(t["features"], t["num_outputs"])

    def forward(self, inputs, lengths_B):
      x = self.embed(inputs) if self.embed is not None else inputs
      valid_BxL = torch.arange(inputs.shape[1])[None] < lengths_B[:, None]
      seq, pooled = self.encoder(x * valid_BxL[..., None], lengths_B)
      return self.head(self.drop(seq if t["per_step"] else pooled))

  return Model()


def twin_step(torch: ModuleType, twin: dict[str, Any], seed: int = 0) -> tuple[Callable, int]:
  """(one AdamW training step with clipping by global norm of `twin`'s model on a fixed
  random batch, its trainable parameter count)."""
  torch.manual_seed(seed)
  model = twin_module(torch, twin).train()
  params = [p for p in model.parameters() if p.requires_grad]
  opt = torch.optim.AdamW(params, lr=twin["learning_rate"], weight_decay=twin["weight_decay"])
  B, L = twin["batch_size"], twin["seq_len"]
  if twin["vocab_size"]:
    inputs = torch.randint(0, twin["vocab_size"], (B, L))
  else:
    inputs = torch.randn(B, L, twin["input_dim"])
  lengths_B = torch.full((B,), L)
  targets = torch.randint(0, twin["num_outputs"], (B, L) if twin["per_step"] else (B,))

  def step():
    opt.zero_grad(set_to_none=True)
    logits = model(inputs, lengths_B)
    loss = torch.nn.functional.cross_entropy(
      logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    )
    loss.backward()
    if twin["clip_norm"]:
      torch.nn.utils.clip_grad_norm_(params, twin["clip_norm"])
    opt.step()

  return step, sum(p.numel() for p in params)


def time_twins(request: dict[str, Any]) -> dict[str, Any]:
  """Runs in the twin process: {name: {params, times}} of each twin's train step with
  torch.set_num_threads(request['threads']), interleaved as `timing.time_interleaved` does."""
  from cnnrnn_jax.timing import time_interleaved

  torch = load_torch()
  torch.set_num_threads(request["threads"])
  built = {name: twin_step(torch, twin) for name, twin in request["twins"].items()}
  times = time_interleaved(
    {name: (step, ()) for name, (step, _) in built.items()}, request["rounds"], request["pause_s"]
  )
  return {name: {"params": built[name][1], "times": times[name]} for name in built}


def serve_twins() -> None:
  """The twin process: reads a `time_twins` request (JSON) from stdin, prints its answer."""
  print(json.dumps(time_twins(json.loads(sys.stdin.read()))), flush=True)


def twin_times(
  twins: dict[str, dict[str, Any]], threads: int, rounds: int, pause_s: float = 0.01
) -> dict[str, Any]:
  """`time_twins` in a fresh Python process, so torch's thread pool never shares the
  process (or its cores' timing) with JAX's. Raises ConfigError when torch is missing."""
  load_torch()  # the one-line error here, not a traceback from the child
  request = dict(twins=twins, threads=threads, rounds=rounds, pause_s=pause_s)
  code = "from cnnrnn_jax.bench import peers; peers.serve_twins()"
  package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
  done = subprocess.run(
    [sys.executable, "-c", code],
    input=json.dumps(request),
    capture_output=True,
    text=True,
    env={**os.environ, "PYTHONPATH": path},
  )
  if done.returncode:
    raise RuntimeError(f"the torch twin process failed: {done.stderr.strip().splitlines()[-1:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])
