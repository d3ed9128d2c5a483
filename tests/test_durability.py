"""Checkpoints, resume after SIGKILL, corrupted checkpoints, non-finite loss, determinism.

Every run here is a tiny CNN on `motif` (12 steps); the kill test runs the training in
subprocesses (tests/train_driver.py) that SIGKILL themselves at chosen moments.
"""

import glob
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnnrnn_jax import checkpoint, tasks, train

sys.path.insert(0, os.path.dirname(__file__))
from train_driver import make_config  # noqa: E402

# Every test here trains (and the kill test starts four training subprocesses).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("quick_compiles")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {
  "model": "cnn",
  "task": "motif",
  "arch.embed_dim": 8,
  "arch.num_filters": 8,
  "arch.kernel_sizes": [3],
  "batch_size": 8,
  "train_steps": 12,
  "log_every": 2,
  "eval_every": 6,
  "checkpoint_every": 3,
  "keep_checkpoints": 4,
  "data.eval_size": 16,
  "data.seq_len": 16,
}


def run_driver(workdir, *flags):
  """Runs TINY in a fresh process, compiled as in this one (so the runs agree bit for bit);
  the compilation cache it inherits from conftest.py spares recompiling."""
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "JAX_DISABLE_MOST_OPTIMIZATIONS": str(jax.config.read("jax_disable_most_optimizations")),
  }
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "tests", "train_driver.py"),
      str(workdir),
      json.dumps(TINY),
      *flags,
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=300,
    env=env,
  )
  return proc.returncode, proc.stdout + proc.stderr


def metric_lines(workdir):
  """metrics.jsonl without the wall-clock field (the only value that may differ)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k != "steps_per_sec"} for line in f]


def assert_states_equal(a, b):
  """Bitwise: step, parameters and optimizer state."""
  leaves_a, tree_a = jax.tree.flatten((a.step, a.params, a.opt_state))
  leaves_b, tree_b = jax.tree.flatten((b.step, b.params, b.opt_state))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted run of TINY, checkpointed every 3 steps (what every other run must match)."""
  workdir = tmp_path_factory.mktemp("reference")
  final = train.train_and_evaluate(make_config(TINY), str(workdir))
  return workdir, final


def test_checkpoints_hold_config_and_data_position_and_no_pickles(reference):
  workdir, _ = reference
  ckpts = checkpoint.Checkpoints(str(workdir), read_only=True)
  try:
    assert ckpts.steps() == [3, 6, 9, 12]  # every 3 steps and at the end
    meta = ckpts.read_meta(12)
  finally:
    ckpts.close()
  assert meta["step"] == meta["next_train_batch"] == 12
  assert meta["seed"] == 0 and meta["config"]["model"] == "cnn"
  assert meta["config"]["arch"]["kernel_sizes"] == [3]
  for path in glob.glob(os.path.join(workdir, "checkpoints", "**", "*"), recursive=True):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        assert not f.read(2).startswith(b"\x80"), f"{path} looks like a pickle"


def test_restore_reads_no_pickle_and_gives_the_final_state(reference, monkeypatch):
  workdir, _ = reference

  def refuse(*args, **kwargs):
    raise AssertionError("a checkpoint was unpickled")

  monkeypatch.setattr(pickle, "load", refuse)
  monkeypatch.setattr(pickle, "loads", refuse)
  config, state = train.restore(str(workdir))
  assert int(state.step) == 12 and config.model == "cnn"
  assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(state.params))


def test_sigkill_at_three_moments_then_resume_equals_uninterrupted_run(reference, tmp_path):
  ref_dir, ref_final = reference
  workdir = tmp_path / "crashy"

  rc, log = run_driver(workdir, "--kill-before-batch", "4")  # step 5
  assert rc == -9, log
  assert sorted(os.listdir(workdir / "checkpoints")) == ["3"]

  rc, log = run_driver(workdir, "--kill-in-save", "6")
  assert rc == -9, log
  assert "resuming from the checkpoint at step 3 of 12" in log
  assert "6.orbax-checkpoint-tmp" in os.listdir(workdir / "checkpoints")

  rc, log = run_driver(workdir, "--kill-before-batch", "10")  # step 11
  assert rc == -9, log
  assert "half-written checkpoint" in log and "6.orbax-checkpoint-tmp" in log
  assert "resuming from the checkpoint at step 3 of 12" in log
  assert sorted(os.listdir(workdir / "checkpoints")) == ["3", "6", "9"]

  rc, log = run_driver(workdir)
  assert rc == 0, log
  assert "resuming from the checkpoint at step 9 of 12" in log
  assert json.loads(log.split("RESULT ", 1)[1].splitlines()[0]) == ref_final

  # Bit for bit: parameters, optimizer state, step, and every metrics line (no duplicates).
  assert_states_equal(train.restore(str(workdir))[1], train.restore(str(ref_dir))[1])
  assert metric_lines(workdir) == metric_lines(ref_dir)


