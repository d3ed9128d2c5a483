r"""A trained video model reading clips: film strips of the frames, the frame encoder's
strongest feature map per frame and the LSTM's hidden state over the frames.

  python -m experiments.visualize_video --checkpoint=runs/video/lstm_direction/seed_0 \
      --outdir=runs/video_pictures

--checkpoint is the workdir of a configs/video.py run with a frame encoder (its newest
checkpoint is read; the run's own config rebuilds the task, so run from where it ran).
Writes clip_<i>.png for the first --clips eval clips.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from cnnrnn_jax import train
from cnnrnn_jax.tasks import build
from cnnrnn_jax.viz import video

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "A video run's workdir.", required=True)
_OUTDIR = flags.DEFINE_string("outdir", "runs/video_pictures", "Where the PNGs go.")
_CLIPS = flags.DEFINE_integer("clips", 2, "How many eval clips to draw.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config, state = train.restore(_CHECKPOINT.value)
  except FileNotFoundError as e:
    sys.exit(f"config error: {e}; pass the workdir of a finished configs/video.py run")
  if config.arch.get("frame_encoder", "none") != "cnn2d":
    sys.exit("config error: the run has no cnn2d frame encoder; pick a frames-CNN run")
  task = build(config.task, config.data, config.seed)
  out = video.clip_readout(config, state.params, task, _CLIPS.value)
  os.makedirs(_OUTDIR.value, exist_ok=True)
  label = config.data.label
  for i in range(_CLIPS.value):
    title = (
      f"{config.model} on {label}: target {video.label_name(label, int(out['targets'][i]))}, "
      f"predicted {video.label_name(label, int(out['predictions'][i]))}"
    )
    hidden = out["hidden"][i] if "hidden" in out else None
    fig = video.film_strip_figure(out["frames"][i], out["frame_maps"][i], hidden, title)
    path = os.path.join(_OUTDIR.value, f"clip_{i}.png")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
