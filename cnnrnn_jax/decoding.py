"""DECODING: greedy and beam search for every encoder-decoder, and the metrics of what they say.

Shape key: B batch, K beam width, T output steps, V target vocabulary, S source steps.

One loop for every model family (seq2seq.py's interface): the model encodes once, then
`decode_step(memory, state, tokens_BxT, t) -> (logits_BxV, state)` gives the next token's
logits from the tokens so far. The loop is a `jax.lax.while_loop` over output steps that stops
as soon as every row (every beam) has emitted EOS, or after T steps: a batch of short words
stops early, and the whole search is one jitted program. The token buffer is the loop's;
`state` is the model's cache (the recurrent carry) or nothing (the parallel decoders recompute
the prefix, see seq2seq.py). A model computing in bfloat16 decodes in it, but its logits, the
log-probabilities and the scores summed from them are float32. Beam search keeps the K best
prefixes of each row by summed log-probability; a finished beam only extends with PAD at no
cost, so it competes unchanged; hypotheses are ranked by log p / length**alpha at the end
(alpha = 0: plain log p). PAD and BOS are never generated.

`decode_sources` runs a model over a task's evaluation sources; `score` turns hypotheses and
references into the G2P metrics (phoneme error rate = edit distance / reference length, word
error rate = any phone wrong, each word scored against its closest reference, with and without
the stress digits) and sequence accuracy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.metrics import seed_summary
from cnnrnn_jax.precision import MixedPrecision
from cnnrnn_jax.tasks.seq2seq import BOS, EOS, PAD, Vocab, encode_pairs

StepFn = Callable[[Any, Any, jax.Array, jax.Array], tuple[jax.Array, Any]]


def log_probs(logits_BxV: jax.Array) -> jax.Array:
  """Log-softmax in float32 with PAD and BOS removed (they are never generated)."""
  never_V = jnp.zeros(logits_BxV.shape[-1], bool).at[PAD].set(True).at[BOS].set(True)
  logits_BxV = logits_BxV.astype(jnp.float32)  # the scores sum them: float32 whatever computed
  return jax.nn.log_softmax(jnp.where(never_V[None, :], -jnp.inf, logits_BxV), axis=-1)


def greedy(
  step: StepFn, memory: Any, state: Any, batch_size: int, max_len: int
) -> tuple[jax.Array, jax.Array]:
  """(tokens_BxT, logp_B): the argmax token at each step until EOS (PAD after it)."""
  buf = jnp.zeros((batch_size, max_len + 1), jnp.int32).at[:, 0].set(BOS)

  def cond(carry):
    t, _, _, done_B, _ = carry
    return (t < max_len) & ~jnp.all(done_B)

  def body(carry):
    t, buf, state, done_B, logp_B = carry
    logits_BxV, state = step(memory, state, buf[:, :max_len], t)
    lp_BxV = log_probs(logits_BxV)
    tok_B = jnp.argmax(lp_BxV, axis=-1)
    gained_B = jnp.take_along_axis(lp_BxV, tok_B[:, None], axis=1)[:, 0]
    tok_B = jnp.where(done_B, PAD, tok_B)
    logp_B = logp_B + jnp.where(done_B, 0.0, gained_B)
    buf = buf.at[:, t + 1].set(tok_B)
    return t + 1, buf, state, done_B | (tok_B == EOS), logp_B

  init = (0, buf, state, jnp.zeros(batch_size, bool), jnp.zeros(batch_size))
  _, buf, _, _, logp_B = jax.lax.while_loop(cond, body, init)
  return buf[:, 1:], logp_B


def _repeat(tree: Any, k: int) -> Any:
  return jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), tree)


def beam_search(
  step: StepFn,
  memory: Any,
  state: Any,
  batch_size: int,
  max_len: int,
  beam: int,
  alpha: float = 0.0,
) -> tuple[jax.Array, jax.Array]:
  """(tokens_BxT, logp_B) of the best of `beam` hypotheses per row (log p / len**alpha)."""
  B, K = batch_size, beam
  memory, state = _repeat(memory, K), _repeat(state, K)
  buf = jnp.zeros((B * K, max_len + 1), jnp.int32).at[:, 0].set(BOS)
  scores_BxK = jnp.full((B, K), -jnp.inf).at[:, 0].set(0.0)  # one live beam at the start

  def cond(carry):
    t, _, _, done_BK, _ = carry
    return (t < max_len) & ~jnp.all(done_BK)

  def body(carry):
    t, buf, state, done_BK, scores_BxK = carry
    logits, state = step(memory, state, buf[:, :max_len], t)
    lp_BKxV = log_probs(logits)
    V = lp_BKxV.shape[-1]
    pad_only_V = jnp.full((V,), -jnp.inf).at[PAD].set(0.0)
    lp_BKxV = jnp.where(done_BK[:, None], pad_only_V[None, :], lp_BKxV)
    cand_BxKV = (scores_BxK[:, :, None] + lp_BKxV.reshape(B, K, V)).reshape(B, K * V)
    scores_BxK, idx_BxK = jax.lax.top_k(cand_BxKV, K)
    rows_BK = (jnp.arange(B)[:, None] * K + idx_BxK // V).reshape(-1)
    tok_BK = (idx_BxK % V).reshape(-1)
    buf = buf[rows_BK].at[:, t + 1].set(tok_BK)
    state = jax.tree.map(lambda x: x[rows_BK], state)
    done_BK = done_BK[rows_BK] | (tok_BK == EOS) | (tok_BK == PAD)
    return t + 1, buf, state, done_BK, scores_BxK

  init = (0, buf, state, jnp.zeros(B * K, bool), scores_BxK)
  _, buf, _, _, scores_BxK = jax.lax.while_loop(cond, body, init)
  tokens_BxKxT = buf[:, 1:].reshape(B, K, max_len)
  lengths_BxK = jnp.sum((tokens_BxKxT != PAD), axis=-1).astype(jnp.float32)  # EOS included
  ranked_BxK = scores_BxK / jnp.maximum(lengths_BxK, 1.0) ** alpha
  best_B = jnp.argmax(ranked_BxK, axis=-1)
  tokens_BxT = jnp.take_along_axis(tokens_BxKxT, best_B[:, None, None], axis=1)[:, 0]
  return tokens_BxT, jnp.take_along_axis(scores_BxK, best_B[:, None], axis=1)[:, 0]


def make_decoder(model: nn.Module, max_len: int, beam: int = 1, alpha: float = 0.0):
  """A jitted `(params, src_BxS, lengths_B) -> (tokens_BxT, logp_B)`: greedy for beam 1."""
  cls = type(model)

  @jax.jit
  def decode(params, src_BxS, lengths_B):
    if isinstance(model, MixedPrecision):  # cast once here, not again inside the loop
      params = model.compute_params(params)
    variables = {"params": params}
    memory = model.apply(variables, src_BxS, lengths_B, method=cls.encode)
    state = model.apply(variables, memory, method=cls.decode_init)

    def step(memory, state, tokens_BxT, t):
      return model.apply(variables, memory, state, tokens_BxT, t, method=cls.decode_step)

    B = src_BxS.shape[0]
    if beam == 1:
      return greedy(step, memory, state, B, max_len)
    return beam_search(step, memory, state, B, max_len, beam, alpha)

  return decode


def decode_sources(
  model: nn.Module,
  params: Any,
  sources: Sequence[list[str]],
  source_vocab: Vocab,
  target_vocab: Vocab,
  width: int,
  max_len: int,
  beam: int = 1,
  batch_size: int = 256,
  alpha: float = 0.0,
) -> tuple[list[list[str]], dict[str, float]]:
  """(hypotheses, timing) for `sources`, decoded in batches of fixed shape (one compile).

  timing: compile_s (the first batch's compile), decode_s (the rest, compiled, blocked on)
  and decode_ms_per_seq over every source.
  """
  decode = make_decoder(model, max_len, beam, alpha)
  order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
  hyps: list[list[str]] = [[] for _ in sources]
  dummy = ["<pad>"]  # encode_pairs needs a target; the decoder never reads it
  compile_s, decode_s = 0.0, 0.0
  for start in range(0, len(order), batch_size):
    idx = order[start : start + batch_size]
    pairs = [(list(sources[i]), []) for i in idx] + [(dummy, [])] * (batch_size - len(idx))
    batch = encode_pairs(pairs, source_vocab, target_vocab, width)
    if start == 0:  # every batch has this shape: compile once, outside the timing
      t0 = time.perf_counter()
      compiled = decode.lower(params, batch["inputs"], batch["lengths"]).compile()
      compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens_BxT, _ = jax.block_until_ready(compiled(params, batch["inputs"], batch["lengths"]))
    decode_s += time.perf_counter() - t0
    for row, i in enumerate(idx):
      hyps[i] = target_vocab.tokens(np.asarray(tokens_BxT[row]))
  per_seq_ms = 1000.0 * decode_s / max(len(sources), 1)
  return hyps, {"compile_s": compile_s, "decode_s": decode_s, "decode_ms_per_seq": per_seq_ms}


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
  """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
  prev = list(range(len(b) + 1))
  for i, x in enumerate(a, start=1):
    cur = [i] + [0] * len(b)
    for j, y in enumerate(b, start=1):
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
    prev = cur
  return prev[-1]


def without_stress(phones: Sequence[str]) -> list[str]:
  """ARPAbet phones without their stress digits (AH0 -> AH)."""
  return [p.rstrip("012") for p in phones]


def error_rates(
  hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]
) -> dict[str, float]:
  """per (edit distance / reference length, summed over words) and wer (share of words with
  any error), each word against the reference closest to its hypothesis (fewest edits, then
  the shorter); seq_accuracy = 1 - wer."""
  edits, length, wrong = 0, 0, 0
  for hyp, options in zip(hyps, refs, strict=True):
    best = min(options, key=lambda r: (edit_distance(hyp, r), len(r)))
    d = edit_distance(hyp, best)
    edits, length, wrong = edits + d, length + len(best), wrong + (d > 0)
  n = max(len(hyps), 1)
  return {"per": edits / max(length, 1), "wer": wrong / n, "seq_accuracy": 1 - wrong / n}


