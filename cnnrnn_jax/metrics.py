"""Loss and metrics: sums on the device, means on the host, one JSON line per log.

A step returns metric *sums* and a `count` (the total weight), never means: sums add across
steps, batches and devices exactly, and are divided on the host only when a line is logged
(`summarize`), so no step waits for a host transfer and a padded last batch weighs nothing.
`MetricWriter` appends the logged lines to `workdir/metrics.jsonl` and mirrors them to
TensorBoard.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnrnn_jax import errors
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.masks import mask_BxL
from cnnrnn_jax.tasks.base import Batch, TaskSpec

Metrics = dict[str, jax.Array]
NO_BAD_STEP = np.iinfo(np.int32).max  # `first_nonfinite_step` while every loss was finite


def loss_and_sums(spec: TaskSpec, outputs: jax.Array, batch: Batch) -> tuple[jax.Array, Metrics]:
  """The weighted mean loss (what gradients follow) and the metric sums behind it."""
  weights = batch["weights"]
  if spec.kind == "ctc":
    return ctc_loss_and_sums(outputs, batch)
  if spec.kind == "regress":  # B targets, or B x O (a forecast horizon): mean over the O
    err = outputs - batch["targets"]
    over = tuple(range(1, err.ndim))
    per_item, abs_err = jnp.mean(err * err, axis=over), jnp.mean(jnp.abs(err), axis=over)
    sums = {"mse": jnp.sum(per_item * weights), "mae": jnp.sum(abs_err * weights)}
  else:
    per_item = optax.softmax_cross_entropy_with_integer_labels(outputs, batch["targets"])
    correct = (jnp.argmax(outputs, -1) == batch["targets"]).astype(jnp.float32)
    sums = {"accuracy": jnp.sum(correct * weights)}
  count = jnp.sum(weights)
  loss_sum = jnp.sum(per_item * weights)
  return loss_sum / jnp.maximum(count, 1.0), {"loss": loss_sum, "count": count, **sums}


CTC_BLANK = 0


def output_lengths(lengths_B: jax.Array, num_inputs: int, num_outputs: int) -> jax.Array:
  """Valid outputs of a model that strides L inputs down to L / s outputs: ceil(len / s)."""
  if num_inputs % num_outputs:
    raise ValueError(
      f"a ctc model must shrink its {num_inputs} input frames by a whole factor, not to "
      f"{num_outputs}"
    )
  stride = num_inputs // num_outputs
  return (lengths_B + stride - 1) // stride


def greedy_decode(logits_BxTxK: jax.Array, lengths_B: jax.Array) -> tuple[jax.Array, jax.Array]:
  """CTC best path: (argmax class per frame B x T, which frames emit a label B x T). A frame
  emits when its class is not the blank, differs from the frame before and is within length."""
  best_BxT = jnp.argmax(logits_BxTxK, axis=-1)
  prev_BxT = jnp.pad(best_BxT[:, :-1], ((0, 0), (1, 0)), constant_values=CTC_BLANK)
  valid_BxT = mask_BxL(lengths_B, best_BxT.shape[1])
  return best_BxT, (best_BxT != CTC_BLANK) & (best_BxT != prev_BxT) & valid_BxT


def edit_distance(hyp_T: jax.Array, emit_T: jax.Array, ref_S: jax.Array) -> jax.Array:
  """Levenshtein distance between the emitted labels of hyp (hyp_T where emit_T) and ref_S
  (labels, CTC_BLANK past its end): one row of the table per emitted label, scanned."""
  S = ref_S.shape[0]
  ref_len = jnp.sum(ref_S != CTC_BLANK)

  def step(row_S1, inputs):
    token, emit = inputs
    new = [row_S1[0] + 1]
    for j in range(1, S + 1):  # insertion depends on new[j-1]: sequential along the reference
      new.append(
        jnp.minimum(
          jnp.minimum(row_S1[j] + 1, new[j - 1] + 1),
          row_S1[j - 1] + (token != ref_S[j - 1]).astype(jnp.int32),
        )
      )
    return jnp.where(emit, jnp.stack(new), row_S1), None

  row_S1, _ = jax.lax.scan(step, jnp.arange(S + 1), (hyp_T, emit_T))
  return row_S1[ref_len]


def ctc_loss_and_sums(logits_BxTxK: jax.Array, batch: Batch) -> tuple[jax.Array, Metrics]:
  """CTC loss (optax.ctc_loss, blank = class 0) per string, and the greedy decode's label
  errors (edit distance), reference labels and exactly right strings."""
  weights_B = batch["weights"]
  labels_BxS = batch["targets"]
  T = logits_BxTxK.shape[1]
  lengths_B = output_lengths(batch["lengths"], batch["inputs"].shape[1], T)
  logit_paddings_BxT = 1.0 - mask_BxL(lengths_B, T).astype(jnp.float32)
  label_paddings_BxS = (labels_BxS == CTC_BLANK).astype(jnp.float32)
  per_item = optax.ctc_loss(
    logits_BxTxK, logit_paddings_BxT, labels_BxS, label_paddings_BxS, blank_id=CTC_BLANK
  )
  best_BxT, emit_BxT = greedy_decode(logits_BxTxK, lengths_B)
  errors_B = jax.vmap(edit_distance)(best_BxT, emit_BxT, labels_BxS).astype(jnp.float32)
  ref_B = jnp.sum(labels_BxS != CTC_BLANK, axis=1).astype(jnp.float32)
  count = jnp.sum(weights_B)
  loss_sum = jnp.sum(per_item * weights_B)
  sums = {
    "loss": loss_sum,
    "count": count,
    "label_errors": jnp.sum(errors_B * weights_B),
    "labels": jnp.sum(ref_B * weights_B),
    "string_accuracy": jnp.sum((errors_B == 0) * weights_B),
  }
  return loss_sum / jnp.maximum(count, 1.0), sums


def accumulate(total: Metrics | None, sums: Metrics) -> Metrics:
  """Adds metric sums on device; keeps the earliest non-finite step."""
  if total is None:
    return sums
  return {
    k: jnp.minimum(total[k], v) if k == "first_nonfinite_step" else total[k] + v
    for k, v in sums.items()
  }


def sum_over_batches(
  add_batch: Callable[[Metrics | None, Batch], Metrics],
  batches: Iterable[Batch],
  total: Metrics | None = None,
) -> Metrics | None:
  """The metric sums of a whole eval set: `total = add_batch(total, batch)` for each batch.

  `add_batch` adds one batch's sums on the device (`accumulate`, or a jitted program that
  does it inside), so nothing comes to the host until the caller reads the result.
  """
  for batch in batches:
    total = add_batch(total, batch)
  return total


def summarize(spec: TaskSpec, sums: dict[str, Any]) -> dict[str, float]:
  """Host side: sums -> means, plus the task's derived headline metric."""
  sums = jax.device_get(sums)
  count = max(float(sums["count"]), 1.0)
  out = {k: float(v) / count for k, v in sums.items() if k not in ("count", "first_nonfinite_step")}
  if spec.kind == "ctc":  # errors per reference label: a ratio of sums, not a mean of ratios
    out["label_error_rate"] = out.pop("label_errors") / max(out.pop("labels"), 1e-9)
  if spec.kind == "lm":
    out["bits_per_token"] = out["loss"] / math.log(2.0)
    out["perplexity"] = math.exp(min(out["loss"], 50.0))
  if spec.baseline is not None:
    out["baseline_loss"] = spec.baseline
  return out


