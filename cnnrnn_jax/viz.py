"""How each model reads a sentence: pictures drawn from a trained model's own outputs.

Shape key: B batch, L padded length, T valid words of one sentence, W n-gram windows,
F filters, H hidden units, G gates (LSTM: input, forget, output), N dataset windows.

Three layers, each usable on its own:
  compute   `forward` (probabilities + aux: conv feature maps and max-pool picks, hidden
            states, gates), `prefix_batch` / `prefix_probabilities` (the verdict after
            each prefix: the same ids run with lengths 1..T), `gradient_x_input` (token
            saliency), `top_ngrams` (each filter's strongest n-grams over a dataset),
            `filter_votes` (which class a CNN filter pushes toward).
  figures   `cnn_activation_figure`, `cnn_pooling_figure`, `top_ngrams_figure`,
            `hidden_state_figure`, `trajectory_figure`, `gates_figure`, `prefix_figure`,
            `saliency_figure`: arrays + tokens in, a `matplotlib.figure.Figure` out (no
            pyplot, no global state; `fig.savefig('x.png')` renders with Agg).
  models    `Trained` models on the `contrast` task: `train_contrast_model`,
            `save_trained` / `load_trained` (flax msgpack, no pickle) and `render_figures`,
            the full set of pictures that `experiments/visualize.py` and the notebook show.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Mapping, NamedTuple, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from cnnrnn_jax import train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.synthetic import CONTRAST_WORDS, decode_ids, encode_words

POSITIVE = 1                      # the class index the contrast task calls "positive"
VOTE_COLORS = {True: "#2166ac", False: "#b2182b"}   # pushes toward positive / negative
GATE_NAMES = ("input", "forget", "output")


# ---------------------------------------------------------------------------------------------
# compute: run a trained SequenceModel and return numpy arrays

def encode_sentences(sentences: Sequence[str], min_len: int = 1):
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
    row[:len(sentence_ids)] = sentence_ids
  return ids_BxL, np.array([len(i) for i in ids], np.int32), [decode_ids(i) for i in ids]


@functools.lru_cache(maxsize=32)
def _jitted_apply(model):
  """One compiled eval-mode forward per model (Linen modules hash by their fields)."""
  return jax.jit(lambda params, ids, lengths: model.apply({"params": params}, ids, lengths,
                                                          train=False))


def forward(model, params, ids_BxL, lengths_B):
  """(class probabilities B x O, aux as numpy) of a classifier, in eval mode."""
  logits_BxO, aux = _jitted_apply(model)(params, jnp.asarray(ids_BxL), jnp.asarray(lengths_B))
  return np.asarray(jax.nn.softmax(logits_BxO, -1)), jax.tree.map(np.asarray, aux)


def prefix_batch(ids_BxL, lengths_B):
  """Every prefix of every sentence as one batch: (ids_NxL, lengths_N, last_B).

  Sentence b appears as rows with lengths 1..T_b; row last_B[b] is the whole sentence.
  The model masks everything past a row's length, so a row sees exactly its prefix.
  """
  lengths_B = np.asarray(lengths_B)
  owner_N = np.repeat(np.arange(len(lengths_B)), lengths_B)
  lengths_N = np.concatenate([np.arange(1, T + 1) for T in lengths_B]).astype(np.int32)
  return np.asarray(ids_BxL)[owner_N], lengths_N, np.cumsum(lengths_B) - 1


def prefix_probabilities(model, params, ids_L, length: int, cls: int = POSITIVE):
  """P(cls) after each prefix of one sentence: lengths 1..T in one batch -> P_T."""
  ids_TxL, lengths_T, _ = prefix_batch(np.asarray(ids_L)[None, :], [int(length)])
  return forward(model, params, ids_TxL, lengths_T)[0][:, cls]


def gradient_x_input(model, params, ids_BxL, lengths_B, cls: int = POSITIVE):
  """Token saliency: sum over the embedding of (d margin / d x_t) * x_t -> B x L.

  margin = logit[cls] - mean of the other logits (it does not saturate the way a
  probability does). Positive values push toward `cls`. The gradient is taken with
  respect to a per-position scale on the embedding output (at scale 1 that derivative
  is exactly gradient x input), so repeated words keep separate scores. Zero past each
  length.
  """
  if getattr(getattr(model, "spec", None), "vocab_size", None) is None:
    raise ValueError("gradient_x_input needs a token model (a SequenceModel with a vocabulary)")
  saliency_BxL = _jitted_saliency(model, cls)(params, jnp.asarray(ids_BxL),
                                              jnp.asarray(lengths_B))
  valid_BxL = np.arange(ids_BxL.shape[1])[None, :] < np.asarray(lengths_B)[:, None]
  return np.where(valid_BxL, np.asarray(saliency_BxL), 0.0)


@functools.lru_cache(maxsize=32)
def _jitted_saliency(model, cls: int):
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
    return jnp.sum(logits_BxO[:, cls] - others_B)   # rows are independent: one grad for all

  return jax.jit(lambda params, ids_BxL, lengths_B: jax.grad(scaled_margin)(
      jnp.ones(ids_BxL.shape, jnp.float32), params, ids_BxL, lengths_B))


def num_windows(length: int, kernel_size: int) -> int:
  """'valid' windows of width K in a sentence of T words (>= 1, like TextCNN's pooling)."""
  return max(int(length) - kernel_size + 1, 1)


def ngram_labels(tokens: Sequence[str], kernel_size: int, sep: str = "\n") -> list[str]:
  """The words each 'valid' window covers: ['i\\nlove\\nthis', 'love\\nthis\\nmovie', ...].

  A sentence shorter than the window has one window, padded: 'i love <pad>'.
  """
  padded = list(tokens) + ["<pad>"] * max(kernel_size - len(tokens), 0)
  return [sep.join(padded[t:t + kernel_size])
          for t in range(num_windows(len(tokens), kernel_size))]


def top_ngrams(feature_map_BxWxF, ids_BxL, lengths_B, kernel_size: int, top_k: int = 5):
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


def filter_votes(params, kernel_sizes: Sequence[int], cls: int = POSITIVE) -> dict[str, np.ndarray]:
  """How much one unit of each CNN filter's pooled value moves the logit margin of `cls`.

  TextCNN concatenates the pooled features width by width (in `kernel_sizes` order), so
  the head's rows split the same way. Positive: the filter votes for `cls`.
  """
  kernel_DxO = np.asarray(params["head"]["kernel"])
  others_D = (kernel_DxO.sum(-1) - kernel_DxO[:, cls]) / max(kernel_DxO.shape[1] - 1, 1)
  vote_D = kernel_DxO[:, cls] - others_D
  num_filters = len(vote_D) // len(kernel_sizes)
  return {f"k{k}": vote_D[i * num_filters:(i + 1) * num_filters]
          for i, k in enumerate(kernel_sizes)}


# ---------------------------------------------------------------------------------------------
# figures: arrays + tokens in, a Figure out

def _figure(width: float, height: float) -> Figure:
  return Figure(figsize=(width, height), layout="constrained", dpi=100)


def _quoted(tokens: Sequence[str]) -> str:
  return '"' + " ".join(tokens) + '"'


def _widths(feature_maps: Mapping[str, Any]) -> list[str]:
  return sorted(feature_maps, key=lambda name: int(name[1:]))


def _pooled(feature_maps, pool_argmax, name: str, length: int):
  """(valid map W x F, picked window per filter F, pooled value per filter F)."""
  y_WxF = np.asarray(feature_maps[name])[:num_windows(length, int(name[1:]))]
  picks_F = np.asarray(pool_argmax[name])
  return y_WxF, picks_F, y_WxF[picks_F, np.arange(y_WxF.shape[1])]


def _annotate_cells(ax, values_RxC, fmt: str, threshold: float, fontsize: float = 7):
  """Writes each cell's value; dark text on light cells and light text on dark ones."""
  for (r, c), v in np.ndenumerate(values_RxC):
    ax.text(c, r, format(v, fmt), ha="center", va="center", fontsize=fontsize,
            color="black" if v >= threshold else "white")


def cnn_activation_figure(feature_maps, pool_argmax, tokens: Sequence[str],
                          max_filters: int = 10) -> Figure:
  """Per filter width: each filter's activation at every n-gram window (a heatmap with the
  n-grams on the x axis); a red box marks the window max-pooling keeps.

  feature_maps / pool_argmax: one sentence's aux['feature_maps'] (W x F per 'kK') and
  aux['pool_argmax'] (F per 'kK'). Shows the `max_filters` filters with the largest
  pooled value per width, strongest on top.
  """
  names = _widths(feature_maps)
  fig = _figure(1.2 + 3.3 * len(names), 2.6 + 0.34 * max_filters)
  axes = fig.subplots(1, len(names), squeeze=False)[0]
  vmax = max(float(_pooled(feature_maps, pool_argmax, n, len(tokens))[2].max()) for n in names)
  vmax = max(vmax, 1e-6)
  for ax, name in zip(axes, names):
    k = int(name[1:])
    y_WxF, picks_F, pooled_F = _pooled(feature_maps, pool_argmax, name, len(tokens))
    shown = np.argsort(-pooled_F, kind="stable")[:max_filters]
    image = ax.imshow(y_WxF[:, shown].T, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax)
    if y_WxF.shape[0] * len(shown) <= 120:
      _annotate_cells(ax, y_WxF[:, shown].T, ".2f", 0.6 * vmax)
    for row, f in enumerate(shown):
      ax.add_patch(Rectangle((picks_F[f] - 0.5, row - 0.5), 1, 1, fill=False,
                             edgecolor="red", linewidth=2))
    ax.set_xticks(range(y_WxF.shape[0]), ngram_labels(tokens, k), fontsize=8)
    ax.set_yticks(range(len(shown)), [f"filter {f}" for f in shown], fontsize=8)
    ax.set_title(f"width {k}: {k}-gram filters", fontsize=10)
    ax.set_xlabel(f"{k}-gram window")
    ax.set_ylabel("filter (strongest first)")
  fig.colorbar(image, ax=list(axes), label="activation (after ReLU)", shrink=0.9)
  fig.suptitle(f"CNN: every filter slides over {_quoted(tokens)}\n"
               "(red box = the window max-pooling keeps)", fontsize=11)
  return fig


def cnn_pooling_figure(feature_maps, pool_argmax, tokens: Sequence[str], votes=None,
                       max_filters: int = 12) -> Figure:
  """What max-over-time pooling keeps: left, the n-gram each of the strongest filters
  picked (bar = its pooled value, colour = the class it votes for when `votes` from
  `filter_votes` is given); right, how many filters' kept n-gram covers each word."""
  fig = _figure(11.5, 1.8 + 0.3 * max_filters)
  left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
  entries, cover_T = [], np.zeros(len(tokens), int)
  for name in _widths(feature_maps):
    k = int(name[1:])
    _, picks_F, pooled_F = _pooled(feature_maps, pool_argmax, name, len(tokens))
    for f, (start, value) in enumerate(zip(picks_F, pooled_F)):
      if value <= 0:
        continue  # a filter silent on the whole sentence keeps nothing
      cover_T[start:start + k] += 1
      vote = None if votes is None else float(np.asarray(votes[name])[f])
      entries.append((float(value), k, f, " ".join(tokens[start:start + k]), vote))
  entries = sorted(entries, key=lambda e: -e[0])[:max_filters][::-1]
  colors = ["grey" if e[4] is None else VOTE_COLORS[e[4] > 0] for e in entries]
  left.barh(range(len(entries)), [e[0] for e in entries], color=colors)
  left.set_yticks(range(len(entries)), [f'"{e[3]}"  (k{e[1]} filter {e[2]})' for e in entries],
                  fontsize=8)
  left.set_xlabel("max-pooled activation")
  left.set_title("the n-gram each of the strongest filters keeps", fontsize=10)
  if votes is not None:
    left.legend(handles=[Patch(color=VOTE_COLORS[True], label="filter votes positive"),
                         Patch(color=VOTE_COLORS[False], label="filter votes negative")],
                fontsize=8, loc="lower right")
  right.bar(range(len(tokens)), cover_T, color="#4d4d4d")
  right.set_xticks(range(len(tokens)), tokens, fontsize=9)
  right.set_xlabel("word")
  right.set_ylabel("filters whose kept n-gram covers it")
  right.set_title("which words survive max-pooling", fontsize=10)
  fig.suptitle(f"CNN max-over-time pooling on {_quoted(tokens)}", fontsize=11)
  return fig


def top_ngrams_figure(tables: Mapping[str, list], votes=None, max_filters: int = 6) -> Figure:
  """Each shown filter's strongest distinct n-grams over a dataset (`top_ngrams` per width).

  Shows, per width, the `max_filters` filters with the largest |vote| x best activation
  (the ones that sway the verdict most) when `votes` is given, else the most active.
  """
  names = _widths(tables)
  top_k = max(len(row) for name in names for row in tables[name])
  fig = _figure(2.2 + 2.45 * top_k, 1.2 + len(names) * (0.9 + 0.36 * max_filters))
  axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
  vmax = max(row[0][1] for name in names for row in tables[name] if row)
  for ax, name in zip(axes, names):
    k = int(name[1:])
    table = tables[name]
    best_F = np.array([row[0][1] if row else 0.0 for row in table])
    vote_F = None if votes is None else np.asarray(votes[name])
    score_F = best_F if vote_F is None else best_F * np.abs(vote_F)
    shown = np.argsort(-score_F, kind="stable")[:max_filters]
    acts_SxK = np.array([[a for _, a in table[f]] + [0.0] * (top_k - len(table[f]))
                         for f in shown])
    image = ax.imshow(acts_SxK, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax)
    for (r, c), value in np.ndenumerate(acts_SxK):
      if c < len(table[shown[r]]):
        ax.text(c, r, f"{table[shown[r]][c][0]}\n{value:.2f}", ha="center", va="center",
                fontsize=7.5, color="black" if value >= 0.6 * vmax else "white")
    ylabels = [f"filter {f}" if vote_F is None else
               f"filter {f} (votes {'positive' if vote_F[f] > 0 else 'negative'})"
               for f in shown]
    ax.set_yticks(range(len(shown)), ylabels, fontsize=8)
    ax.set_xticks(range(top_k), [f"#{r + 1}" for r in range(top_k)], fontsize=8)
    ax.set_xlabel("rank over the dataset")
    ax.set_ylabel("filter")
    ax.set_title(f"width {k}: each filter's top {top_k} distinct {k}-grams", fontsize=10)
  fig.colorbar(image, ax=list(axes), label="activation (after ReLU)", shrink=0.6)
  fig.suptitle("CNN: what each filter detects, across the whole evaluation set", fontsize=11)
  return fig


def _top_units(values_TxU, max_units: int) -> np.ndarray:
  """The `max_units` columns that change most over time (all of them if few)."""
  if values_TxU.shape[1] <= max_units:
    return np.arange(values_TxU.shape[1])
  return np.sort(np.argsort(-values_TxU.var(axis=0), kind="stable")[:max_units])


def hidden_state_figure(hidden_LxH, tokens: Sequence[str], model_name: str = "LSTM",
                        max_units: int = 16) -> Figure:
  """The hidden state h_t after each word (a units x steps heatmap, tokens on the x axis);
  the `max_units` units that change most when H is larger."""
  h_TxH = np.asarray(hidden_LxH)[:len(tokens)]
  units = _top_units(h_TxH, max_units)
  fig = _figure(3.0 + 0.75 * len(tokens), 1.9 + 0.26 * len(units))
  ax = fig.subplots()
  image = ax.imshow(h_TxH[:, units].T, aspect="auto", cmap="RdBu_r", vmin=-1.0, vmax=1.0)
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ax.set_yticks(range(len(units)), [f"unit {u}" for u in units], fontsize=7)
  ax.set_xlabel("step t (h_t is the state after reading this word)")
  ax.set_ylabel("hidden unit")
  shown = "" if len(units) == h_TxH.shape[1] else f" ({len(units)} most active units)"
  ax.set_title(f"{model_name} hidden state h_1..h_{len(tokens)}{shown}\n{_quoted(tokens)}",
               fontsize=10)
  fig.colorbar(image, ax=ax, label="h_t value")
  return fig


def pca_2d(points_NxH):
  """(projection function, explained-variance fractions of the first two components)."""
  mean_H = points_NxH.mean(axis=0)
  _, s, vt = np.linalg.svd(points_NxH - mean_H[None, :], full_matrices=False)
  basis_Hx2 = np.zeros((points_NxH.shape[1], 2))
  basis_Hx2[:, :min(2, len(vt))] = vt[:2].T
  explained = np.zeros(2)
  explained[:min(2, len(s))] = (s ** 2 / max(float(np.sum(s ** 2)), 1e-12))[:2]
  return (lambda x_NxH: (x_NxH - mean_H[None, :]) @ basis_Hx2), explained


def trajectory_figure(hiddens: Sequence[Any], tokens_list: Sequence[Sequence[str]],
                      model_name: str = "LSTM") -> Figure:
  """The path h_0 = 0 -> h_1 -> ... -> h_T of each sentence, on the 2 principal components
  of all the states shown. Sentences that share a prefix share the start of their path."""
  paths = [np.asarray(h)[:len(toks)] for h, toks in zip(hiddens, tokens_list)]
  origin_1xH = np.zeros((1, paths[0].shape[1]))
  project, explained = pca_2d(np.concatenate([origin_1xH, *paths]))
  fig = _figure(8.5, 6.5)
  ax = fig.subplots()
  placed = set()
  for i, (path, toks) in enumerate(zip(paths, tokens_list)):
    xy = project(np.concatenate([origin_1xH, path]))
    color = f"C{i}"
    width = max(5.0 - 2.0 * i, 1.2)   # earlier paths wider, so shared prefixes show both
    ax.plot(xy[:, 0], xy[:, 1], "-o", color=color, markersize=4, linewidth=width, alpha=0.6,
            label=_quoted(toks))
    for a, b in zip(xy[:-1], xy[1:]):
      ax.annotate("", xy=b, xytext=a,
                  arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2, shrinkA=3, shrinkB=3))
    for t, word in enumerate(toks, start=1):
      key = (round(float(xy[t, 0]), 2), round(float(xy[t, 1]), 2))
      if key in placed:
        continue  # the same state as a shared prefix already labelled
      placed.add(key)
      ax.annotate(f"h{t} {word}", xy[t], xytext=(5, 5 if i % 2 == 0 else -13),
                  textcoords="offset points", fontsize=8, color=color,
                  bbox=dict(boxstyle="round,pad=0.1", facecolor="white", alpha=0.7,
                            edgecolor="none"))
  start = project(origin_1xH)[0]
  ax.plot(*start, marker="*", color="black", markersize=12, linestyle="none")
  ax.annotate("h0 = 0", start, xytext=(-9, -4), textcoords="offset points", fontsize=8,
              ha="right")
  ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
  ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
  ax.set_title(f"{model_name} hidden-state trajectory, word by word (PCA to 2-D)", fontsize=11)
  ax.legend(fontsize=8, loc="best")
  ax.margins(0.12)
  return fig


