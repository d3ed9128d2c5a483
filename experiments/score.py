r"""Score a trained run on other data without training it again: a new speaker's recordings, a
new test file, other task settings. The newest good checkpoint of WORKDIR is evaluated on
`--eval_path` (data of the run's own task kind: for speech, a folder of WAV files) and/or with
`--data=KEY=VALUE,...` replacing settings of the run's `config.data`.

  python -m experiments.train --config=cnnrnn_jax/configs/speech.py:crnn \
      --config.data.train_path=$D/fsdd/recordings --workdir=runs/speech/crnn1
  python -m experiments.score --workdir=runs/speech/crnn1 --eval_path=my_recordings
  # a digit-strings run on strings of exactly 3 digits:
  python -m experiments.score --workdir=runs/speech/crnn_strings/seed_0 \
      --data=min_digits=3,max_digits=3

The task is rebuilt from the run's config with those settings replaced (the run's training
data must still be at its train_path: labels and normalisation statistics come from it), the
model from the run's parameters; prints the eval metrics as one JSON line (and writes them to
`--out` when given).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Sequence

import jax
from absl import app, flags

from cnnrnn_jax import console, metrics, models, tasks, train
from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "A finished training run.", required=True)
_EVAL_PATH = flags.DEFINE_string("eval_path", None, "The data to score (default: the run's).")
_DATA = flags.DEFINE_list("data", [], "KEY=VALUE settings of config.data to replace.")
_OUT = flags.DEFINE_string("out", None, "Also write the metrics (JSON) to this file.")


def score(workdir: str, eval_path: str | None, settings: Sequence[str] = ()) -> dict[str, float]:
  """The eval metrics of WORKDIR's newest checkpoint on the task's data at `eval_path` (None:
  the run's own eval data), with `settings` ('KEY=VALUE') replacing config.data fields."""
  config, state = train.restore(workdir)
  data = config.data.copy_and_resolve_references()
  if eval_path:
    data.eval_path = eval_path
  for setting in settings:
    key, _, value = setting.partition("=")
    if key not in data:
      raise ConfigError(f"--data={setting}: config.data has no field {key!r}")
    old = data[key]
    if isinstance(old, bool):
      data[key] = value.lower() in ("true", "1")
    else:
      data[key] = type(old)(value) if isinstance(old, (int, float)) else value
  task = tasks.build(config.task, data, config.seed)
  model = models.build_model(config.model, config.arch, task.spec)
  step = jax.jit(functools.partial(train.eval_step, apply_fn=model.apply, spec=task.spec))
  sums = metrics.sum_over_batches(
    lambda total, batch: metrics.accumulate(total, step(state.params, batch)),
    task.eval_batches(config.batch_size),
  )
  return metrics.summarize(task.spec, sums)


def main(argv: Sequence[str]) -> None:
  """Prints the metrics of the run on the new data."""
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  console.only_results_and_errors()  # only the result (or one error line) shows
  try:
    out = score(_WORKDIR.value, _EVAL_PATH.value, _DATA.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  print(json.dumps(out))
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as f:
      json.dump({"workdir": _WORKDIR.value, "data": _DATA.value, **out}, f)


if __name__ == "__main__":
  app.run(main)
