"""viz: the numbers behind the pictures, and each figure's titles, axis labels and tokens.

Models are tiny (width 8) and trained for one step with the project's trainer, then read back
from their checkpoints: the figures' structure does not need a trained model.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import viz
from cnnrnn_jax.errors import ConfigError

REPO = pathlib.Path(__file__).resolve().parent.parent
SENTENCES = ["i love this movie", "i love this movie but hate the ending"]
LONG = SENTENCES[1].split()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
  """A models/ folder as a first visualize run writes it: one trainer workdir per model."""
  directory = tmp_path_factory.mktemp("viz_run") / "models"
  returned = {
    name: viz.train_contrast_model(name, str(directory / name), train_steps=1, width=8)
    for name in viz.SHOWN_MODELS
  }
  return directory, returned


@pytest.fixture(scope="module")
def trained(models_dir):
  """The models read back from their checkpoints, as `visualize --checkpoint` reads them."""
  return viz.load_models(str(models_dir[0]))


@pytest.fixture(scope="module")
def batch():
  return viz.encode_sentences(SENTENCES, min_len=5)


@pytest.fixture(scope="module")
def outputs(trained, batch):
  ids, lengths, _ = batch
  return {n: viz.forward(t.model, t.params, ids, lengths) for n, t in trained.items()}


def _labels(ax, axis="x"):
  ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
  return [t.get_text() for t in ticks]


def _colorbar_labels(fig):
  return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


# --- the numbers ------------------------------------------------------------------------------


def test_encode_sentences_pads_to_the_widest_filter():
  ids, lengths, tokens = viz.encode_sentences(["I love this movie!", "we hated it"][:1], 5)
  assert ids.shape == (1, 5) and ids[0, 4] == 0 and lengths.tolist() == [4]
  assert tokens == [["i", "love", "this", "movie"]]
  with pytest.raises(ValueError, match="not in CONTRAST_VOCAB"):
    viz.encode_sentences(["i love pizza"])


def test_ngram_labels_cover_valid_windows_and_mark_padding():
  assert viz.ngram_labels(LONG, 3)[:2] == ["i\nlove\nthis", "love\nthis\nmovie"]
  assert len(viz.ngram_labels(LONG, 3)) == 6
  assert viz.ngram_labels(["i", "love", "this", "movie"], 5, " ") == ["i love this movie <pad>"]


def test_prefix_rows_see_exactly_their_prefix(trained, batch, outputs):
  ids, lengths, _ = batch
  lstm = trained["lstm"]
  p_T = viz.prefix_probabilities(lstm.model, lstm.params, ids[1], lengths[1])
  assert p_T.shape == (8,)
  np.testing.assert_allclose(p_T[-1], outputs["lstm"][0][1, 1], rtol=1e-5)
  # the 4-word prefix of the long sentence is the short sentence
  np.testing.assert_allclose(p_T[3], outputs["lstm"][0][0, 1], rtol=1e-5)
  first_and_third, _ = viz.forward(lstm.model, lstm.params, ids[[1, 1]], np.array([1, 3]))
  np.testing.assert_allclose(p_T[[0, 2]], first_and_third[:, 1], rtol=1e-5)
  ids_NxL, lengths_N, last_B = viz.prefix_batch(ids, lengths)
  assert lengths_N.tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8]
  assert last_B.tolist() == [3, 11] and (ids_NxL[5] == ids[1]).all()


def _long_sentence_margin(t, ids, lengths):
  """embedding table -> the long sentence's positive-minus-negative logit."""

  @jax.jit
  def margin(table):
    params = {**t.params, "embed": {"embedding": table}}
    logits, _ = t.model.apply({"params": params}, ids, lengths)
    return jnp.sum(logits[1, 1] - logits[1, 0])

  return margin


def test_gradient_x_input_matches_the_embedding_table_gradient(trained, batch):
  ids, lengths, _ = batch
  for name, t in trained.items():
    saliency = viz.gradient_x_input(t.model, t.params, ids, lengths)
    assert saliency.shape == ids.shape
    assert np.all(saliency[0, 4:] == 0.0)
    table = t.params["embed"]["embedding"]
    # no word repeats in the long sentence
    grad_VxE = jax.grad(_long_sentence_margin(t, ids, lengths))(table)
    expected = np.sum(np.asarray(grad_VxE)[ids[1]] * np.asarray(table)[ids[1]], -1)
    np.testing.assert_allclose(saliency[1], expected, rtol=1e-4, atol=1e-6, err_msg=name)


