"""How each model reads a sentence: pictures drawn from a trained model's own outputs.

Three layers, each usable on its own, and the pictures of a whole run:
  compute.py   arrays in, arrays out: `forward` (probabilities + aux: conv feature maps and
               max-pool picks, hidden states, gates), `prefix_batch` / `prefix_probabilities`,
               `gradient_x_input` (token saliency), `top_ngrams`, `filter_votes`, `pca_2d`.
  figures.py   arrays + tokens in, a `matplotlib.figure.Figure` out: `cnn_activation_figure`,
               `cnn_pooling_figure`, `top_ngrams_figure`, `hidden_state_figure`,
               `trajectory_figure`, `gates_figure`, `prefix_figure`, `saliency_figure`.
  trained.py   `Trained` models on the `contrast` task: `train_models` writes one trainer
               workdir per model, `load_models` reads them back through `train.restore`
               (the trainer's Orbax checkpoints).
  pictures.py  `render_figures` (every picture the notebook and `experiments/visualize.py`
               show) and `write_pictures` (the PNGs, index.html and read-outs of a run).

Every public name is importable from `cnnrnn_jax.viz` itself (`viz.forward`,
`viz.render_figures`, ...).
"""

from cnnrnn_jax.viz.compute import (
  POSITIVE,
  encode_sentences,
  filter_votes,
  forward,
  gradient_x_input,
  ngram_labels,
  num_windows,
  pca_2d,
  prefix_batch,
  prefix_probabilities,
  top_ngrams,
)
from cnnrnn_jax.viz.figures import (
  GATE_NAMES,
  VOTE_COLORS,
  cnn_activation_figure,
  cnn_pooling_figure,
  gates_figure,
  hidden_state_figure,
  prefix_figure,
  saliency_figure,
  top_ngrams_figure,
  trajectory_figure,
)
from cnnrnn_jax.viz.pictures import (
  Picture,
  Readings,
  index_html,
  read_sentences,
  readouts,
  render_figures,
  write_pictures,
)
from cnnrnn_jax.viz.trained import (
  SHOWN_MODELS,
  Trained,
  contrast_config,
  final_eval_metrics,
  load_models,
  load_trained,
  train_contrast_model,
  train_models,
)

__all__ = [
  "GATE_NAMES",
  "POSITIVE",
  "SHOWN_MODELS",
  "VOTE_COLORS",
  "Picture",
  "Readings",
  "Trained",
  "cnn_activation_figure",
  "cnn_pooling_figure",
  "contrast_config",
  "encode_sentences",
  "filter_votes",
  "final_eval_metrics",
  "forward",
  "gates_figure",
  "gradient_x_input",
  "hidden_state_figure",
  "index_html",
  "load_models",
  "load_trained",
  "ngram_labels",
  "num_windows",
  "pca_2d",
  "prefix_batch",
  "prefix_figure",
  "prefix_probabilities",
  "read_sentences",
  "readouts",
  "render_figures",
  "saliency_figure",
  "top_ngrams",
  "top_ngrams_figure",
  "train_contrast_model",
  "train_models",
  "trajectory_figure",
  "write_pictures",
]