def gates_figure(gates_LxGxH, tokens: Sequence[str], model_name: str = "LSTM",
                 max_units: int = 12) -> Figure:
  """LSTM gate values per step: input, forget and output gates (units x steps heatmaps
  with tokens on the x axis) and each gate's mean over all units (bottom)."""
  g_TxGxH = np.asarray(gates_LxGxH)[:len(tokens)]
  if g_TxGxH.shape[1] != len(GATE_NAMES):
    raise ValueError(f"gates_figure expects LSTM gates L x 3 x H (input, forget, output); "
                     f"got {g_TxGxH.shape[1]} gates per step")
  units = _top_units(g_TxGxH.reshape(len(tokens), -1), max_units * 3) % g_TxGxH.shape[2]
  units = np.unique(units)[:max_units]
  fig = _figure(3.0 + 3 * (0.5 + 0.42 * len(tokens)), 3.4 + 0.24 * len(units))
  axes = fig.subplot_mosaic([list(GATE_NAMES), ["mean"] * 3], height_ratios=[3, 1.4])
  for g, gate in enumerate(GATE_NAMES):
    ax = axes[gate]
    image = ax.imshow(g_TxGxH[:, g, units].T, aspect="auto", cmap="magma", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(tokens)), tokens, fontsize=8, rotation=90)
    ax.set_yticks(range(len(units)), [f"unit {u}" for u in units], fontsize=7)
    ax.set_title(f"{gate} gate {gate[0]}_t", fontsize=10)
    ax.set_xlabel("word")
    ax.set_ylabel("hidden unit")
  fig.colorbar(image, ax=[axes[g] for g in GATE_NAMES], label="gate value (0 = shut, 1 = open)")
  ax = axes["mean"]
  for g, gate in enumerate(GATE_NAMES):
    ax.plot(range(len(tokens)), g_TxGxH[:, g].mean(axis=-1), "-o", markersize=4, label=gate)
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ax.set_ylim(0.0, 1.0)
  ax.set_xlabel("word")
  ax.set_ylabel("mean over all units")
  ax.set_title("each gate's mean over all units", fontsize=10)
  ax.legend(fontsize=8, ncols=3, loc="lower left")
  fig.suptitle(f"{model_name} gates while reading {_quoted(tokens)}", fontsize=11)
  return fig


