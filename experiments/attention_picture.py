r"""Draw the attention of trained encoder-decoders over one word, side by side.

  python -m experiments.attention_picture --word=phoneme --out=docs/seq2seq_attention.png \
      --workdirs=runs/s2s/lstm_g2p/seed_0,runs/s2s/transformer_g2p/seed_0

Each run is restored (its newest good checkpoint), decodes the word greedily, and shows the
attention weights of each output phone over the letters (viz/seq2seq.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags

from experiments import cli

_WORKDIRS = flags.DEFINE_list("workdirs", [], "Trained seq2seq runs (seed folders).")
_WORD = flags.DEFINE_string("word", "phoneme", "The source to decode.")
_OUT = flags.DEFINE_string("out", "seq2seq_attention.png", "Where the PNG goes.")


def main(argv: Sequence[str]) -> None:
  """Restores each run, decodes the word, writes the figure."""
  if len(argv) > 1 or not _WORKDIRS.value:
    raise app.UsageError("pass --workdirs=RUN[,RUN...] and nothing else")
  from cnnrnn_jax import train
  from cnnrnn_jax.viz import seq2seq as viz_seq2seq

  panels = []
  for run in _WORKDIRS.value:
    try:
      config, state = train.restore(run)
    except FileNotFoundError as e:
      cli.fail(str(e))
    task, model = train.setup(config)
    src, out, weights = viz_seq2seq.attention_of(model, state.params, task, _WORD.value)
    panels.append((config.model, src, out, weights))
  viz_seq2seq.attention_figure(panels).savefig(_OUT.value, dpi=110, bbox_inches="tight")
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  cli.run(main)
