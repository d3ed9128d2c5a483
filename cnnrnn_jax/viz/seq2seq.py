"""The attention of an encoder-decoder over one source: which source steps each output read.

Shape key: T output steps (the EOS included), S source steps.

`attention_of` decodes one source greedily and reads the decoder's attention weights back
from a teacher-forced pass over its own output (for ConvS2S: the last decoder layer; for the
transformer: the last layer's cross-attention, averaged over heads). `attention_figure` draws
one heatmap per model, outputs down, source steps across.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from cnnrnn_jax import decoding
from cnnrnn_jax.plotting import row_of_axes
from cnnrnn_jax.tasks.seq2seq import BOS, encode_pairs


def attention_of(model: Any, params: Any, task: Any, source: Sequence[str]):
  """(source tokens, output tokens + '</s>', weights_TxS) of `model` decoding `source`."""
  (hyp,), _ = decoding.decode_sources(
    model, params, [list(source)], task.source, task.target, task.spec.seq_len,
    task.spec.target_len, beam=1, batch_size=1,
  )  # fmt: skip
  width = max(task.spec.seq_len, len(hyp) + 1)  # an output that never stopped has no EOS
  batch = encode_pairs([(list(source), hyp)], task.source, task.target, width)
  assert batch["decoder_inputs"][0, 0] == BOS
  _, aux = jax.jit(model.apply)(  # one compiled program, not one per op
    {"params": params},
    jnp.asarray(batch["inputs"]),
    jnp.asarray(batch["lengths"]),
    jnp.asarray(batch["decoder_inputs"]),
  )
  weights_TxS = np.asarray(aux["attention"][0, : len(hyp) + 1, : len(source)])
  return list(source), hyp + ["</s>"], weights_TxS


def attention_figure(
  panels: Sequence[tuple[str, list[str], list[str], np.ndarray]],
  source_label: str = "source (spelling)",
  output_label: str = "output (phones)",
) -> Figure:
  """One heatmap per (title, source tokens, output tokens, weights_TxS); the axis labels
  default to G2P's."""
  fig, axes = row_of_axes(len(panels), width=3.6, height=3.6)
  for ax, (title, src, out, weights_TxS) in zip(axes, panels):
    ax.imshow(weights_TxS, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src)
    ax.set_yticks(range(len(out)), out, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(source_label)
  axes[0].set_ylabel(output_label)
  return fig
