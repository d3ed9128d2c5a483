r"""Score a trained run on other data without training it again: a new speaker's recordings, a
new test file, other task settings. A trained run in WORKDIR is evaluated on
`--eval_path` (data of the run's own task kind: for speech, a folder of WAV files) and/or with
`--data=KEY=VALUE,...` replacing settings of the run's `config.data`.

  python -m experiments.train --config=cnnrnn_jax/configs/speech.py:crnn \
      --config.data.train_path=$D/fsdd/recordings --workdir=runs/speech/crnn1
  python -m experiments.score --workdir=runs/speech/crnn1 --eval_path=my_recordings
  # a digit-strings run on strings of exactly 3 digits:
  python -m experiments.score --workdir=runs/speech/crnn_strings/seed_0 \
      --data=min_digits=3,max_digits=3

Prints the eval metrics as one JSON line (and writes them to `--out` when given). A run that
selected its step on a dev split is scored with that step's parameters, its reported result;
`--checkpoint=newest` scores its last step instead (`scoring.scorer` has the details).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import console
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.scoring import CHECKPOINTS, score
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "A finished training run.", required=True)
_EVAL_PATH = flags.DEFINE_string("eval_path", None, "The data to score (default: the run's).")
_DATA = flags.DEFINE_list("data", [], "KEY=VALUE settings of config.data to replace.")
_OUT = flags.DEFINE_string("out", None, "Also write the metrics (JSON) to this file.")
_CHECKPOINT = flags.DEFINE_enum(
  "checkpoint",
  "result",
  list(CHECKPOINTS),
  "result: the dev-selected step's parameters when the run selected one, else the newest.",
)


def main(argv: Sequence[str]) -> None:
  """Prints the metrics of the run on the new data."""
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  console.only_results_and_errors()  # only the result (or one error line) shows
  try:
    out = score(_WORKDIR.value, _EVAL_PATH.value, _DATA.value, _CHECKPOINT.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  print(json.dumps(out))
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as f:
      json.dump({"workdir": _WORKDIR.value, "data": _DATA.value, **out}, f)


if __name__ == "__main__":
  app.run(main)