def score(
  hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]], phones: bool
) -> dict[str, float]:
  """`error_rates`; for phones (G2P) also per_nostress / wer_nostress."""
  out = error_rates(hyps, refs)
  if phones:
    plain = error_rates(
      [without_stress(h) for h in hyps], [[without_stress(r) for r in rs] for rs in refs]
    )
    out.update({"per_nostress": plain["per"], "wer_nostress": plain["wer"]})
  return out


def evaluate(
  model: nn.Module,
  params: Any,
  task: Any,
  beam: int = 1,
  batch_size: int = 256,
  alpha: float = 0.0,
) -> dict[str, float]:
  """Decodes every eval source of a seq2seq `task` and scores it against its references."""
  sources, refs = task.references()
  width = max(task.spec.seq_len, max(len(s) for s in sources))
  hyps, timing = decode_sources(
    model,
    params,
    sources,
    task.source,
    task.target,
    width,
    task.spec.target_len,
    beam,
    batch_size,
    alpha,
  )
  return {
    **score(hyps, refs, getattr(task, "stressed_phones", False)),
    **timing,
    "sequences": float(len(sources)),
  }


# ---------------------------------------------------------------------------------------------
# A trained run's decoding results, next to its metrics.jsonl

RESULTS = "decode.json"  # per seed directory: {key: metrics}; the parent gets decode_seeds.json


