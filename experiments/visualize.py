r"""How each model reads a sentence: PNG figures and an index.html from trained models.

  python -m experiments.visualize --workdir=/tmp/cnnrnn_viz
  python -m experiments.visualize --workdir=/tmp/cnnrnn_viz2 \
      --sentences="the acting was great but really awful music;we hated the plot yet loved the cast" \
      --checkpoint=/tmp/cnnrnn_viz/models

Without --checkpoint it trains small cnn, lstm and cnn_lstm models on the `contrast` task
with the project's trainer (about a minute on a 2-core CPU) and saves them under
WORKDIR/models/<model>/ (params.msgpack + config.json), which a later --checkpoint reuses.
Writes WORKDIR/index.html (every PNG with one line of explanation), final_metrics.json and
readouts.json (P(positive) after each word of each sentence, per model).
Sentences use the contrast vocabulary (cnnrnn_jax.tasks.synthetic.CONTRAST_VOCAB).
"""

import html
import json
import os
import sys
import time

from absl import app, flags, logging

from cnnrnn_jax import viz
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.train import make_workdir

_WORKDIR = flags.DEFINE_string("workdir", None, "Where the PNGs, index.html and (when "
                               "training) models/<model>/ go.", required=True)
_SENTENCES = flags.DEFINE_string(
    "sentences", "i love this movie;i love this movie but hate the ending",
    "Sentences to draw, separated by ';' (words of the contrast task's vocabulary).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A models/ folder from an earlier run (one subfolder per model with "
    "params.msgpack and config.json); when given, nothing is trained.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 400, "Training steps per model.")
_TOP_K = flags.DEFINE_integer("top_k", 5, "n-grams per filter in the dataset figure.")


def get_models(workdir: str, checkpoint: str | None, train_steps: int) -> dict:
  trained = {}
  for name in viz.SHOWN_MODELS:
    start = time.perf_counter()
    if checkpoint:
      trained[name] = viz.load_trained(os.path.join(checkpoint, name), name)
    else:
      model_dir = os.path.join(workdir, "models", name)
      trained[name] = viz.train_contrast_model(name, model_dir, train_steps)
      viz.save_trained(trained[name], model_dir)
    logging.info("%s %s in %.1fs: %s", "loaded" if checkpoint else "trained", name,
                 time.perf_counter() - start, trained[name].metrics)
  return trained


def write_index(workdir: str, pictures, trained, sentences) -> str:
  rows = "".join(
      f"<tr><td>{html.escape(n)}</td><td>{t.metrics.get('accuracy', float('nan')):.3f}</td>"
      f"<td>{t.config.train_steps}</td></tr>" for n, t in trained.items())
  figures = "".join(
      f'<figure><img src="{p.name}.png" alt="{html.escape(p.name)}">'
      f"<figcaption>{html.escape(p.caption)}</figcaption></figure>\n" for p in pictures)
  page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>How each model reads a sentence</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}
figure{{margin:2em 0}} img{{max-width:100%}} figcaption{{font-size:1.05em}}
td,th{{padding:2px 12px;text-align:left}}</style></head><body>
<h1>How each model reads a sentence</h1>
<p>Sentences: {html.escape(' | '.join(sentences))}</p>
<p>Models trained on the <code>contrast</code> task (label = the sentiment after the contrast
word):</p>
<table><tr><th>model</th><th>eval accuracy</th><th>train steps</th></tr>{rows}</table>
{figures}</body></html>
"""
  path = os.path.join(workdir, "index.html")
  with open(path, "w") as f:
    f.write(page)
  return path


def write_readouts(workdir: str, trained, sentences) -> None:
  """readouts.json: {sentence: {model: [[word, P(positive) after it], ...]}}."""
  readings = viz.read_sentences(trained, sentences)
  table = {" ".join(toks): {n: [[w, round(float(p), 4)] for w, p in zip(toks, probs[i])]
                            for n, probs in readings.prefix_probs.items()}
           for i, toks in enumerate(readings.tokens)}
  with open(os.path.join(workdir, "readouts.json"), "w") as f:
    json.dump(table, f, indent=1)


def main(argv):
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
    trained = get_models(_WORKDIR.value, _CHECKPOINT.value, _TRAIN_STEPS.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  pictures = viz.render_figures(trained, sentences, _TOP_K.value)
  for picture in pictures:
    picture.figure.savefig(os.path.join(_WORKDIR.value, f"{picture.name}.png"), dpi=100)
  index = write_index(_WORKDIR.value, pictures, trained, sentences)
  with open(os.path.join(_WORKDIR.value, "final_metrics.json"), "w") as f:
    json.dump({n: t.metrics for n, t in trained.items()}, f, indent=2)
  write_readouts(_WORKDIR.value, trained, sentences)
  print(f"wrote {len(pictures)} figures and {index} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
  app.run(main)
