"""Every picture of a set of trained models, and the files `experiments/visualize.py` writes.

`read_sentences` runs each model over every prefix of the sentences; `render_figures` draws
the full set of figures the notebook and `visualize` show; `write_pictures` saves them as
PNGs with an index.html (each PNG with one line of explanation), final_metrics.json and
readouts.json (P(positive) after each word of each sentence, per model).

Shape key: B sentences, L padded length, N prefixes (all sentences' together), O classes.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from matplotlib.figure import Figure

from cnnrnn_jax import train
from cnnrnn_jax.viz.compute import (
  POSITIVE,
  encode_sentences,
  filter_votes,
  forward,
  gradient_x_input,
  prefix_batch,
  top_ngrams,
)
from cnnrnn_jax.viz.figures import (
  cnn_activation_figure,
  cnn_pooling_figure,
  gates_figure,
  hidden_state_figure,
  prefix_figure,
  saliency_figure,
  top_ngrams_figure,
  trajectory_figure,
)
from cnnrnn_jax.viz.trained import Trained


class Picture(NamedTuple):
  """One figure with the file stem and caption it is saved and shown under."""

  name: str  # file stem, e.g. 's2_prefix'
  caption: str  # one line for index.html
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
  """What `read_sentences` returns: the encoded sentences and each model's read-outs."""

  ids_BxL: np.ndarray
  lengths_B: np.ndarray
  tokens: list[list[str]]
  prefix_probs: dict[str, list[np.ndarray]]  # model -> P(positive) after each word, per sentence
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


def render_figures(
  trained: Mapping[str, Trained], sentences: Sequence[str], top_k: int = 5
) -> list[Picture]:
  """Every picture for `sentences`, from the models in `trained` (any of cnn, lstm,
  cnn_lstm). Figures that need a model that is missing are skipped."""
  ids_BxL, lengths_B, tokens, prefix_probs, outputs = read_sentences(trained, sentences)
  saliency = {
    n: gradient_x_input(t.model, t.params, ids_BxL, lengths_B) for n, t in trained.items()
  }
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
      pictures.append(
        Picture(
          f"{s}_cnn_filters",
          f'CNN on "{sentence}": every filter scores every n-gram window, '
          "each independently of the others (parallel); the red box is the window max-pooling "
          "keeps.",
          cnn_activation_figure(maps, picks, toks),
        )
      )
      pictures.append(
        Picture(
          f"{s}_cnn_pooling",
          "Max-pooling keeps one n-gram per filter, wherever it is: "
          "the kept n-grams (coloured by the class the filter votes for) and the words "
          "they cover.",
          cnn_pooling_figure(maps, picks, toks, votes),
        )
      )
    for name in ("lstm", "cnn_lstm"):
      if name in trained:
        label = {"lstm": "LSTM", "cnn_lstm": "CNN-LSTM"}[name]
        aux = outputs[name][1]
        pictures.append(
          Picture(
            f"{s}_{name}_hidden",
            f"{label}: the hidden state after each word (a lax.scan: "
            "h_t is computed from h_{t-1}, so it can carry what came before).",
            hidden_state_figure(aux["hidden"][i], toks, label),
          )
        )
        if name == "lstm":
          pictures.append(
            Picture(
              f"{s}_lstm_gates",
              "LSTM gates per word: how much of each word is written in "
              "(input), how much memory is kept (forget), how much is shown (output).",
              gates_figure(aux["gates"][i], toks, label),
            )
          )
    probs = {n: p[i] for n, p in prefix_probs.items()}
    pictures.append(
      Picture(
        f"{s}_prefix",
        "The verdict read out after each prefix (the same sentence run with "
        "lengths 1..T): where the line crosses 0.5, that word changed the model's mind.",
        prefix_figure(probs, toks),
      )
    )
    pictures.append(
      Picture(
        f"{s}_saliency",
        "Which words each model's verdict leans on: gradient \u00d7 input of the "
        "positive-minus-negative logit, per word, all models side by side.",
        saliency_figure(
          {n: v[i] for n, v in saliency.items()},
          toks,
          {n: o[0][i, POSITIVE] for n, o in outputs.items()},
        ),
      )
    )
  if "lstm" in trained:
    hidden = outputs["lstm"][1]["hidden"]
    pictures.append(
      Picture(
        "lstm_trajectory",
        "The LSTM's state as a path h_0 -> h_T in 2-D (PCA): sentences "
        "that share a prefix share a path until they differ.",
        trajectory_figure([hidden[i] for i in range(len(tokens))], tokens, "LSTM"),
      )
    )
  if "cnn" in trained:
    cnn = trained["cnn"]
    data_ids, data_lengths = _dataset(cnn)
    _, aux = forward(cnn.model, cnn.params, data_ids, data_lengths)
    tables = {
      k: top_ngrams(v, data_ids, data_lengths, int(k[1:]), top_k)
      for k, v in aux["feature_maps"].items()
    }
    pictures.append(
      Picture(
        "cnn_top_ngrams",
        f"What the most influential CNN filters detect over {len(data_ids)} "
        "evaluation sentences: each filter's strongest distinct n-grams.",
        top_ngrams_figure(tables, votes),
      )
    )
  return pictures