def test_top_ngrams_are_distinct_and_sorted():
  ids, lengths, _ = viz.encode_sentences(["i love this movie", "we hated the plot"])
  fmap_BxWxF = np.zeros((2, 4, 2))
  fmap_BxWxF[0, :, 0] = [0.1, 0.9, 0.0, 5.0]  # window 3 is past the end for k=3
  fmap_BxWxF[1, :, 0] = [0.9, 0.2, 0.0, 0.0]
  fmap_BxWxF[1, :, 1] = [0.3, 0.4, 0.0, 0.0]
  table = viz.top_ngrams(fmap_BxWxF, ids, lengths, kernel_size=3, top_k=3)
  assert table[0] == [("love this movie", 0.9), ("we hated the", 0.9), ("hated the plot", 0.2)]
  assert [g for g, _ in table[1]][:2] == ["hated the plot", "we hated the"]


def test_filter_votes_split_the_head_by_width(trained):
  cnn = trained["cnn"]
  votes = viz.filter_votes(cnn.params, cnn.config.arch.kernel_sizes)
  kernel = np.asarray(cnn.params["head"]["kernel"])
  assert sorted(votes) == ["k3", "k4", "k5"] and votes["k4"].shape == (8,)
  np.testing.assert_allclose(votes["k4"], kernel[8:16, 1] - kernel[8:16, 0], rtol=1e-6)


def test_pca_of_points_on_a_line_has_one_component():
  points = np.outer(np.arange(5.0), np.ones(4))
  project, explained = viz.pca_2d(points)
  np.testing.assert_allclose(explained, [1.0, 0.0], atol=1e-9)
  np.testing.assert_allclose(np.abs(project(points)[:, 0]), np.abs(np.arange(5.0) - 2) * 2.0)


def test_load_trained_reads_the_trainers_checkpoint(models_dir, trained):
  directory, returned = models_dir
  assert sorted(os.listdir(directory / "lstm" / "checkpoints")) == ["1"]
  assert list(trained) == list(viz.SHOWN_MODELS)
  for name, t in trained.items():
    assert t.name == name and t.config.arch.hidden == 8 and t.config.train_steps == 1
    assert t.metrics == returned[name].metrics and "accuracy" in t.metrics
    for a, b in zip(jax.tree.leaves(returned[name].params), jax.tree.leaves(t.params), strict=True):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  with pytest.raises(ConfigError, match="holds model 'lstm', expected 'cnn'"):
    viz.load_trained(str(directory / "lstm"), "cnn")
  with pytest.raises(ConfigError, match="no checkpoints/ folder in .*; point --checkpoint"):
    viz.load_trained(str(directory / "nothing"))


def test_load_trained_without_a_readable_checkpoint_names_the_fix(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  with pytest.raises(ConfigError, match="no readable checkpoint in .*; point --checkpoint"):
    viz.load_trained(str(tmp_path))


def test_final_eval_metrics_is_the_last_eval_line(tmp_path):
  assert viz.final_eval_metrics(str(tmp_path)) == {}
  lines = [
    {"step": 5, "split": "eval", "seed": 0, "accuracy": 0.5},
    {"step": 10, "split": "train", "seed": 0, "accuracy": 0.7},
    {"step": 10, "split": "eval", "seed": 0, "accuracy": 0.75, "loss": 0.6},
  ]
  torn = '{"step": 15, "split": "ev'
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + torn)
  assert viz.final_eval_metrics(str(tmp_path)) == {"accuracy": 0.75, "loss": 0.6}


# --- the figures ------------------------------------------------------------------------------


def test_cnn_activation_figure(outputs):
  _, aux = outputs["cnn"]
  maps = {k: v[1] for k, v in aux["feature_maps"].items()}
  picks = {k: v[1] for k, v in aux["pool_argmax"].items()}
  fig = viz.cnn_activation_figure(maps, picks, LONG, max_filters=4)
  heatmaps = fig.axes[:3]
  assert [ax.get_title() for ax in heatmaps] == [f"width {k}: {k}-gram filters" for k in (3, 4, 5)]
  assert [ax.get_xlabel() for ax in heatmaps] == ["3-gram window", "4-gram window", "5-gram window"]
  assert heatmaps[0].get_ylabel() == "filter (strongest first)"
  assert _labels(heatmaps[0]) == viz.ngram_labels(LONG, 3)
  assert _labels(heatmaps[2])[0] == "i\nlove\nthis\nmovie\nbut"
  assert "i love this movie but hate the ending" in fig.get_suptitle()
  assert _colorbar_labels(fig) == ["activation (after ReLU)"]
  # the red boxes sit on the windows max-pooling picked, strongest filter on top
  shown = [int(label.split()[1]) for label in _labels(heatmaps[1], "y")]
  pooled = maps["k4"][picks["k4"], np.arange(8)]
  assert shown == list(np.argsort(-pooled, kind="stable")[:4])
  boxes = [(p.get_x() + 0.5, p.get_y() + 0.5) for p in heatmaps[1].patches]
  assert boxes == [(picks["k4"][f], row) for row, f in enumerate(shown)]