def prefix_figure(probs: Mapping[str, Any], tokens: Sequence[str],
                  mark: Sequence[str] = CONTRAST_WORDS) -> Figure:
  """P(positive) read out after each prefix, one line per model (`prefix_probabilities`);
  dotted lines mark contrast words such as "but", where the verdict may turn."""
  fig = _figure(max(6.5, 1.8 + 0.8 * len(tokens)), 4.2)
  ax = fig.subplots()
  for t, word in enumerate(tokens):
    if word in mark:
      ax.axvline(t, color="grey", linestyle=":", linewidth=1.5)
  for name, p_T in probs.items():
    ax.plot(range(len(tokens)), np.asarray(p_T)[:len(tokens)], "-o", markersize=5, label=name)
  ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ax.set_ylim(-0.03, 1.03)
  ax.set_xlabel("the prefix read so far ends at this word")
  ax.set_ylabel("P(positive)")
  ax.set_title(f"The verdict after each prefix of {_quoted(tokens)}", fontsize=11)
  ax.legend(fontsize=8, loc="best")
  return fig


def saliency_figure(saliency: Mapping[str, Any], tokens: Sequence[str],
                    probs: Mapping[str, float] | None = None) -> Figure:
  """Gradient x input per word, one row per model (`gradient_x_input`), each row scaled
  to max |value| = 1; blue pushes toward positive, red toward negative."""
  names = list(saliency)
  rows_MxT = np.array([np.asarray(saliency[n])[:len(tokens)] for n in names], np.float64)
  scaled_MxT = rows_MxT / np.maximum(np.abs(rows_MxT).max(axis=1, keepdims=True), 1e-12)
  fig = _figure(max(6.0, 2.6 + 0.85 * len(tokens)), 1.6 + 0.62 * len(names))
  ax = fig.subplots()
  image = ax.imshow(scaled_MxT, aspect="auto", cmap="RdBu",
                    norm=TwoSlopeNorm(0.0, vmin=-1.0, vmax=1.0))
  for (r, c), v in np.ndenumerate(scaled_MxT):
    ax.text(c, r, f"{v:+.2f}", ha="center", va="center", fontsize=8,
            color="white" if abs(v) > 0.6 else "black")
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ylabels = [n if probs is None else f"{n}\nP(pos)={float(probs[n]):.2f}" for n in names]
  ax.set_yticks(range(len(names)), ylabels, fontsize=8)
  ax.set_xlabel("word")
  ax.set_ylabel("model")
  ax.set_title(f"Token saliency (gradient \u00d7 input) for {_quoted(tokens)}", fontsize=11)
  fig.colorbar(image, ax=ax, label="scaled per model\n(+ pushes toward positive)")
  return fig


