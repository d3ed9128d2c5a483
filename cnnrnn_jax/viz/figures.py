"""Pictures of how each model reads a sentence: arrays + tokens in, a `Figure` out.

Shape key: L padded length, T valid words of one sentence, W n-gram windows, F filters,
S filters shown, N n-grams per filter, H hidden units, G gates (LSTM: input, forget,
output), U units, M models, R x C the cells of a heatmap.

`cnn_activation_figure`, `cnn_pooling_figure`, `top_ngrams_figure`, `hidden_state_figure`,
`trajectory_figure`, `gates_figure`, `prefix_figure`, `saliency_figure`. Each takes the
numpy arrays of `viz.compute` (one sentence's slice of them) and the sentence's tokens;
figures come from `plotting.figure` (no pyplot, no global state; `fig.savefig('x.png')`
renders with Agg).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from cnnrnn_jax.plotting import figure
from cnnrnn_jax.tasks.synthetic import CONTRAST_WORDS
from cnnrnn_jax.viz.compute import ngram_labels, num_windows, pca_2d

VOTE_COLORS = {True: "#2166ac", False: "#b2182b"}  # pushes toward positive / negative
GATE_NAMES = ("input", "forget", "output")


def _quoted(tokens: Sequence[str]) -> str:
  return '"' + " ".join(tokens) + '"'


def _widths(feature_maps: Mapping[str, Any]) -> list[str]:
  """The maps' names 'k3', 'k4', ... in order of filter width."""
  return sorted(feature_maps, key=lambda name: int(name[1:]))


def _pooled(feature_maps, pool_argmax, name: str, length: int):
  """(valid map W x F, picked window per filter F, pooled value per filter F)."""
  y_WxF = np.asarray(feature_maps[name])[: num_windows(length, int(name[1:]))]
  picks_F = np.asarray(pool_argmax[name])
  return y_WxF, picks_F, y_WxF[picks_F, np.arange(y_WxF.shape[1])]


def _annotate_cells(ax, values_RxC, fmt: str, threshold: float, fontsize: float = 7):
  """Writes each cell's value; dark text on light cells and light text on dark ones."""
  for (r, c), v in np.ndenumerate(values_RxC):
    ax.text(
      c,
      r,
      format(v, fmt),
      ha="center",
      va="center",
      fontsize=fontsize,
      color="black" if v >= threshold else "white",
    )


