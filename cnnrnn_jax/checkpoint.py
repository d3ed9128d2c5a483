"""Durable training state: Orbax checkpoints in `workdir/checkpoints`, and how to read them back.

A checkpoint of step s holds two items, neither of them a pickle:
  state  the TrainState (params, optimizer state, step) and the metric sums of the
         unfinished logging window, as OCDBT/Zarr arrays (`ocp.args.StandardSave`);
  meta   JSON: the step, the data position (index of the next `task.train_batch`), the
         seed, the resolved config and a SHA-256 digest of every array in `state`.

Saves are asynchronous (training goes on while the files are written) and atomic: Orbax
writes into `<step>.orbax-checkpoint-tmp` and renames it when complete, so a run killed
mid-save leaves a temporary folder, which the next start reports and removes. A finished
checkpoint that cannot be read back, or whose arrays no longer match their digest, is
moved to `workdir/corrupt_checkpoints/` with a warning and the one before it is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from cnnrnn_jax import errors, plugins
from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.errors import ConfigError

SUBDIR, CORRUPT_SUBDIR = "checkpoints", "corrupt_checkpoints"
BEST_SUBDIR = "best_checkpoint"  # with config.select_on: the best step's parameters (selection.py)
# Settings a resumed run may change; anything else must match the checkpoint's config.
# (A new train_steps also stretches the learning-rate schedule from the restored step on.)
RUN_CONTROL_KEYS = (
  "train_steps",
  "log_every",
  "eval_every",
  "checkpoint_every",
  "keep_checkpoints",
  "distributed",
)


def digest(tree: Any) -> str:
  """SHA-256 over the shape, dtype and bytes of every (replicated) array of `tree`."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    value = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf)
    h.update(f"{value.dtype}{value.shape}".encode())
    h.update(np.ascontiguousarray(value).tobytes())
  return h.hexdigest()


def config_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON data (tuples become lists), as it is stored in `meta`."""
  return json.loads(config.to_json())


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in d.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _registered_settings(config: dict) -> dict[str, Any]:
  """The dotted settings registered for the config's model and task (plugins.py): what a run
  saved before one of them was added ran with."""
  out = {}
  for block, owner in (("arch", config.get("model")), ("data", config.get("task"))):
    for key, value in plugins.settings(block).get(owner, {}).items():
      out[f"{block}.{key}"] = json.loads(json.dumps(value))  # as config.json stores it
  return out


def config_changes(saved: dict, current: dict) -> list[str]:
  """Dotted keys whose values differ between two config dicts, run-control keys aside; a
  registered setting that one of them predates counts as its default (it ran with it)."""
  a = {**_registered_settings(saved), **_flatten(saved)}
  b = {**_registered_settings(current), **_flatten(current)}
  return sorted(
    k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and k not in RUN_CONTROL_KEYS
  )


def committed_steps(directory: str) -> list[int]:
  """The steps of the committed (renamed into place) checkpoints in `directory`, oldest first."""
  if workdir_module.is_remote(directory):  # a bucket (etils.epath, as Orbax reads it)
    path = workdir_module.epath(directory)
    found = path.iterdir() if path.exists() else []
    return sorted(int(p.name) for p in found if p.name.isdigit() and p.is_dir())
  try:
    names = os.listdir(directory)
  except OSError:
    return []
  return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(directory, n)))


class Checkpoints:
  """An Orbax CheckpointManager over `workdir/checkpoints` that keeps the last `keep`.

  `read_only` opens someone else's run (for `train.restore`): nothing is saved, cleaned up
  or moved, so a run still writing there is left alone; bad checkpoints are only skipped.
  """

  def __init__(
    self, workdir: str, keep: int | None = None, read_only: bool = False, subdir: str = SUBDIR
  ):
    self.workdir = workdir if workdir_module.is_remote(workdir) else os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, subdir)
    self.read_only = read_only
    if workdir_module.exists(self.directory) and not read_only:
      listed = workdir_module.epath(self.directory).iterdir()
      for name in sorted(p.name for p in listed):
        if ocp.step.TMP_DIR_SUFFIX in name:
          logging.warning(
            "ignoring half-written checkpoint %s (a save was interrupted); removing it",
            os.path.join(self.directory, name),
          )
    self._pending = self.directory  # what a failing background save was writing
    with errors.writing(self.directory):
      self._manager = ocp.CheckpointManager(
        self.directory,
        item_names=("state", "meta"),
        options=ocp.CheckpointManagerOptions(
          max_to_keep=keep, read_only=read_only, cleanup_tmp_directories=not read_only
        ),
      )

  def steps(self) -> list[int]:
    """The steps of the finished checkpoints, oldest first."""
    return sorted(self._manager.all_steps())

  def save(
    self,
    step: int,
    tree: Any,
    config: ml_collections.ConfigDict,
    extra: dict[str, Any] | None = None,
  ) -> None:
    """Starts saving `tree` at `step` (returns once the arrays are copied off the devices);
    `extra` JSON fields go into its meta (e.g. the best checkpoint's score)."""
    meta = {
      "step": step,
      "next_train_batch": step,
      "seed": config.seed,
      "config": config_dict(config),
      "digest": digest(tree),
      **(extra or {}),
    }
    with errors.writing(self._pending):  # the previous save's failure surfaces here
      self._manager.save(
        step,
        force=True,
        args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)),
      )
    self._pending = os.path.join(self.directory, str(step))

  def delete(self, step: int) -> None:
    """Removes the checkpoint at `step`."""
    with errors.writing(os.path.join(self.directory, str(step))):
      self._manager.delete(step)

  def read_meta(self, step: int) -> dict[str, Any]:
    """The JSON `meta` item of the checkpoint at `step`."""
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

  def restore_latest(
    self, abstract_tree: Any, config: ml_collections.ConfigDict | None = None
  ) -> tuple[int, Any, dict[str, Any]] | None:
    """(step, tree, meta) of the newest readable checkpoint, or None if there is none.

    `abstract_tree` gives the structure, shapes, dtypes and shardings to restore into. With
    `config`, a checkpoint written under a different config is a ConfigError (one line), not
    a corruption. Unreadable or digest-mismatching checkpoints are set aside with a warning.
    """
    found = self.restore_newest(abstract_tree, config, count=1)
    return found[0] if found else None

  def restore_newest(
    self, abstract_tree: Any, config: ml_collections.ConfigDict | None = None, count: int = 1
  ) -> list[tuple[int, Any, dict[str, Any]]]:
    """`restore_latest` for the newest `count` readable checkpoints, newest first (fewer when
    fewer are readable): what checkpoint averaging reads."""
    found = []
    for step in reversed(self.steps()):
      if len(found) == count:
        break
      try:
        meta = self.read_meta(step)
      except Exception as e:  # noqa: BLE001 -- whatever broke the files, fall back
        self._set_aside(step, e)
        continue
      if config is not None:
        changed = config_changes(meta["config"], config_dict(config))
        if changed:
          raise ConfigError(
            f"{self.directory} holds checkpoints of another config ("
            f"{', '.join(changed)} differ); use a new --workdir or the old "
            "settings"
          )
      try:
        tree = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_tree))
        ).state
        if digest(tree) != meta["digest"]:
          raise ValueError("its arrays do not match the digest saved with them")
      except Exception as e:  # noqa: BLE001
        self._set_aside(step, e)
        continue
      found.append((step, tree, meta))
    return found

  def _set_aside(self, step: int, error: Exception) -> None:
    dest = os.path.join(self.workdir, CORRUPT_SUBDIR, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    logging.warning(
      "checkpoint %d in %s is unreadable (%s: %s); %s, trying the previous one",
      step,
      self.directory,
      type(error).__name__,
      first_line,
      "skipping it" if self.read_only else f"moved it to {dest}",
    )
    if self.read_only:
      return
    if jax.process_index() == 0:
      workdir_module.epath(dest).parent.mkdir(parents=True, exist_ok=True)
      workdir_module.epath(self.directory).joinpath(str(step)).rename(dest)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"cnnrnn_jax set aside checkpoint {step}")
    self._manager.reload()

  def wait_until_finished(self) -> None:
    """Blocks until the saves in flight are committed (a WriteError if one failed)."""
    with errors.writing(self._pending):
      self._manager.wait_until_finished()

  def close(self, quiet: bool = False) -> None:
    """Waits for saves in flight (so the latest checkpoint is complete), then closes.

    `quiet`: a failing save is logged, not raised (another error is on its way already).
    """
    failure = None
    for finish in (self.wait_until_finished, self._manager.close):
      try:
        with errors.writing(self._pending):
          finish()
      except Exception as e:  # noqa: BLE001 -- the manager is closed whatever happened
        failure = failure or e
    if failure is None:
      return
    if not quiet:
      raise failure
    if not isinstance(failure, errors.WriteError):  # a failed save is what is on its way
      logging.warning("closing the checkpoints in %s: %s", self.directory, str(failure)[:300])