def test_corrupted_latest_checkpoints_fall_back_to_the_last_good_one(reference, tmp_path, caplog):
  ref_dir, ref_final = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  ckpt_dir = workdir / "checkpoints"
  # 12: array files cut in half (a disk-full or torn copy)
  for path in glob.glob(str(ckpt_dir / "12" / "state" / "**" / "d" / "*"), recursive=True):
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  # 9: its JSON half written
  (ckpt_dir / "9" / "meta" / "metadata").write_text('{"step": 9, "see')
  # 6: every file readable, but the arrays are not the ones that were saved
  meta = json.loads((ckpt_dir / "6" / "meta" / "metadata").read_text())
  (ckpt_dir / "6" / "meta" / "metadata").write_text(json.dumps({**meta, "digest": "0" * 64}))

  caplog.set_level(logging.INFO)
  final = train.train_and_evaluate(make_config(TINY), str(workdir))
  for step, why in (
    (12, "ValueError"),
    (9, "JSONDecodeError"),
    (6, "ValueError: its arrays do not match the digest saved with them"),
  ):
    assert f"checkpoint {step} in {ckpt_dir} is unreadable ({why}" in caplog.text
  assert "resuming from the checkpoint at step 3 of 12" in caplog.text
  assert sorted(name.split("-")[0] for name in os.listdir(workdir / "corrupt_checkpoints")) == [
    "12",
    "6",
    "9",
  ]
  assert final == ref_final  # steps 4..12 ran again, to the same place
  assert_states_equal(train.restore(str(workdir))[1], train.restore(str(ref_dir))[1])
  assert metric_lines(workdir) == metric_lines(ref_dir)


def test_resume_with_another_config_is_a_config_error(reference, tmp_path):
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  with pytest.raises(
    tasks.ConfigError,
    match=r"holds checkpoints of another config "
    r"\(arch.num_filters differ\); use a new --workdir",
  ):
    train.train_and_evaluate(make_config({**TINY, "arch.num_filters": 4}), str(workdir))


def test_nonfinite_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  build = tasks.build

  def build_with_nan_targets_from_batch_6(name, data_config, seed):
    task = build(name, data_config, seed)
    clean = task.train_batch

    def train_batch(step, batch_size):
      batch = clean(step, batch_size)
      if step >= 6:
        batch = {**batch, "targets": np.full_like(batch["targets"], np.nan)}
      return batch

    task.train_batch = train_batch
    return task

  monkeypatch.setattr(tasks, "build", build_with_nan_targets_from_batch_6)
  overrides = {**TINY, "task": "adding", "log_every": 4, "data.seq_len": 8}
  with pytest.raises(FloatingPointError) as e:
    train.train_and_evaluate(make_config(overrides), str(tmp_path))
  assert str(e.value) == (
    "loss is not finite at step 7 of cnn on adding; checkpoint 6 is the "
    "last good state; lower config.opt.learning_rate or "
    "config.opt.clip_norm"
  )
  config, state = train.restore(str(tmp_path))
  assert int(state.step) == 6 and config.task == "adding"
  assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(state))


def test_same_config_and_seed_give_bitwise_identical_metrics(reference, tmp_path):
  ref_dir, ref_final = reference
  final = train.train_and_evaluate(make_config({**TINY, "checkpoint_every": 0}), str(tmp_path))
  lines = metric_lines(tmp_path)
  assert final == ref_final and lines == metric_lines(ref_dir)
  assert len(lines) == 8 and all(line["seed"] == 0 for line in lines)
  assert not os.path.exists(tmp_path / "checkpoints")  # checkpoint_every=0: none