# ---------------------------------------------------------------------------------------------
# models: small trained models on the contrast task, and the full set of pictures

SHOWN_MODELS = ("cnn", "lstm", "cnn_lstm")


@dataclasses.dataclass
class Trained:
  """A model from the registry with its trained parameters and final eval metrics."""

  name: str
  config: ml_collections.ConfigDict
  model: Any
  params: Any
  metrics: dict[str, float]


def contrast_config(name: str, train_steps: int = 400, width: int = 32, seed: int = 0):
  """A small `name` model on `contrast`: width-32 embeddings, filters and hidden units
  (few enough to read in a heatmap); 400 steps reach 100% eval accuracy for all three."""
  config = default.get_config(f"{name},contrast")
  config.seed = seed
  config.train_steps = train_steps
  config.log_every = max(1, min(100, train_steps))
  config.eval_every = train_steps
  config.arch.embed_dim = config.arch.hidden = config.arch.num_filters = width
  config.data.eval_size = 512
  return config


def train_contrast_model(name: str, workdir: str, train_steps: int = 400,
                         width: int = 32) -> Trained:
  """Trains with the project's trainer (writes config.json, metrics.jsonl into workdir)."""
  config = contrast_config(name, train_steps, width)
  state, metrics = train.train_and_return_state(config, workdir)
  _, model = train.setup(config)
  return Trained(name, config, model, state.params, metrics)