# ---------------------------------------------------------------------------------------------
# whether a run may start or resume in a workdir, and what a failed one leaves


def kept_note(config: ml_collections.ConfigDict, workdir: str) -> str:
  """What survives a failed write: the newest committed checkpoint, and how to resume."""
  directory = os.path.join(workdir, SUBDIR)
  if not config.get("checkpoint_every", 0):
    return "; no checkpoints are kept (config.checkpoint_every=0): fix it and rerun from scratch"
  steps = committed_steps(directory)
  if not steps:
    return "; no checkpoint was saved yet: fix it and rerun from scratch"
  return (
    f"; the last good checkpoint is {os.path.join(directory, str(steps[-1]))}: free space "
    "(or fix the path), then rerun the same command to resume from it"
  )


def check_workdir_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """A ConfigError when `workdir` holds a run of another config (run-control keys aside)."""
  path = os.path.join(workdir, "config.json")
  if not workdir_module.exists(path):
    return
  try:
    saved = json.loads(workdir_module.read_text(path))
  except (OSError, ValueError) as e:
    logging.warning("%s is unreadable (%s); writing it anew", path, e)
    return
  changed = config_changes(saved, config_dict(config))
  if changed:
    shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
    raise ConfigError(
      f"{workdir} holds a run of another config ({shown} differ from its config.json); use a "
      "new --workdir or the old settings"
    )


def check_resume(
  config: ml_collections.ConfigDict, ckpts: Checkpoints, start: int, meta: dict
) -> None:
  """Resuming past train_steps is an error; a changed train_steps is said (the schedule)."""
  total = config.train_steps
  if start > total:
    raise ConfigError(
      f"the checkpoint in {ckpts.directory} is at step {start}, past config.train_steps="
      f"{total}; pass --config.train_steps={start} or more, or use a new --workdir"
    )
  logging.info("resuming from the checkpoint at step %d of %d in %s", start, total, ckpts.directory)
  saved = meta["config"].get("train_steps")
  if saved != total:
    logging.warning(
      "config.train_steps changed from %s to %d on resume: the learning-rate schedule "
      "(warmup, then decay over train_steps) is recomputed for %d steps and continues from "
      "step %d, so this run will not equal one trained for %d steps from the start",
      saved,
      total,
      total,
      start,
      total,
    )