def test_cnn_pooling_figure(outputs, trained):
  _, aux = outputs["cnn"]
  maps = {k: v[1] for k, v in aux["feature_maps"].items()}
  picks = {k: v[1] for k, v in aux["pool_argmax"].items()}
  votes = viz.filter_votes(trained["cnn"].params, (3, 4, 5))
  fig = viz.cnn_pooling_figure(maps, picks, LONG, votes, max_filters=5)
  left, right = fig.axes
  assert left.get_title() == "the n-gram each of the strongest filters keeps"
  assert left.get_xlabel() == "max-pooled activation"
  assert len(_labels(left, "y")) == 5 and all(
    '"' in s and "filter" in s for s in _labels(left, "y")
  )
  assert _labels(right) == LONG and right.get_xlabel() == "word"
  assert right.get_title() == "which words survive max-pooling"
  assert [t.get_text() for t in left.get_legend().get_texts()] == [
    "filter votes positive",
    "filter votes negative",
  ]
  # every filter with a positive max covers its kept window
  heights = [bar.get_height() for bar in right.patches]
  active = sum(
    int(min(k, 8 - picks[f"k{k}"][f]) * (maps[f"k{k}"][picks[f"k{k}"][f], f] > 0))
    for k in (3, 4, 5)
    for f in range(8)
  )
  assert sum(heights) == active


def test_top_ngrams_figure(trained, batch):
  ids, lengths, _ = batch
  cnn = trained["cnn"]
  _, aux = viz.forward(cnn.model, cnn.params, ids, lengths)
  tables = {
    k: viz.top_ngrams(v, ids, lengths, int(k[1:]), top_k=3) for k, v in aux["feature_maps"].items()
  }
  fig = viz.top_ngrams_figure(tables, viz.filter_votes(cnn.params, (3, 4, 5)), max_filters=2)
  axes = fig.axes[:3]
  assert [ax.get_title() for ax in axes] == [
    f"width {k}: each filter's top 3 distinct {k}-grams" for k in (3, 4, 5)
  ]
  assert _labels(axes[0]) == ["#1", "#2", "#3"]
  assert axes[0].get_xlabel() == "rank over the dataset" and axes[0].get_ylabel() == "filter"
  assert all("votes" in s for s in _labels(axes[0], "y"))
  cell_texts = {t.get_text().split("\n")[0] for t in axes[0].texts}
  assert cell_texts <= {" ".join(LONG[i : i + 3]) for i in range(6)}
  assert _colorbar_labels(fig) == ["activation (after ReLU)"]


def test_hidden_state_figure(outputs):
  hidden = outputs["lstm"][1]["hidden"][1]
  fig = viz.hidden_state_figure(hidden, LONG, "LSTM")
  ax = fig.axes[0]
  assert ax.get_title().startswith("LSTM hidden state h_1..h_8")
  assert _labels(ax) == LONG
  assert _labels(ax, "y") == [f"unit {u}" for u in range(8)]
  assert ax.get_xlabel().startswith("step t") and ax.get_ylabel() == "hidden unit"
  assert _colorbar_labels(fig) == ["h_t value"]
  np.testing.assert_allclose(ax.images[0].get_array(), hidden[:8].T, rtol=1e-6)
  fewer = viz.hidden_state_figure(hidden, LONG, "LSTM", max_units=3)
  assert (
    len(_labels(fewer.axes[0], "y")) == 3 and "3 most active units" in fewer.axes[0].get_title()
  )


def test_trajectory_figure(outputs, batch):
  _, lengths, tokens = batch
  hidden = outputs["lstm"][1]["hidden"]
  fig = viz.trajectory_figure([hidden[0], hidden[1]], tokens)
  ax = fig.axes[0]
  assert ax.get_title() == "LSTM hidden-state trajectory, word by word (PCA to 2-D)"
  assert ax.get_xlabel().startswith("PC 1 (") and ax.get_ylabel().startswith("PC 2 (")
  words = [t.get_text() for t in ax.texts if t.get_text()]  # arrows are empty texts
  # the shared prefix is labelled once; every state of the long sentence is labelled
  assert words == [
    "h1 i",
    "h2 love",
    "h3 this",
    "h4 movie",
    "h5 but",
    "h6 hate",
    "h7 the",
    "h8 ending",
    "h0 = 0",
  ]
  assert [t.get_text() for t in ax.get_legend().get_texts()] == [f'"{s}"' for s in SENTENCES]


