"""Checkpoints, resume after SIGKILL, SIGTERM and SIGINT, corrupted checkpoints, non-finite
loss, determinism, the workdir lock, full disks and the resume checks.

Every run here is a tiny CNN on `motif` (12 steps); the kill and signal tests run the training
in subprocesses (tests/train_driver.py) that kill or signal themselves at chosen moments.
"""

import errno
import fcntl
import glob
import json
import logging
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnnrnn_jax import checkpoint, errors, sharding, tasks, train, workdir
from cnnrnn_jax.configs import default

sys.path.insert(0, os.path.dirname(__file__))
from train_driver import make_config  # noqa: E402

# Every test here trains (and the kill test starts four training subprocesses).
pytestmark = pytest.mark.slow

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


def run_driver(workdir, *flags, overrides=None, prefix=()):
  """Runs TINY (or `overrides`) in a fresh process, compiled as in this one (so the runs agree
  bit for bit); the compilation cache it inherits from conftest.py spares recompiling.
  `prefix` is a command the driver runs under (e.g. in a namespace with a tiny disk)."""
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
  }
  proc = subprocess.run(
    [
      *prefix,
      sys.executable,
      os.path.join(ROOT, "tests", "train_driver.py"),
      str(workdir),
      json.dumps(TINY if overrides is None else overrides),
      *flags,
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=300,
    env=env,
  )
  return proc.returncode, proc.stdout + proc.stderr


WALL_CLOCK = ("steps_per_sec", "gflops_per_sec", "utilisation")


def metric_lines(workdir):
  """metrics.jsonl without the wall-clock fields (the only values that may differ)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK} for line in f]


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


def test_restore_averages_the_newest_checkpoints_and_refuses_more_than_are_kept(reference):
  workdir, _ = reference
  config = make_config(TINY)
  task, model = train.setup(config)
  replicated = jax.sharding.NamedSharding(sharding.data_mesh(), jax.sharding.PartitionSpec())
  ckpts = checkpoint.Checkpoints(str(workdir), read_only=True)
  try:
    abstract = train._abstract_tree(config, task, model, replicated)
    newest = ckpts.restore_newest(abstract, config, count=2)
  finally:
    ckpts.close()
  assert [step for step, _, _ in newest] == [12, 9]
  _, averaged = train.restore(str(workdir), average=2)
  assert int(averaged.step) == 12  # the newest state, its parameters replaced
  mean = jax.tree.map(lambda a, b: (a + b) / 2, *(t["state"].params for _, t, _ in newest))
  for got, want in zip(jax.tree.leaves(averaged.params), jax.tree.leaves(mean), strict=True):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
  with pytest.raises(errors.ConfigError, match="4 readable checkpoints, fewer than the 5"):
    train.restore(str(workdir), average=5)


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
  other = make_config({**TINY, "arch.num_filters": 4})
  with pytest.raises(
    tasks.ConfigError,
    match=r"holds a run of another config \(arch.num_filters differ from its config.json\); "
    r"use a new --workdir",
  ):
    train.train_and_evaluate(other, str(workdir))
  os.remove(workdir / "config.json")  # the checkpoints say it too
  with pytest.raises(
    tasks.ConfigError,
    match=r"holds checkpoints of another config "
    r"\(arch.num_filters differ\); use a new --workdir",
  ):
    train.train_and_evaluate(other, str(workdir))


def test_a_setting_registered_after_a_run_was_saved_counts_as_its_default():
  current = checkpoint.config_dict(default.get_config("seq2seq_lstm,reverse"))
  saved = json.loads(json.dumps(current))
  del saved["arch"]["encoder_layers"]  # a run from before the knob: it ran with one layer
  assert checkpoint.config_changes(saved, current) == []
  assert checkpoint.config_changes(saved, saved) == []  # restoring it from its own config
  current["arch"]["encoder_layers"] = 2
  assert checkpoint.config_changes(saved, current) == ["arch.encoder_layers"]


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


# ---------------------------------------------------------------------------------------------
# SIGTERM / SIGINT: finish the step, save, one line, exit code 75, resume bit for bit


def last_line(log: str) -> str:
  return log.strip().splitlines()[-1]


def test_sigterm_then_sigint_save_exit_75_and_resume_equals_uninterrupted_run(reference, tmp_path):
  ref_dir, ref_final = reference
  workdir = tmp_path / "preempted"
  rc, log = run_driver(workdir, "--cli", "--signal-before-batch", "4", "--signal", "TERM")
  assert rc == errors.EXIT_INTERRUPTED, log
  assert "Traceback" not in log
  ckpt = workdir / "checkpoints"
  assert last_line(log) == (
    f"interrupted: stopped by SIGTERM after step 5 of 12; saved {ckpt / '5'}: rerun the same "
    "command to resume from it"
  )
  assert sorted(os.listdir(ckpt)) == ["3", "5"]

  rc, log = run_driver(workdir, "--cli", "--signal-before-batch", "7", "--signal", "INT")
  assert rc == errors.EXIT_INTERRUPTED, log
  assert "resuming from the checkpoint at step 5 of 12" in log and "KeyboardInterrupt" not in log
  assert last_line(log).startswith("interrupted: stopped by SIGINT after step 8 of 12; saved")

  rc, log = run_driver(workdir)
  assert rc == 0, log
  assert "resuming from the checkpoint at step 8 of 12" in log
  assert json.loads(log.split("RESULT ", 1)[1].splitlines()[0]) == ref_final
  assert_states_equal(train.restore(str(workdir))[1], train.restore(str(ref_dir))[1])
  assert metric_lines(workdir) == metric_lines(ref_dir)


# ---------------------------------------------------------------------------------------------
# The workdir lock


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
{patch}
from cnnrnn_jax import workdir
workdir.acquire({path!r})
print("held", flush=True)
time.sleep(600)
"""
NO_FLOCK = """
import errno, fcntl
def flock(*args):
  raise OSError(errno.ENOLCK, "No locks available")
fcntl.flock = flock
"""


def start_holder(path, patch=""):
  """A process that takes the lock of `path` and sleeps (a run in progress)."""
  code = HOLDER.format(root=ROOT, path=str(path), patch=patch)
  proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == "held"
  return proc


def kill(proc):
  proc.kill()  # SIGKILL: no chance to release anything
  proc.wait()


def test_second_run_is_refused_in_one_line_under_two_seconds_and_a_killed_runs_lock_is_taken(
  tmp_path, caplog
):
  run = tmp_path / "run"
  holder = start_holder(run)
  try:
    start = time.perf_counter()
    proc = subprocess.run(
      [sys.executable, "-m", "experiments.train", f"--workdir={run}"],
      capture_output=True,
      text=True,
      cwd=ROOT,
      timeout=60,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == errors.EXIT_CONFIG
    assert re.fullmatch(
      rf"config error: workdir {re.escape(str(run))} is in use by PID {holder.pid} on host "
      rf"{re.escape(socket.gethostname())} since [-0-9: ]+; wait for that run to end or pass "
      r"another --workdir",
      proc.stderr.strip(),
    ), proc.stderr
    assert elapsed < 2.0, f"refused after {elapsed:.1f}s"
  finally:
    kill(holder)
  caplog.set_level(logging.WARNING)
  with workdir.locked(str(run)):
    assert json.loads((run / workdir.LOCK_FILE).read_text())["pid"] == os.getpid()
  assert f"left by PID {holder.pid} on host {socket.gethostname()}" in caplog.text
  assert "ended without releasing it (killed?)" in caplog.text
  assert (run / workdir.LOCK_FILE).read_text() == ""  # released cleanly


def test_without_flock_the_lock_is_an_exclusive_file_and_a_dead_holders_file_is_taken(
  tmp_path, caplog, monkeypatch
):
  run = tmp_path / "run"
  holder = start_holder(run, NO_FLOCK)
  monkeypatch.setattr(
    fcntl, "flock", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOLCK, "No locks available"))
  )
  try:
    with pytest.raises(workdir.WorkdirBusy) as info:
      workdir.acquire(str(run))
    assert f"in use by PID {holder.pid}" in str(info.value)
    assert f"if that run is gone, delete {run / workdir.LOCK_FILE}" in str(info.value)
  finally:
    kill(holder)
  caplog.set_level(logging.WARNING)
  with workdir.locked(str(run)):
    pass
  assert "has no file locks" in caplog.text and f"PID {holder.pid}" in caplog.text
  assert not (run / workdir.LOCK_FILE).exists()  # removed on release


