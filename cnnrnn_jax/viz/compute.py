"""The numbers behind the pictures: run a trained classifier and return numpy arrays.

Shape key: B batch, L padded length, T valid words of one sentence, W n-gram windows,
F filters, D pooled features (F per width), H hidden units, O classes, N rows (prefixes,
dataset windows or points).

`forward` (probabilities + aux: conv feature maps and max-pool picks, hidden states, gates),
`prefix_batch` / `prefix_probabilities` (the verdict after each prefix: the same ids run with
lengths 1..T), `gradient_x_input` (token saliency), `top_ngrams` (each filter's strongest
n-grams over a dataset), `filter_votes` (which class a CNN filter pushes toward) and `pca_2d`
(a 2-D view of hidden states). Arrays in, arrays out: nothing here draws.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnrnn_jax.tasks.synthetic import decode_ids, encode_words

POSITIVE = 1  # the class index the contrast task calls "positive"


def encode_sentences(
  sentences: Sequence[str], min_len: int = 1
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
  """Sentences of CONTRAST_VOCAB words -> (ids_BxL, lengths_B, tokens per sentence).

  Rows are zero-padded to max(longest sentence, min_len): a 'valid' convolution of width
  K needs L >= K even when the sentence is shorter (the padding is masked by `lengths`).
  """
  if not sentences:
    raise ValueError("no sentences given")
  ids = [encode_words(s) for s in sentences]
  if any(len(i) == 0 for i in ids):
    raise ValueError("an empty sentence was given; separate sentences with ';'")
  ids_BxL = np.zeros((len(ids), max(min_len, max(len(i) for i in ids))), np.int32)
  for row, sentence_ids in zip(ids_BxL, ids):
    row[: len(sentence_ids)] = sentence_ids
  return ids_BxL, np.array([len(i) for i in ids], np.int32), [decode_ids(i) for i in ids]


@functools.lru_cache(maxsize=32)
def _jitted_apply(model: nn.Module) -> Callable:
  """One compiled eval-mode forward per model (Linen modules hash by their fields)."""
  return jax.jit(
    lambda params, ids, lengths: model.apply({"params": params}, ids, lengths, train=False)
  )


def forward(model: nn.Module, params: Any, ids_BxL: Any, lengths_B: Any) -> tuple[np.ndarray, Any]:
  """(class probabilities B x O, aux as numpy) of a classifier, in eval mode."""
  logits_BxO, aux = _jitted_apply(model)(params, jnp.asarray(ids_BxL), jnp.asarray(lengths_B))
  return np.asarray(jax.nn.softmax(logits_BxO, -1)), jax.tree.map(np.asarray, aux)


def prefix_batch(ids_BxL: Any, lengths_B: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Every prefix of every sentence as one batch: (ids_NxL, lengths_N, last_B).

  Sentence b appears as rows with lengths 1..T_b; row last_B[b] is the whole sentence.
  The model masks everything past a row's length, so a row sees exactly its prefix.
  """
  lengths_B = np.asarray(lengths_B)
  owner_N = np.repeat(np.arange(len(lengths_B)), lengths_B)
  lengths_N = np.concatenate([np.arange(1, T + 1) for T in lengths_B]).astype(np.int32)
  return np.asarray(ids_BxL)[owner_N], lengths_N, np.cumsum(lengths_B) - 1


def prefix_probabilities(
  model: nn.Module, params: Any, ids_L: Any, length: int, cls: int = POSITIVE
) -> np.ndarray:
  """P(cls) after each prefix of one sentence: lengths 1..T in one batch -> P_T."""
  ids_TxL, lengths_T, _ = prefix_batch(np.asarray(ids_L)[None, :], [int(length)])
  return forward(model, params, ids_TxL, lengths_T)[0][:, cls]


def gradient_x_input(
  model: nn.Module, params: Any, ids_BxL: Any, lengths_B: Any, cls: int = POSITIVE
) -> np.ndarray:
  """Token saliency: sum over the embedding of (d margin / d x_t) * x_t -> B x L.

  margin = logit[cls] - mean of the other logits (it does not saturate the way a
  probability does). Positive values push toward `cls`. The gradient is taken with
  respect to a per-position scale on the embedding output (at scale 1 that derivative
  is exactly gradient x input), so repeated words keep separate scores. Zero past each
  length.
  """
  if getattr(getattr(model, "spec", None), "vocab_size", None) is None:
    raise ValueError("gradient_x_input needs a token model (a SequenceModel with a vocabulary)")
  saliency_BxL = _jitted_saliency(model, cls)(params, jnp.asarray(ids_BxL), jnp.asarray(lengths_B))
  valid_BxL = np.arange(ids_BxL.shape[1])[None, :] < np.asarray(lengths_B)[:, None]
  return np.where(valid_BxL, np.asarray(saliency_BxL), 0.0)


