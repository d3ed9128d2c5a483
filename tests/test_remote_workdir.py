"""A workdir in a bucket: every file of a run goes through etils.epath, none to a local folder.

Offline, `gs://` is served by fsspec's in-memory filesystem: epath's fsspec backend (chosen
with EPATH_USE_TF=0) asks fsspec for its `gcs` filesystem, which the fixture maps to
`MemoryFileSystem`, so the run goes through the same epath calls as on a Cloud TPU VM.
Orbax writes checkpoint arrays with TensorStore's own GCS driver (network only), so these
runs keep config.checkpoint_every=0.
"""

import importlib
import json
import os
import socket
import struct

import pytest
from fsspec.implementations.memory import MemoryFileSystem
from test_real_data_train import reviews, tiny_config  # noqa: F401  (reviews: a fixture)

from cnnrnn_jax import train, workdir
from cnnrnn_jax.tasks import text

pytestmark = pytest.mark.usefixtures("quick_compiles")


class GsInMemory(MemoryFileSystem):
  """gs:// paths kept in this process's memory (a store of its own, emptied per test)."""

  protocol = ("gs", "gcs")
  store: dict = {}
  pseudo_dirs = [""]


@pytest.fixture
def bucket(monkeypatch, tmp_path):
  monkeypatch.setenv("EPATH_USE_TF", "0")
  for name in ("gs", "gcs"):
    # fsspec's registry of loaded classes (fsspec.registry, the attribute, is a read-only view)
    monkeypatch.setitem(importlib.import_module("fsspec.registry")._registry, name, GsInMemory)
  GsInMemory.store.clear()
  monkeypatch.chdir(tmp_path)  # a local folder named gs: would appear here
  yield "gs://bucket"
  assert not os.path.exists("gs:"), "a remote path was written to a local folder"
  GsInMemory.store.clear()


def test_remote_lock_names_a_live_holder_and_takes_over_a_dead_ones(bucket):
  run = f"{bucket}/run"
  lock = workdir.epath(run) / workdir.LOCK_FILE
  with workdir.locked(run):
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    with workdir.locked(run):  # re-entrant within the process
      pass
    assert lock.exists()
  assert not lock.exists()  # released: the file is gone

  alive = {"pid": os.getppid(), "host": socket.gethostname()}
  lock.write_text(json.dumps(alive))
  with pytest.raises(workdir.WorkdirBusy, match=f"if that run is gone, delete {lock}"):
    workdir.acquire(run)
  lock.write_text(json.dumps({"pid": 2**22 + 1, "host": socket.gethostname()}))  # no such PID
  with workdir.locked(run):
    assert json.loads(lock.read_text())["pid"] == os.getpid()


@pytest.mark.slow  # a training run
def test_a_whole_run_is_written_to_the_bucket_and_read_back(bucket, reviews):  # noqa: F811
  config = tiny_config("bag", "text_files", train_path=str(reviews), eval_fraction=0.3)
  config.checkpoint_every = 0
  results = train.train_over_seeds(config, f"{bucket}/run", seeds=(0,))
  run = workdir.epath(f"{bucket}/run/seed_0")

  lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
  assert [(line["step"], line["split"]) for line in lines] == [(3, "train"), (3, "eval")]
  assert lines[-1]["accuracy"] == results[0]["accuracy"]
  assert json.loads((run / "config.json").read_text())["model"] == "bag"
  vocab = text.Vocabulary.load(str(run / "vocab.json"))
  assert "great" in vocab.tokens
  assert text.with_saved_assets(config, str(run)).data.vocab_path == str(run / "vocab.json")
  seeds = json.loads(workdir.epath(f"{bucket}/run/seeds.json").read_text())
  assert seeds["accuracy"]["values"] == [results[0]["accuracy"]]
  assert not (run / workdir.LOCK_FILE).exists()

  (events,) = (run / "tensorboard").iterdir()
  assert events.name.startswith("events.out.tfevents.")
  data, tags = events.read_bytes(), set()
  from tensorboardX.proto.event_pb2 import Event

  while data:  # TFRecord framing: length, its crc, the record, its crc
    (length,) = struct.unpack("Q", data[:8])
    tags |= {v.tag for v in Event.FromString(data[12 : 12 + length]).summary.value}
    data = data[16 + length :]
  assert {"train/loss", "eval/loss", "eval/accuracy"} <= tags

  # A rerun into the same workdir reads its config.json and metrics.jsonl back from there.
  again = train.train_and_evaluate(config, str(run))
  assert again == results[0]
  reread = (run / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["step"] for line in reread] == [3, 3]
