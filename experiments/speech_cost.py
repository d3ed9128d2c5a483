r"""What a spoken digit costs: each speech preset's (configs/speech.py) train-step time, its
inference time per utterance and the step's compiled memory, on the first training batch of
the official split (32 recordings, padded to the frame bucket of the longest).

  D=../shared/data
  python -m experiments.speech_cost --train_path=$D/fsdd/recordings --outdir=runs/speech_cost

Prints a markdown table and writes it with the raw rows (costs.json) into --outdir. Times are
medians of --repeats calls after compilation (measure/cost.py `speed`).
"""

import numpy as np
from absl import app, flags

from cnnrnn_jax.configs import speech
from cnnrnn_jax.measure import cost
from cnnrnn_jax.tables import markdown_table, write_table_files

_TRAIN_PATH = flags.DEFINE_string("train_path", None, "The FSDD recordings.", required=True)
_OUTDIR = flags.DEFINE_string("outdir", "runs/speech_cost", "Where costs.json and costs.md go.")
_PRESETS = flags.DEFINE_list("presets", list(speech.PRESETS), "Presets of configs/speech.py.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per measurement (median).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  rows = []
  for preset in _PRESETS.value:
    config = speech.get_config(preset)
    config.data.train_path = _TRAIN_PATH.value
    stats = cost.speed(config, _REPEATS.value)
    rows.append({"preset": preset, "params": cost.param_count(config), **stats})
  table = markdown_table(
    ["preset", "parameters", "frames", "train ms/step (batch 32)", "inference µs/utterance"]
    + ["peak MB"],
    [
      [r["preset"], f"{r['params']:,}", r["seq_len"], f"{1e3 * r['train_s_per_step']:.1f}"]
      + [f"{1e6 * r['infer_s_per_example']:.0f}", f"{r.get('peak_bytes', np.nan) / 2**20:.0f}"]
      for r in rows
    ],
  )
  print(table)
  write_table_files(_OUTDIR.value, "costs", rows, table)


if __name__ == "__main__":
  app.run(main)