def headline(spec: TaskSpec) -> str:
  """The metric a progress line shows next to the loss."""
  return {"regress": "mse", "lm": "bits_per_token", "ctc": "label_error_rate"}.get(
    spec.kind, "accuracy"
  )


def seed_summary(results: dict[int, dict[str, float]]) -> dict[str, dict[str, Any]]:
  """Per metric: mean, sample standard deviation (ddof=1; 0 for one seed) and the values."""
  summary = {}
  for name in next(iter(results.values())):
    values = [float(m[name]) for m in results.values()]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    summary[name] = {
      "mean": float(np.mean(values)),
      "std": std,
      "values": values,
      "seeds": list(results),
    }
  return summary


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops metrics.jsonl lines past `last_step` (and a torn last line) before a (re)start.

  A resumed run replays the steps after its checkpoint and writes their lines again, so the
  file ends up exactly as an uninterrupted run writes it. A run starting from step 0 over an
  earlier run's lines says so (a warning): they are replaced.
  """
  if not workdir_module.exists(path):
    if last_step:
      logging.warning(
        "%s is missing but the checkpoint is at step %d: the lines of steps 1..%d are lost; "
        "the file starts again at step %d",
        path,
        last_step,
        last_step,
        last_step + 1,
      )
    return
  with errors.writing(path):
    lines = workdir_module.read_text(path).splitlines(keepends=True)
  keep = []
  for line in lines:
    try:
      if json.loads(line)["step"] <= last_step:
        keep.append(line)
    except (ValueError, KeyError, TypeError):
      pass  # a line torn by a kill mid-write
  if len(keep) < len(lines):
    (logging.warning if last_step == 0 else logging.info)(
      "dropping %d lines past step %d from %s (those steps run again)",
      len(lines) - len(keep),
      last_step,
      path,
    )
    workdir_module.write_atomic(path, "".join(keep))


class _RemoteEvents:
  """A TensorBoard event file in a bucket (etils.epath): the framed records (TFRecord, as
  tensorboardX writes them) are kept and the object is uploaded whole at each flush."""

  def __init__(self, logdir: str):
    from tensorboardX.record_writer import masked_crc32c

    self._crc = masked_crc32c
    name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}"
    self._path = workdir_module.epath(logdir) / name
    self._records = bytearray()

  def write_event(self, event: Any) -> None:
    data = event.SerializeToString()
    header = struct.pack("Q", len(data))
    self._records += header + struct.pack("I", self._crc(header))
    self._records += data + struct.pack("I", self._crc(data))

  def flush(self) -> None:
    self._path.write_bytes(bytes(self._records))

  def close(self) -> None:
    self.flush()


class _EventFile:
  """TensorBoard scalars written synchronously from the calling thread.

  tensorboardX's SummaryWriter writes from a thread behind a bounded queue: when a write fails
  (a full disk), that thread dies and the next `add_scalar` blocks forever on the full queue.
  Here each event is written and flushed where it is logged, so a failure raises at once.
  """

  def __init__(self, logdir: str, purge_step: int | None):
    from tensorboardX.event_file_writer import EventsWriter  # light; keeps TensorFlow out
    from tensorboardX.proto.event_pb2 import Event, SessionLog

    self._event = Event
    self.logdir = logdir
    with errors.writing(logdir):
      if workdir_module.is_remote(logdir):
        self._file = _RemoteEvents(logdir)
      else:
        os.makedirs(logdir, exist_ok=True)
        self._file = EventsWriter(os.path.join(logdir, "events"))
      if purge_step is not None:  # TensorBoard drops what an earlier attempt logged from here on
        self._file.write_event(Event(step=purge_step, file_version="brain.Event:2"))
        self._file.write_event(
          Event(step=purge_step, session_log=SessionLog(status=SessionLog.START))
        )
      self._file.flush()

  def write(self, step: int, scalars: dict[str, float]) -> None:
    """One event holding every scalar of a logged line, flushed."""
    from tensorboardX import summary

    event = self._event(wall_time=time.time(), step=step)
    for tag, value in scalars.items():
      event.summary.value.extend(summary.scalar(tag, float(value)).value)
    with errors.writing(self.logdir):
      self._file.write_event(event)
      self._file.flush()

  def close(self) -> None:
    """Closes the event file (a failing final flush is reported, not raised)."""
    try:
      self._file.close()
    except OSError as e:
      logging.warning("closing the TensorBoard file in %s failed: %s", self.logdir, e)


class MetricWriter:
  """Appends one JSON object per line to metrics.jsonl and mirrors scalars to TensorBoard.

  Opened at `start_step` (the restored step, 0 for a fresh run), it first drops what an
  earlier attempt wrote past that step, in metrics.jsonl and in TensorBoard (purge_step).
  Only the first process of a multi-host run writes (`active`). Every write is flushed where
  it happens; an I/O failure is a one-line `WriteError` naming the file. metrics.jsonl deleted
  during the run is written anew, with a warning that the earlier lines are gone.
  """

  def __init__(self, workdir: str, seed: int, start_step: int = 0, active: bool = True):
    self._active, self._seed = active, seed
    if not active:
      return
    self._path = os.path.join(workdir, workdir_module.METRICS_FILE)
    _truncate_metrics(self._path, start_step)
    # A bucket object cannot be appended to: a remote file is rewritten whole at each line.
    self._remote = workdir_module.is_remote(self._path)
    if self._remote:
      exists = workdir_module.exists(self._path)
      self._lines = workdir_module.read_text(self._path) if exists else ""
    else:
      self._jsonl = self._open()
    self._tb = _EventFile(
      os.path.join(workdir, "tensorboard"), start_step + 1 if start_step else None
    )

  def _open(self):
    with errors.writing(self._path):
      return open(self._path, "a")

  def write(self, step: int, split: str, values: dict[str, float]) -> None:
    """One line {step, split, seed, **values}, flushed at once."""
    if not self._active:
      return
    record = {"step": step, "split": split, "seed": self._seed, **values}
    if self._remote:
      self._lines += json.dumps(record) + "\n"
      workdir_module.write_atomic(self._path, self._lines)
    else:
      self._append(step, record)
    self._tb.write(step, {f"{split}/{key}": value for key, value in values.items()})

  def _append(self, step: int, record: dict[str, Any]) -> None:
    if os.fstat(self._jsonl.fileno()).st_nlink == 0:
      logging.warning(
        "%s was deleted during the run; writing it anew from step %d (earlier lines are lost)",
        self._path,
        step,
      )
      self._jsonl.close()
      self._jsonl = self._open()
    with errors.writing(self._path):
      self._jsonl.write(json.dumps(record) + "\n")
      self._jsonl.flush()

  def close(self) -> None:
    """Closes both files."""
    if self._active:
      try:
        if not self._remote:
          self._jsonl.close()
      except OSError as e:
        logging.warning("closing %s failed: %s", self._path, e)
      self._tb.close()