PARAMS_FILE, CONFIG_FILE, METRICS_FILE = "params.msgpack", "config.json", "final_metrics.json"


def save_trained(trained: Trained, directory: str) -> None:
  """params.msgpack (flax.serialization, no pickle), config.json and final_metrics.json."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, PARAMS_FILE), "wb") as f:
    f.write(flax.serialization.to_bytes(jax.device_get(trained.params)))
  with open(os.path.join(directory, CONFIG_FILE), "w") as f:
    f.write(trained.config.to_json(indent=2))
  with open(os.path.join(directory, METRICS_FILE), "w") as f:
    json.dump(trained.metrics, f, indent=2)


def load_trained(directory: str, name: str | None = None) -> Trained:
  """Reads what `save_trained` wrote; the config rebuilds the model, msgpack fills it."""
  paths = [os.path.join(directory, f) for f in (PARAMS_FILE, CONFIG_FILE)]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise ConfigError(f"checkpoint file {missing[0]} not found; point --checkpoint at the "
                      "models/ folder a previous visualize run wrote, or leave it out to train")
  with open(paths[1]) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if name is not None and config.model != name:
    raise ConfigError(f"checkpoint {directory} holds model {config.model!r}, expected {name!r}")
  task, model = train.setup(config)
  batch = task.train_batch(0, 2)
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch["inputs"],
                            batch["lengths"])["params"]   # shapes only: nothing runs
  with open(paths[0], "rb") as f:
    params = flax.serialization.from_bytes(template, f.read())
  metrics_path = os.path.join(directory, METRICS_FILE)
  metrics = json.load(open(metrics_path)) if os.path.isfile(metrics_path) else {}
  return Trained(config.model, config, model, params, metrics)


class Picture(NamedTuple):
  name: str      # file stem, e.g. 's2_prefix'
  caption: str   # one line for index.html
  figure: Figure


def _dataset(trained: Trained, max_rows: int = 512):
  """The contrast task's evaluation sentences (weight-0 padding rows dropped)."""
  task, _ = train.setup(trained.config)
  rows = [b for b in task.eval_batches(min(max_rows, 256))]
  ids = np.concatenate([b["inputs"] for b in rows])
  lengths = np.concatenate([b["lengths"] for b in rows])
  keep = np.concatenate([b["weights"] for b in rows]) > 0
  return ids[keep][:max_rows], lengths[keep][:max_rows]