def result_key(
  beam: int,
  eval_len: int | None = None,
  average: int = 1,
  eval_split: str | None = None,
  alpha: float = 0.0,
) -> str:
  """'beam5'; 'beam1_len40' for a transduction decoded at another eval length; '_alpha0.6' for
  a length-normalised beam, '_avg3' for the mean of the last 3 checkpoints, '_validation' for
  G2P's validation split."""
  return (
    f"beam{beam}"
    + (f"_len{eval_len}" if eval_len else "")
    + (f"_alpha{alpha:g}" if alpha and beam > 1 else "")
    + (f"_avg{average}" if average > 1 else "")
    + (f"_{eval_split}" if eval_split else "")
  )


def seed_dirs(workdir: str) -> list[str]:
  """`workdir`'s seed_S folders (a --seeds run), or [workdir] itself (a single run)."""
  found = sorted(
    (d for d in os.listdir(workdir) if d.startswith("seed_") and d[5:].isdigit()),
    key=lambda d: int(d[5:]),
  )
  return [os.path.join(workdir, d) for d in found] or [workdir]


class UnfinishedRun(ConfigError):
  """A run whose newest checkpoint is short of its config.train_steps: still training, or
  stopped before the end. Its scores are not the run's."""


def decode_run(
  run_dir: str,
  beams: Sequence[int] = (1,),
  eval_lens: Sequence[int] = (),
  batch_size: int = 256,
  alpha: float = 0.0,
  average: int = 1,
  eval_split: str | None = None,
) -> dict[str, dict[str, float]]:
  """Restores a trained seq2seq run, decodes its eval set with each beam width (and, for a
  transduction, at each eval length), and merges the results into run_dir/decode.json.

  `average` > 1 decodes the mean parameters of the last `average` checkpoints; `eval_split`
  decodes another split of a task that has them (G2P: 'validation', to choose decoding
  settings without looking at the test words). Both are named in the result keys."""
  from cnnrnn_jax import train  # the trainer imports this package's models: import late

  config, state = train.restore(run_dir, average=average)
  step = int(state.step)
  if step < config.train_steps:
    raise UnfinishedRun(
      f"{run_dir} is at step {step} of {config.train_steps}: finish its training (rerun its "
      "train command, it resumes) before decoding it"
    )
  if eval_split:
    if config.task != "cmudict":
      raise ConfigError(f"eval_split={eval_split!r}: only cmudict has other splits to decode")
    config = config.copy_and_resolve_references()
    config.data.eval_split = eval_split
  path = os.path.join(run_dir, RESULTS)
  results = {}
  if os.path.exists(path):
    with open(path) as f:
      results = json.load(f)
  for eval_len in eval_lens or [None]:
    if eval_len:
      config = config.copy_and_resolve_references()
      config.data.eval_len = int(eval_len)
    task, model = train.setup(config)
    if task.spec.kind != "seq2seq":
      raise ConfigError(f"{run_dir} trained a {task.spec.kind} task; decoding needs seq2seq")
    for beam in beams:
      metrics = evaluate(model, state.params, task, beam, batch_size, alpha)
      metrics["params"] = float(sum(x.size for x in jax.tree.leaves(state.params)))
      if hasattr(task, "train"):
        metrics["train_pairs"] = float(len(task.train))
      results[result_key(beam, eval_len, average, eval_split, alpha)] = metrics
  workdir_module.write_atomic(path, json.dumps(results, indent=2))
  return results


def decode_seeds(workdir: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
  """`decode_run` on every finished seed folder of `workdir`; mean ± std per key and metric go
  to workdir/decode_seeds.json (the same form as seeds.json). A seed still training (short of
  its train_steps, or without a checkpoint yet) is left out with a warning, so the summary
  never mixes a finished run with a half-trained one; when no seed is finished, the first
  seed's error is raised."""
  per_seed, unfinished = {}, []
  for run_dir in seed_dirs(workdir):
    name = os.path.basename(run_dir)
    seed = int(name[5:]) if name.startswith("seed_") else 0
    try:
      per_seed[seed] = decode_run(run_dir, **kwargs)
    except (UnfinishedRun, FileNotFoundError) as e:  # short of train_steps, or no checkpoint yet
      logging.warning("%s; decode_seeds.json leaves it out", e)
      unfinished.append(e)
  if not per_seed:
    raise unfinished[0]
  summary = {
    key: seed_summary({s: r[key] for s, r in per_seed.items()})
    for key in next(iter(per_seed.values()))
  }
  workdir_module.write_atomic(
    os.path.join(workdir, "decode_seeds.json"), json.dumps(summary, indent=2)
  )
  return summary
