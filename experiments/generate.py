r"""Sample text from a language model trained by experiments.train (an `lm` task).

  python -m experiments.train --config=cnnrnn_jax/configs/default.py:lstm,text_corpus \
      --config.data.train_path=input.txt --workdir=/tmp/lm
  python -m experiments.generate --workdir=/tmp/lm --prompt="ROMEO:" --temperature=0.8 \
      --length=200

Reads WORKDIR/config.json, the vocabulary WORKDIR/vocab.json and the trained parameters
(WORKDIR/final_params.msgpack), rebuilds the task and model exactly as the run did, and
prints the prompt followed by the sampled continuation.
"""

import json
import os
import sys

import ml_collections
from absl import app, flags

from cnnrnn_jax import final_params, sampling, train
from cnnrnn_jax.tasks import text
from cnnrnn_jax.tasks.base import ConfigError

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished training run of an lm task.",
                               required=True)
_PROMPT = flags.DEFINE_string("prompt", "\n", "Text to continue.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Softmax temperature; 0 = greedy.")
_LENGTH = flags.DEFINE_integer("length", 200, "How many tokens to sample.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")


def load_run(workdir: str):
  """(config, task, model, params) of the run in `workdir`, reusing its vocabulary."""
  try:
    with open(os.path.join(workdir, "config.json")) as f:
      config = ml_collections.ConfigDict(json.load(f))
  except OSError:
    raise ConfigError(f"no config.json in {workdir}; pass the --workdir of a training run")
  vocab_path = os.path.join(workdir, text.VOCAB_FILE)
  if os.path.exists(vocab_path):
    config.data.vocab_path = vocab_path
  task, model = train.setup(config)
  if task.spec.kind != "lm":
    raise ConfigError(f"task {config.task!r} is {task.spec.kind}, not a language model; "
                      "generate from an lm run (text_corpus, shakespeare)")
  template = train.init_state(config, task, model).params
  return config, task, model, final_params.load(workdir, template)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    _, task, model, params = load_run(_WORKDIR.value)
    out = sampling.sample(model.apply, params, task.vocab, _PROMPT.value, _LENGTH.value,
                          task.spec.seq_len, _TEMPERATURE.value, _SEED.value)
  except ConfigError as e:
    sys.exit(f"config error: {e}")
  print(out)


if __name__ == "__main__":
  app.run(main)