class Readings(NamedTuple):
  ids_BxL: np.ndarray
  lengths_B: np.ndarray
  tokens: list[list[str]]
  prefix_probs: dict[str, list[np.ndarray]]   # model -> P(positive) after each word, per sentence
  outputs: dict[str, tuple[np.ndarray, Any]]  # model -> (probs_BxO, aux) of the whole sentences


def read_sentences(trained: Mapping[str, Trained], sentences: Sequence[str]) -> Readings:
  """One forward per model over every prefix of every sentence; the whole-sentence rows
  give the probabilities and aux of the sentences themselves."""
  min_len = 1
  if "cnn" in trained:
    min_len = max(trained["cnn"].config.arch.kernel_sizes)
  ids_BxL, lengths_B, tokens = encode_sentences(sentences, min_len)
  prefix_ids, prefix_lengths, last_B = prefix_batch(ids_BxL, lengths_B)
  prefix_probs, outputs = {}, {}
  for n, t in trained.items():
    probs_NxO, aux = forward(t.model, t.params, prefix_ids, prefix_lengths)
    prefix_probs[n] = np.split(probs_NxO[:, POSITIVE], np.cumsum(lengths_B)[:-1])
    outputs[n] = (probs_NxO[last_B], jax.tree.map(lambda a: a[last_B], aux))
  return Readings(ids_BxL, lengths_B, tokens, prefix_probs, outputs)