@functools.lru_cache(maxsize=32)
def _jitted_saliency(model: nn.Module, cls: int) -> Callable:
  """(params, ids, lengths) -> d margin / d (per-position scale of the embedding output)."""

  def scaled_margin(scale_BxL, params, ids_BxL, lengths_B):
    def scale_embedding(next_fun, args, kwargs, context):
      out = next_fun(*args, **kwargs)
      if isinstance(context.module, nn.Embed) and context.method_name == "__call__":
        return out * scale_BxL[:, :, None]
      return out

    with nn.intercept_methods(scale_embedding):
      logits_BxO, _ = model.apply({"params": params}, ids_BxL, lengths_B, train=False)
    num_classes = logits_BxO.shape[-1]
    others_B = (jnp.sum(logits_BxO, -1) - logits_BxO[:, cls]) / max(num_classes - 1, 1)
    return jnp.sum(logits_BxO[:, cls] - others_B)  # rows are independent: one grad for all

  return jax.jit(
    lambda params, ids_BxL, lengths_B: jax.grad(scaled_margin)(
      jnp.ones(ids_BxL.shape, jnp.float32), params, ids_BxL, lengths_B
    )
  )


def num_windows(length: int, kernel_size: int) -> int:
  """'valid' windows of width K in a sentence of T words (>= 1, like TextCNN's pooling)."""
  return max(int(length) - kernel_size + 1, 1)


def ngram_labels(tokens: Sequence[str], kernel_size: int, sep: str = "\n") -> list[str]:
  """The words each 'valid' window covers: ['i\\nlove\\nthis', 'love\\nthis\\nmovie', ...].

  A sentence shorter than the window has one window, padded: 'i love <pad>'.
  """
  padded = list(tokens) + ["<pad>"] * max(kernel_size - len(tokens), 0)
  return [
    sep.join(padded[t : t + kernel_size]) for t in range(num_windows(len(tokens), kernel_size))
  ]


def top_ngrams(
  feature_map_BxWxF: Any, ids_BxL: Any, lengths_B: Any, kernel_size: int, top_k: int = 5
) -> list[list[tuple[str, float]]]:
  """Each filter's `top_k` strongest *distinct* n-grams over a dataset.

  Returns a list over filters of [(ngram, activation), ...], strongest first. Only
  windows that start inside a sentence count (the ones max-pooling can pick).
  """
  feature_map_BxWxF = np.asarray(feature_map_BxWxF)
  rows, starts, grams = [], [], []
  for b, (ids_L, length) in enumerate(zip(np.asarray(ids_BxL), np.asarray(lengths_B))):
    words = decode_ids(ids_L[:length])
    for t, gram in enumerate(ngram_labels(words, kernel_size, sep=" ")):
      rows.append(b)
      starts.append(t)
      grams.append(gram)
  acts_NxF = feature_map_BxWxF[np.array(rows), np.array(starts)]
  table = []
  for acts_N in acts_NxF.T:
    best, seen = [], set()
    for n in np.argsort(-acts_N, kind="stable"):
      if grams[n] not in seen:
        seen.add(grams[n])
        best.append((grams[n], float(acts_N[n])))
        if len(best) == top_k:
          break
    table.append(best)
  return table


def filter_votes(
  params: Any, kernel_sizes: Sequence[int], cls: int = POSITIVE
) -> dict[str, np.ndarray]:
  """How much one unit of each CNN filter's pooled value moves the logit margin of `cls`.

  TextCNN concatenates the pooled features width by width (in `kernel_sizes` order), so
  the head's rows split the same way. Positive: the filter votes for `cls`.
  """
  kernel_DxO = np.asarray(params["head"]["kernel"])
  others_D = (kernel_DxO.sum(-1) - kernel_DxO[:, cls]) / max(kernel_DxO.shape[1] - 1, 1)
  vote_D = kernel_DxO[:, cls] - others_D
  num_filters = len(vote_D) // len(kernel_sizes)
  return {
    f"k{k}": vote_D[i * num_filters : (i + 1) * num_filters] for i, k in enumerate(kernel_sizes)
  }


def pca_2d(points_NxH: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
  """(projection function, explained-variance fractions of the first two components)."""
  mean_H = points_NxH.mean(axis=0)
  _, s, vt = np.linalg.svd(points_NxH - mean_H[None, :], full_matrices=False)
  basis_Hx2 = np.zeros((points_NxH.shape[1], 2))
  basis_Hx2[:, : min(2, len(vt))] = vt[:2].T
  explained = np.zeros(2)
  explained[: min(2, len(s))] = (s**2 / max(float(np.sum(s**2)), 1e-12))[:2]
  return (lambda x_NxH: (x_NxH - mean_H[None, :]) @ basis_Hx2), explained
