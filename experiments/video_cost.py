r"""What a video clip costs: train-step time per clip and the step's compiled memory for each
video preset (configs/video.py) at each clip length, and the clip generator's time per batch
next to the train step it feeds.

  D=../shared/data
  python -m experiments.video_cost --train_path=$D/mnist --outdir=runs/video_cost

Prints a markdown table and writes it with the raw rows (costs.json) into --outdir. The
measured table is in docs/video.md.
"""

from absl import app, flags

from cnnrnn_jax import bench
from cnnrnn_jax.configs import video
from cnnrnn_jax.tables import markdown_table, write_table_files

_TRAIN_PATH = flags.DEFINE_string("train_path", None, "The MNIST IDX folder.", required=True)
_OUTDIR = flags.DEFINE_string("outdir", "runs/video_cost", "Where costs.json and costs.md go.")
_PRESETS = flags.DEFINE_list("presets", list(video.PRESETS), "Presets of configs/video.py.")
_LENGTHS = flags.DEFINE_list("lengths", ["16", "64"], "Clip lengths T (frames).")
_LABEL = flags.DEFINE_enum("label", "direction", list(video.LABELS), "The label trained.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (median).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  configs = {}
  for preset in _PRESETS.value:
    for length in _LENGTHS.value:
      config = video.get_config(f"{preset},{_LABEL.value}")
      config.data.update(train_path=_TRAIN_PATH.value, seq_len=int(length))
      configs[f"{preset} T={length}"] = config
  rows = bench.video_step_costs(configs, _REPEATS.value)
  header = ["config", "batch", "train s/step", "train ms/clip", "peak MB", "generate s/batch"]
  table = markdown_table(
    header + ["generate / train"],
    [
      [r["name"], r["batch_size"], f"{r['train_s_per_step']:.3f}", f"{r['train_ms_per_clip']:.1f}"]
      + [f"{r['peak_mb']:.0f}", f"{r['generate_s_per_batch']:.4f}"]
      + [f"{100 * r['generate_over_train']:.1f}%"]
      for r in rows
    ],
  )
  print(table)
  write_table_files(_OUTDIR.value, "costs", rows, table)


if __name__ == "__main__":
  app.run(main)
