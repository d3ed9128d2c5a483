r"""Sample text from a language model trained by experiments.train (an `lm` task).

  python -m experiments.train --config=cnnrnn_jax/configs/default.py:lstm,text_corpus \
      --config.data.train_path=input.txt --workdir=runs/lm
  python -m experiments.generate --workdir=runs/lm --prompt="ROMEO:" --temperature=0.8 \
      --length=200

Restores the newest good checkpoint of WORKDIR with the run's vocabulary (WORKDIR/vocab.json),
rebuilds the task and model exactly as the run did (`sampling.load_lm_run`; the run's
training text must still be at its train_path), and
prints the prompt followed by the sampled continuation (`sampling.sample`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from cnnrnn_jax import console, sampling
from cnnrnn_jax.errors import ConfigError
from experiments import cli

_PLUGINS = cli.define_plugins_flag()
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "A finished training run of an lm task.", required=True
)
_PROMPT = flags.DEFINE_string("prompt", "\n", "Text to continue.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Softmax temperature; 0 = greedy.")
_LENGTH = flags.DEFINE_integer("length", 200, "How many tokens to sample.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")


def main(argv: Sequence[str]) -> None:
  """Prints the prompt and the sampled continuation."""
  cli.import_plugins(_PLUGINS.value)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  console.only_results_and_errors()  # only the result (or one error line) shows
  try:
    _, task, model, params = sampling.load_lm_run(_WORKDIR.value)
    out = sampling.sample(
      model.apply,
      params,
      task.vocab,
      _PROMPT.value,
      _LENGTH.value,
      task.spec.seq_len,
      _TEMPERATURE.value,
      _SEED.value,
    )
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  print(out)


if __name__ == "__main__":
  app.run(main)
