r"""How each model reads a sentence: PNG figures and an index.html from trained models.

  python -m experiments.visualize --workdir=runs/viz
  python -m experiments.visualize --workdir=runs/viz2 --checkpoint=runs/viz/models \
      --sentences="the acting was great but really awful music;we hated the plot yet loved the cast"

Without --checkpoint it trains small cnn, lstm and cnn_lstm models on the `contrast` task
with the project's trainer (about a minute on a 2-core CPU), one trainer workdir per model
under WORKDIR/models/<model>/ (config.json, metrics.jsonl, tensorboard/ and the Orbax
checkpoints/). --checkpoint=WORKDIR/models of such a run reads those checkpoints back and
trains nothing. Writes WORKDIR/index.html (every PNG with one line of explanation),
final_metrics.json and readouts.json (P(positive) after each word of each sentence, per model).
Sentences use the contrast vocabulary (cnnrnn_jax.tasks.synthetic.CONTRAST_VOCAB).
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags, logging

from cnnrnn_jax import viz
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.train import make_workdir
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Where the PNGs, index.html and (when training) models/<model>/ go.",
  required=True,
)
_SENTENCES = flags.DEFINE_string(
  "sentences",
  "i love this movie;i love this movie but hate the ending",
  "Sentences to draw, separated by ';' (words of the contrast task's vocabulary).",
)
_CHECKPOINT = flags.DEFINE_string(
  "checkpoint",
  None,
  "The models/ folder of an earlier run (one trainer workdir with Orbax checkpoints per "
  "model); when given, nothing is trained.",
)
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 400, "Training steps per model.")
_TOP_K = flags.DEFINE_integer("top_k", 5, "n-grams per filter in the dataset figure.")


def main(argv):
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  start = time.perf_counter()
  sentences = [s.strip() for s in _SENTENCES.value.split(";") if s.strip()]
  try:
    if _TRAIN_STEPS.value <= 0:
      raise ConfigError(f"--train_steps={_TRAIN_STEPS.value} must be positive")
    try:
      viz.encode_sentences(sentences)
    except ValueError as e:
      raise ConfigError(f"--sentences: {e}") from None
    make_workdir(_WORKDIR.value)
    if _CHECKPOINT.value:
      trained = viz.load_models(_CHECKPOINT.value)
    else:
      trained = viz.train_models(os.path.join(_WORKDIR.value, "models"), _TRAIN_STEPS.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  pictures, index = viz.write_pictures(_WORKDIR.value, trained, sentences, _TOP_K.value)
  print(f"wrote {len(pictures)} figures and {index} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
  app.run(main)