def readouts(trained: Mapping[str, Trained], sentences: Sequence[str]) -> dict[str, Any]:
  """{sentence: {model: [[word, P(positive) after it], ...]}}, rounded to 4 digits."""
  readings = read_sentences(trained, sentences)
  return {
    " ".join(toks): {
      n: [[w, round(float(p), 4)] for w, p in zip(toks, probs[i])]
      for n, probs in readings.prefix_probs.items()
    }
    for i, toks in enumerate(readings.tokens)
  }


def index_html(
  pictures: Sequence[Picture], trained: Mapping[str, Trained], sentences: Sequence[str]
) -> str:
  """A page with the models' eval accuracy and every picture (as NAME.png) with its caption."""
  rows = "".join(
    f"<tr><td>{html.escape(n)}</td><td>{t.metrics.get('accuracy', float('nan')):.3f}</td>"
    f"<td>{t.config.train_steps}</td></tr>"
    for n, t in trained.items()
  )
  figures = "".join(
    f'<figure><img src="{p.name}.png" alt="{html.escape(p.name)}">'
    f"<figcaption>{html.escape(p.caption)}</figcaption></figure>\n"
    for p in pictures
  )
  return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>How each model reads a sentence</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}
figure{{margin:2em 0}} img{{max-width:100%}} figcaption{{font-size:1.05em}}
td,th{{padding:2px 12px;text-align:left}}</style></head><body>
<h1>How each model reads a sentence</h1>
<p>Sentences: {html.escape(" | ".join(sentences))}</p>
<p>Models trained on the <code>contrast</code> task (label = the sentiment after the contrast
word):</p>
<table><tr><th>model</th><th>eval accuracy</th><th>train steps</th></tr>{rows}</table>
{figures}</body></html>
"""


def write_pictures(
  workdir: str, trained: Mapping[str, Trained], sentences: Sequence[str], top_k: int = 5
) -> tuple[list[Picture], str]:
  """Writes every picture as workdir/NAME.png (100 dpi), index.html, final_metrics.json
  ({model: final eval metrics}) and readouts.json; returns (pictures, path of index.html)."""
  pictures = render_figures(trained, sentences, top_k)
  for picture in pictures:
    picture.figure.savefig(os.path.join(workdir, f"{picture.name}.png"), dpi=100)
  index = os.path.join(workdir, "index.html")
  with open(index, "w") as f:
    f.write(index_html(pictures, trained, sentences))
  with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
    json.dump({n: t.metrics for n, t in trained.items()}, f, indent=2)
  with open(os.path.join(workdir, "readouts.json"), "w") as f:
    json.dump(readouts(trained, sentences), f, indent=1)
  return pictures, index