def test_gates_figure(outputs):
  gates = outputs["lstm"][1]["gates"][1]
  assert gates.shape[1:] == (3, 8)
  fig = viz.gates_figure(gates, LONG, max_units=4)
  by_title = {ax.get_title(): ax for ax in fig.axes}
  for gate in ("input gate i_t", "forget gate f_t", "output gate o_t"):
    assert _labels(by_title[gate]) == LONG and len(_labels(by_title[gate], "y")) == 4
  mean = by_title["each gate's mean over all units"]
  assert _labels(mean) == LONG and mean.get_ylabel() == "mean over all units"
  np.testing.assert_allclose(mean.lines[1].get_ydata(), gates[:8, 1].mean(-1), rtol=1e-6)
  assert _colorbar_labels(fig) == ["gate value (0 = shut, 1 = open)"]
  with pytest.raises(ValueError, match="expects LSTM gates"):
    viz.gates_figure(gates[:, :2], LONG)


def test_prefix_figure_marks_the_contrast_word():
  probs = {"cnn": np.linspace(0.9, 0.1, 8), "lstm": np.full(8, 0.5)}
  fig = viz.prefix_figure(probs, LONG)
  ax = fig.axes[0]
  assert (
    ax.get_title() == 'The verdict after each prefix of "i love this movie but hate the ending"'
  )
  assert _labels(ax) == LONG and ax.get_ylabel() == "P(positive)"
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cnn", "lstm"]
  vertical = [line for line in ax.lines if list(line.get_xdata()) == [4, 4]]
  assert len(vertical) == 1  # at "but"


def test_saliency_figure(outputs, trained, batch):
  ids, lengths, _ = batch
  saliency = {
    n: viz.gradient_x_input(t.model, t.params, ids, lengths)[1] for n, t in trained.items()
  }
  probs = {n: o[0][1, 1] for n, o in outputs.items()}
  fig = viz.saliency_figure(saliency, LONG, probs)
  ax = fig.axes[0]
  assert ax.get_title().startswith("Token saliency (gradient \u00d7 input)")
  assert _labels(ax) == LONG
  assert [s.split("\n")[0] for s in _labels(ax, "y")] == ["cnn", "lstm", "cnn_lstm"]
  assert ax.get_xlabel() == "word" and ax.get_ylabel() == "model"
  shown = ax.images[0].get_array()
  assert np.allclose(np.abs(shown).max(axis=1), 1.0)  # each row scaled to max |.| = 1
  np.testing.assert_allclose(
    shown[1], saliency["lstm"][:8] / np.abs(saliency["lstm"]).max(), rtol=1e-5
  )
  assert len(_colorbar_labels(fig)) == 1


def _visualize(*args):
  """experiments.visualize in a subprocess (its absl flags stay out of this process)."""
  return subprocess.run(
    [sys.executable, "-m", "experiments.visualize", *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )


@pytest.mark.slow  # a subprocess end to end
def test_visualize_writes_pngs_and_index_from_a_checkpoint(models_dir, tmp_path):
  directory, returned = models_dir
  out = tmp_path / "out"
  run = _visualize(
    f"--workdir={out}",
    f"--checkpoint={directory}",
    "--sentences=we hated the plot but loved the cast",
  )
  assert run.returncode == 0, run.stderr[-2000:]
  assert "wrote 9 figures" in run.stdout
  pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
  assert pngs == sorted(
    ["cnn_top_ngrams.png", "lstm_trajectory.png"]
    + [
      f"s1_{n}.png"
      for n in (
        "cnn_filters",
        "cnn_pooling",
        "lstm_hidden",
        "lstm_gates",
        "cnn_lstm_hidden",
        "prefix",
        "saliency",
      )
    ]
  )
  index = (out / "index.html").read_text()
  assert all(f'src="{png}"' in index for png in pngs)
  assert index.count("<figcaption>") == len(pngs)
  readouts = json.loads((out / "readouts.json").read_text())
  sentence = "we hated the plot but loved the cast"
  assert sorted(readouts[sentence]) == ["cnn", "cnn_lstm", "lstm"]
  assert [w for w, _ in readouts[sentence]["lstm"]] == sentence.split()
  assert all(0.0 <= p <= 1.0 for _, p in readouts[sentence]["cnn"])
  final = json.loads((out / "final_metrics.json").read_text())
  assert final == {n: t.metrics for n, t in returned.items()}
  assert not (out / "models").exists()  # read back, nothing trained


@pytest.mark.slow  # a subprocess end to end
def test_visualize_rejects_unknown_words_before_training(tmp_path):
  run = _visualize(f"--workdir={tmp_path}", "--sentences=i love pizza")
  assert run.returncode != 0
  assert "config error: --sentences: words ['pizza'] are not in CONTRAST_VOCAB" in run.stderr
  assert not (tmp_path / "models").exists()
