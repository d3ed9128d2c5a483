r"""Print the speech tables from finished runs (each a `--seeds` workdir under --runs).

  python -m experiments.speech_table --runs=runs/speech

Spoken digits on the official split (accuracy, parameters, seconds per epoch), with one
speaker held out (a column per speaker and the mean), and digit strings (digit error rate,
string accuracy): cnnrnn_jax/speech_report.py sorts the runs by their config.json. With
--lengths, also the digit strings against their length, from experiments.score's files:

  for k in 1 2 3 4 5 6 7; do python -m experiments.score \
      --workdir=runs/speech/crnn_strings/seed_0 --data=min_digits=$k,max_digits=$k \
      --out=runs/speech/lengths/crnn_$k.json; done
  python -m experiments.speech_table --runs=runs/speech --lengths=runs/speech/lengths
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import speech_report

_RUNS = flags.DEFINE_string("runs", "runs/speech", "Folder holding --seeds workdirs.")
_LENGTHS = flags.DEFINE_string(
  "lengths", None, "Folder of experiments.score --out files of fixed-length digit strings."
)


def main(argv: Sequence[str]) -> None:
  """Prints the three tables."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  records = speech_report.collect(_RUNS.value)
  if not records:
    sys.exit(f"no finished run (a folder with seeds.json) under {_RUNS.value}")
  for title, table in (
    ("Spoken digits, official split", speech_report.official_table(records)),
    ("Spoken digits, one speaker held out (test accuracy %)", speech_report.heldout_table(records)),
    ("Digit strings (CTC)", speech_report.strings_table(records)),
  ):
    print(f"{title}\n\n{table}\n")
  if _LENGTHS.value:
    table = speech_report.length_table(_LENGTHS.value)
    print(f"Digit strings by length: digit error rate % / string accuracy %\n\n{table}\n")


if __name__ == "__main__":
  app.run(main)