def render_figures(trained: Mapping[str, Trained], sentences: Sequence[str],
                   top_k: int = 5) -> list[Picture]:
  """Every picture for `sentences`, from the models in `trained` (any of cnn, lstm,
  cnn_lstm). Figures that need a model that is missing are skipped."""
  ids_BxL, lengths_B, tokens, prefix_probs, outputs = read_sentences(trained, sentences)
  saliency = {n: gradient_x_input(t.model, t.params, ids_BxL, lengths_B)
              for n, t in trained.items()}
  votes = None
  if "cnn" in trained:
    votes = filter_votes(trained["cnn"].params, trained["cnn"].config.arch.kernel_sizes)
  pictures = []
  for i, toks in enumerate(tokens):
    s = f"s{i + 1}"
    sentence = " ".join(toks)
    if "cnn" in trained:
      aux = outputs["cnn"][1]
      maps = {k: v[i] for k, v in aux["feature_maps"].items()}
      picks = {k: v[i] for k, v in aux["pool_argmax"].items()}
      pictures.append(Picture(
          f"{s}_cnn_filters", f'CNN on "{sentence}": every filter scores every n-gram window, '
          "each independently of the others (parallel); the red box is the window max-pooling "
          "keeps.",
          cnn_activation_figure(maps, picks, toks)))
      pictures.append(Picture(
          f"{s}_cnn_pooling", "Max-pooling keeps one n-gram per filter, wherever it is: "
          "the kept n-grams (coloured by the class the filter votes for) and the words "
          "they cover.", cnn_pooling_figure(maps, picks, toks, votes)))
    for name in ("lstm", "cnn_lstm"):
      if name in trained:
        label = {"lstm": "LSTM", "cnn_lstm": "CNN-LSTM"}[name]
        aux = outputs[name][1]
        pictures.append(Picture(
            f"{s}_{name}_hidden", f"{label}: the hidden state after each word (a lax.scan: "
            "h_t is computed from h_{t-1}, so it can carry what came before).",
            hidden_state_figure(aux["hidden"][i], toks, label)))
        if name == "lstm":
          pictures.append(Picture(
              f"{s}_lstm_gates", "LSTM gates per word: how much of each word is written in "
              "(input), how much memory is kept (forget), how much is shown (output).",
              gates_figure(aux["gates"][i], toks, label)))
    probs = {n: p[i] for n, p in prefix_probs.items()}
    pictures.append(Picture(
        f"{s}_prefix", "The verdict read out after each prefix (the same sentence run with "
        "lengths 1..T): where the line crosses 0.5, that word changed the model's mind.",
        prefix_figure(probs, toks)))
    pictures.append(Picture(
        f"{s}_saliency", "Which words each model's verdict leans on: gradient \u00d7 input of the "
        "positive-minus-negative logit, per word, all models side by side.",
        saliency_figure({n: v[i] for n, v in saliency.items()}, toks,
                        {n: o[0][i, POSITIVE] for n, o in outputs.items()})))
  if "lstm" in trained:
    hidden = outputs["lstm"][1]["hidden"]
    pictures.append(Picture(
        "lstm_trajectory", "The LSTM's state as a path h_0 -> h_T in 2-D (PCA): sentences "
        "that share a prefix share a path until they differ.",
        trajectory_figure([hidden[i] for i in range(len(tokens))], tokens, "LSTM")))
  if "cnn" in trained:
    cnn = trained["cnn"]
    data_ids, data_lengths = _dataset(cnn)
    _, aux = forward(cnn.model, cnn.params, data_ids, data_lengths)
    tables = {k: top_ngrams(v, data_ids, data_lengths, int(k[1:]), top_k)
              for k, v in aux["feature_maps"].items()}
    pictures.append(Picture(
        "cnn_top_ngrams", f"What the most influential CNN filters detect over {len(data_ids)} "
        "evaluation sentences: each filter's strongest distinct n-grams.",
        top_ngrams_figure(tables, votes)))
  return pictures