# ---------------------------------------------------------------------------------------------
# Full disks and failing writes: one line naming the path, the errno and the last checkpoint


def test_tensorboard_write_on_a_full_disk_is_one_line_not_a_hang(reference, tmp_path, monkeypatch):
  from tensorboardX import record_writer

  write, calls = record_writer.RecordWriter.write, []

  def write_until_full(self, data):
    calls.append(1)
    if len(calls) > 6:  # a few scalars in, the disk is full
      raise OSError(errno.ENOSPC, "No space left on device")
    return write(self, data)

  monkeypatch.setattr(record_writer.RecordWriter, "write", write_until_full)
  with pytest.raises(errors.WriteError) as info:
    train.train_and_evaluate(make_config(TINY), str(tmp_path))
  message = str(info.value)
  assert "\n" not in message
  assert message.startswith(f"cannot write {tmp_path / 'tensorboard'} (ENOSPC, No space left")
  assert f"the last good checkpoint is {tmp_path / 'checkpoints'}" in message
  assert "rerun the same command to resume from it" in message


def in_tiny_filesystem(tmp_path, then=""):
  """A command prefix that runs its command with `tmp_path/disk` on a fresh 8 MB tmpfs (in a
  mount namespace of its own), after the shell commands `then` ($D is the mount point)."""
  disk = tmp_path / "disk"
  disk.mkdir()
  script = f'D={disk}; mount -t tmpfs -o size=8m tmpfs $D && {then or "true"} && exec "$@"'
  prefix = ["unshare", "-rm", "sh", "-c", script, "-"]
  probe = subprocess.run([*prefix, "true"], capture_output=True)
  if probe.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
  return disk, prefix


