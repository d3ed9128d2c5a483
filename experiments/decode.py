r"""Decode a trained sequence-to-sequence run: greedy and beam search, scored on its eval set.

  python -m experiments.train --config=cnnrnn_jax/configs/seq2seq.py:lstm,g2p \
      --config.data.train_path=$D/cmudict/cmudict.dict --seeds=0 --workdir=runs/s2s/lstm_g2p
  python -m experiments.decode --workdir=runs/s2s/lstm_g2p --beams=1,5

  # a transduction trained on lengths <= 20, decoded at 20 and at 40 (length generalisation)
  python -m experiments.decode --workdir=runs/s2s/lstm_reverse --eval_lens=20,40

  # G2P's validation words, the mean of the last 3 checkpoints: keys beam1_avg3_validation, ...
  python -m experiments.decode --workdir=runs/s2s/lstm_g2p --average=3 --eval_split=validation

Restores the newest good checkpoint of each seed folder (or of WORKDIR itself; with
--average=N the mean parameters of its last N), decodes every eval source with each beam width
(decoding.py: one jitted while_loop over output steps), and writes the scores (per/wer with
and without stress for G2P, seq_accuracy, decode time per sequence) to each folder's
decode.json and their mean ± std to WORKDIR/decode_seeds.json. A seed folder whose newest
checkpoint is short of its train_steps, or that has none yet (still training, or stopped), is
left out with a warning; when no seed is finished, the command stops with that one line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from absl import app, flags
from absl import logging as absl_logging

from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "A trained seq2seq run.", required=True)
_BEAMS = flags.DEFINE_list("beams", ["1", "5"], "Beam widths; 1 is greedy search.")
_EVAL_LENS = flags.DEFINE_list(
  "eval_lens", [], "Transductions only: decode eval sets of these lengths (data.eval_len)."
)
_BATCH = flags.DEFINE_integer("batch_size", 256, "Sources decoded at once.")
_ALPHA = flags.DEFINE_float("alpha", 0.0, "Beam ranking: log p / length**alpha.")
_AVERAGE = flags.DEFINE_integer(
  "average", 1, "Decode the mean parameters of the last N checkpoints (checkpoint averaging)."
)
_EVAL_SPLIT = flags.DEFINE_enum(
  "eval_split",
  None,
  ["validation", "test"],
  "G2P only: decode this split instead of the run's (choose settings on validation).",
)


def main(argv: Sequence[str]) -> None:
  """Decodes, writes decode.json / decode_seeds.json, prints the summary."""
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  absl_logging.set_verbosity(absl_logging.WARNING)
  try:
    beams = [int(b) for b in _BEAMS.value]
    eval_lens = [int(n) for n in _EVAL_LENS.value]
  except ValueError:
    cli.fail("--beams and --eval_lens take comma-separated integers, e.g. --beams=1,5")
  if any(b < 1 for b in beams) or any(n < 1 for n in eval_lens) or _AVERAGE.value < 1:
    cli.fail("--beams, --eval_lens and --average must be positive")
  from cnnrnn_jax import decoding

  try:
    summary = decoding.decode_seeds(
      _WORKDIR.value,
      beams=beams,
      eval_lens=eval_lens,
      batch_size=_BATCH.value,
      alpha=_ALPHA.value,
      average=_AVERAGE.value,
      eval_split=_EVAL_SPLIT.value,
    )
  except (ConfigError, FileNotFoundError) as e:
    cli.fail(str(e))
  means = {k: {m: round(v["mean"], 4) for m, v in s.items()} for k, s in summary.items()}
  print(json.dumps(means, indent=2))


if __name__ == "__main__":
  cli.run(main)