def cnn_activation_figure(
  feature_maps: Mapping[str, Any],
  pool_argmax: Mapping[str, Any],
  tokens: Sequence[str],
  max_filters: int = 10,
) -> Figure:
  """Per filter width: each filter's activation at every n-gram window (a heatmap with the
  n-grams on the x axis); a red box marks the window max-pooling keeps.

  feature_maps / pool_argmax: one sentence's aux['feature_maps'] (W x F per 'kK') and
  aux['pool_argmax'] (F per 'kK'). Shows the `max_filters` filters with the largest
  pooled value per width, strongest on top.
  """
  names = _widths(feature_maps)
  fig = figure(1.2 + 3.3 * len(names), 2.6 + 0.34 * max_filters)
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
      ax.add_patch(
        Rectangle((picks_F[f] - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
      )
    ax.set_xticks(range(y_WxF.shape[0]), ngram_labels(tokens, k), fontsize=8)
    ax.set_yticks(range(len(shown)), [f"filter {f}" for f in shown], fontsize=8)
    ax.set_title(f"width {k}: {k}-gram filters", fontsize=10)
    ax.set_xlabel(f"{k}-gram window")
    ax.set_ylabel("filter (strongest first)")
  fig.colorbar(image, ax=list(axes), label="activation (after ReLU)", shrink=0.9)
  fig.suptitle(
    f"CNN: every filter slides over {_quoted(tokens)}\n(red box = the window max-pooling keeps)",
    fontsize=11,
  )
  return fig


def cnn_pooling_figure(
  feature_maps: Mapping[str, Any],
  pool_argmax: Mapping[str, Any],
  tokens: Sequence[str],
  votes: Mapping[str, Any] | None = None,
  max_filters: int = 12,
) -> Figure:
  """What max-over-time pooling keeps: left, the n-gram each of the strongest filters
  picked (bar = its pooled value, colour = the class it votes for when `votes` from
  `filter_votes` is given); right, how many filters' kept n-gram covers each word."""
  fig = figure(11.5, 1.8 + 0.3 * max_filters)
  left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
  entries, cover_T = [], np.zeros(len(tokens), int)
  for name in _widths(feature_maps):
    k = int(name[1:])
    _, picks_F, pooled_F = _pooled(feature_maps, pool_argmax, name, len(tokens))
    for f, (start, value) in enumerate(zip(picks_F, pooled_F)):
      if value <= 0:
        continue  # a filter silent on the whole sentence keeps nothing
      cover_T[start : start + k] += 1
      vote = None if votes is None else float(np.asarray(votes[name])[f])
      entries.append((float(value), k, f, " ".join(tokens[start : start + k]), vote))
  entries = sorted(entries, key=lambda e: -e[0])[:max_filters][::-1]
  colors = ["grey" if e[4] is None else VOTE_COLORS[e[4] > 0] for e in entries]
  left.barh(range(len(entries)), [e[0] for e in entries], color=colors)
  left.set_yticks(
    range(len(entries)), [f'"{e[3]}"  (k{e[1]} filter {e[2]})' for e in entries], fontsize=8
  )
  left.set_xlabel("max-pooled activation")
  left.set_title("the n-gram each of the strongest filters keeps", fontsize=10)
  if votes is not None:
    left.legend(
      handles=[
        Patch(color=VOTE_COLORS[True], label="filter votes positive"),
        Patch(color=VOTE_COLORS[False], label="filter votes negative"),
      ],
      fontsize=8,
      loc="lower right",
    )
  right.bar(range(len(tokens)), cover_T, color="#4d4d4d")
  right.set_xticks(range(len(tokens)), tokens, fontsize=9)
  right.set_xlabel("word")
  right.set_ylabel("filters whose kept n-gram covers it")
  right.set_title("which words survive max-pooling", fontsize=10)
  fig.suptitle(f"CNN max-over-time pooling on {_quoted(tokens)}", fontsize=11)
  return fig


def top_ngrams_figure(
  tables: Mapping[str, list], votes: Mapping[str, Any] | None = None, max_filters: int = 6
) -> Figure:
  """Each shown filter's strongest distinct n-grams over a dataset (`top_ngrams` per width).

  Shows, per width, the `max_filters` filters with the largest |vote| x best activation
  (the ones that sway the verdict most) when `votes` is given, else the most active.
  """
  names = _widths(tables)
  top_k = max(len(row) for name in names for row in tables[name])
  fig = figure(2.2 + 2.45 * top_k, 1.2 + len(names) * (0.9 + 0.36 * max_filters))
  axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
  vmax = max(row[0][1] for name in names for row in tables[name] if row)
  for ax, name in zip(axes, names):
    k = int(name[1:])
    table = tables[name]
    best_F = np.array([row[0][1] if row else 0.0 for row in table])
    vote_F = None if votes is None else np.asarray(votes[name])
    score_F = best_F if vote_F is None else best_F * np.abs(vote_F)
    shown = np.argsort(-score_F, kind="stable")[:max_filters]
    acts_SxN = np.array([[a for _, a in table[f]] + [0.0] * (top_k - len(table[f])) for f in shown])
    image = ax.imshow(acts_SxN, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax)
    for (r, c), value in np.ndenumerate(acts_SxN):
      if c < len(table[shown[r]]):
        ax.text(
          c,
          r,
          f"{table[shown[r]][c][0]}\n{value:.2f}",
          ha="center",
          va="center",
          fontsize=7.5,
          color="black" if value >= 0.6 * vmax else "white",
        )
    ylabels = [
      f"filter {f}"
      if vote_F is None
      else f"filter {f} (votes {'positive' if vote_F[f] > 0 else 'negative'})"
      for f in shown
    ]
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


def hidden_state_figure(
  hidden_LxH: Any, tokens: Sequence[str], model_name: str = "LSTM", max_units: int = 16
) -> Figure:
  """The hidden state h_t after each word (a units x steps heatmap, tokens on the x axis);
  the `max_units` units that change most when H is larger."""
  h_TxH = np.asarray(hidden_LxH)[: len(tokens)]
  units = _top_units(h_TxH, max_units)
  fig = figure(3.0 + 0.75 * len(tokens), 1.9 + 0.26 * len(units))
  ax = fig.subplots()
  image = ax.imshow(h_TxH[:, units].T, aspect="auto", cmap="RdBu_r", vmin=-1.0, vmax=1.0)
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ax.set_yticks(range(len(units)), [f"unit {u}" for u in units], fontsize=7)
  ax.set_xlabel("step t (h_t is the state after reading this word)")
  ax.set_ylabel("hidden unit")
  shown = "" if len(units) == h_TxH.shape[1] else f" ({len(units)} most active units)"
  ax.set_title(
    f"{model_name} hidden state h_1..h_{len(tokens)}{shown}\n{_quoted(tokens)}", fontsize=10
  )
  fig.colorbar(image, ax=ax, label="h_t value")
  return fig


def trajectory_figure(
  hiddens: Sequence[Any], tokens_list: Sequence[Sequence[str]], model_name: str = "LSTM"
) -> Figure:
  """The path h_0 = 0 -> h_1 -> ... -> h_T of each sentence, on the 2 principal components
  of all the states shown. Sentences that share a prefix share the start of their path."""
  paths = [np.asarray(h)[: len(toks)] for h, toks in zip(hiddens, tokens_list)]
  origin_1xH = np.zeros((1, paths[0].shape[1]))
  project, explained = pca_2d(np.concatenate([origin_1xH, *paths]))
  fig = figure(8.5, 6.5)
  ax = fig.subplots()
  placed = set()
  for i, (path, toks) in enumerate(zip(paths, tokens_list)):
    xy = project(np.concatenate([origin_1xH, path]))
    color = f"C{i}"
    width = max(5.0 - 2.0 * i, 1.2)  # earlier paths wider, so shared prefixes show both
    ax.plot(
      xy[:, 0],
      xy[:, 1],
      "-o",
      color=color,
      markersize=4,
      linewidth=width,
      alpha=0.6,
      label=_quoted(toks),
    )
    for a, b in zip(xy[:-1], xy[1:]):
      ax.annotate(
        "",
        xy=b,
        xytext=a,
        arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2, shrinkA=3, shrinkB=3),
      )
    for t, word in enumerate(toks, start=1):
      key = (round(float(xy[t, 0]), 2), round(float(xy[t, 1]), 2))
      if key in placed:
        continue  # the same state as a shared prefix already labelled
      placed.add(key)
      ax.annotate(
        f"h{t} {word}",
        xy[t],
        xytext=(5, 5 if i % 2 == 0 else -13),
        textcoords="offset points",
        fontsize=8,
        color=color,
        bbox=dict(boxstyle="round,pad=0.1", facecolor="white", alpha=0.7, edgecolor="none"),
      )
  start = project(origin_1xH)[0]
  ax.plot(*start, marker="*", color="black", markersize=12, linestyle="none")
  ax.annotate("h0 = 0", start, xytext=(-9, -4), textcoords="offset points", fontsize=8, ha="right")
  ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
  ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
  ax.set_title(f"{model_name} hidden-state trajectory, word by word (PCA to 2-D)", fontsize=11)
  ax.legend(fontsize=8, loc="best")
  ax.margins(0.12)
  return fig


def gates_figure(
  gates_LxGxH: Any, tokens: Sequence[str], model_name: str = "LSTM", max_units: int = 12
) -> Figure:
  """LSTM gate values per step: input, forget and output gates (units x steps heatmaps
  with tokens on the x axis) and each gate's mean over all units (bottom)."""
  g_TxGxH = np.asarray(gates_LxGxH)[: len(tokens)]
  if g_TxGxH.shape[1] != len(GATE_NAMES):
    raise ValueError(
      f"gates_figure expects LSTM gates L x 3 x H (input, forget, output); "
      f"got {g_TxGxH.shape[1]} gates per step"
    )
  units = _top_units(g_TxGxH.reshape(len(tokens), -1), max_units * 3) % g_TxGxH.shape[2]
  units = np.unique(units)[:max_units]
  fig = figure(3.0 + 3 * (0.5 + 0.42 * len(tokens)), 3.4 + 0.24 * len(units))
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


def prefix_figure(
  probs: Mapping[str, Any], tokens: Sequence[str], mark: Sequence[str] = CONTRAST_WORDS
) -> Figure:
  """P(positive) read out after each prefix, one line per model (`prefix_probabilities`);
  dotted lines mark contrast words such as "but", where the verdict may turn."""
  fig = figure(max(6.5, 1.8 + 0.8 * len(tokens)), 4.2)
  ax = fig.subplots()
  for t, word in enumerate(tokens):
    if word in mark:
      ax.axvline(t, color="grey", linestyle=":", linewidth=1.5)
  for name, p_T in probs.items():
    ax.plot(range(len(tokens)), np.asarray(p_T)[: len(tokens)], "-o", markersize=5, label=name)
  ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ax.set_ylim(-0.03, 1.03)
  ax.set_xlabel("the prefix read so far ends at this word")
  ax.set_ylabel("P(positive)")
  ax.set_title(f"The verdict after each prefix of {_quoted(tokens)}", fontsize=11)
  ax.legend(fontsize=8, loc="best")
  return fig


def saliency_figure(
  saliency: Mapping[str, Any], tokens: Sequence[str], probs: Mapping[str, float] | None = None
) -> Figure:
  """Gradient x input per word, one row per model (`gradient_x_input`), each row scaled
  to max |value| = 1; blue pushes toward positive, red toward negative."""
  names = list(saliency)
  rows_MxT = np.array([np.asarray(saliency[n])[: len(tokens)] for n in names], np.float64)
  scaled_MxT = rows_MxT / np.maximum(np.abs(rows_MxT).max(axis=1, keepdims=True), 1e-12)
  fig = figure(max(6.0, 2.6 + 0.85 * len(tokens)), 1.6 + 0.62 * len(names))
  ax = fig.subplots()
  image = ax.imshow(
    scaled_MxT, aspect="auto", cmap="RdBu", norm=TwoSlopeNorm(0.0, vmin=-1.0, vmax=1.0)
  )
  for (r, c), v in np.ndenumerate(scaled_MxT):
    ax.text(
      c,
      r,
      f"{v:+.2f}",
      ha="center",
      va="center",
      fontsize=8,
      color="white" if abs(v) > 0.6 else "black",
    )
  ax.set_xticks(range(len(tokens)), tokens, fontsize=9)
  ylabels = [n if probs is None else f"{n}\nP(pos)={float(probs[n]):.2f}" for n in names]
  ax.set_yticks(range(len(names)), ylabels, fontsize=8)
  ax.set_xlabel("word")
  ax.set_ylabel("model")
  ax.set_title(f"Token saliency (gradient \u00d7 input) for {_quoted(tokens)}", fontsize=11)
  fig.colorbar(image, ax=ax, label="scaled per model\n(+ pushes toward positive)")
  return fig