@pytest.mark.parametrize(
  "overrides,batch,failing,kept",
  [
    # the disk fills before step 2, which logs the first line of metrics.jsonl
    ({}, 1, "metrics.jsonl", "no checkpoint was saved yet: fix it and rerun from scratch"),
    # only checkpoints write: the one of step 6 finds the disk full
    (
      {"log_every": 100, "eval_every": 100},
      4,
      "checkpoints/6",
      "the last good checkpoint is {run}/checkpoints/3: free space (or fix the path), then "
      "rerun the same command to resume from it",
    ),
  ],
  ids=["metrics", "checkpoint"],
)
def test_full_disk_stops_the_cli_with_one_line_and_exit_74(
  tmp_path, overrides, batch, failing, kept
):
  disk, prefix = in_tiny_filesystem(tmp_path)
  run = disk / "run"
  rc, log = run_driver(
    run,
    "--cli",
    "--fill-disk-before-batch",
    str(batch),
    overrides={**TINY, **overrides},
    prefix=prefix,
  )
  assert rc == errors.EXIT_IO, log
  assert "Traceback" not in log
  lines = log.strip().splitlines()
  error = (
    f"write error: cannot write {run / failing} (ENOSPC, No space left on device); "
    + kept.format(run=run)
  )
  assert error in lines, log
  # Orbax's save threads may still log their own failure (one line each) as the run exits
  assert all("] [process=0]" in line for line in lines[lines.index(error) + 1 :]), log


def test_read_only_workdir_is_one_line(tmp_path):
  disk, prefix = in_tiny_filesystem(tmp_path, then="mkdir $D/run && mount -o remount,ro $D")
  rc, log = run_driver(disk / "run", "--cli", prefix=prefix)
  assert rc == errors.EXIT_CONFIG, log
  assert last_line(log) == (
    f"config error: cannot write in workdir {disk / 'run'} (Read-only file system); pass a "
    "writable --workdir"
  )


# ---------------------------------------------------------------------------------------------
# Resume checks


def test_resume_checks_train_steps_and_a_missing_metrics_file(reference, tmp_path, caplog):
  ref_dir, _ = reference
  workdir_ = tmp_path / "run"
  shutil.copytree(ref_dir, workdir_)
  with pytest.raises(tasks.ConfigError) as info:
    train.train_and_evaluate(make_config({**TINY, "train_steps": 10}), str(workdir_))
  assert str(info.value) == (
    f"the checkpoint in {workdir_ / 'checkpoints'} is at step 12, past config.train_steps=10; "
    "pass --config.train_steps=12 or more, or use a new --workdir"
  )
  os.remove(workdir_ / "metrics.jsonl")
  caplog.set_level(logging.INFO)
  train.train_and_evaluate(make_config({**TINY, "train_steps": 14}), str(workdir_))
  assert "config.train_steps changed from 12 to 14 on resume" in caplog.text
  assert "the lines of steps 1..12 are lost" in caplog.text
  assert [line["step"] for line in metric_lines(workdir_)] == [14, 14]
