"""A workdir in a bucket: every file of a run goes through etils.epath, none to a local folder.

Offline, `gs://` is served by fsspec's in-memory filesystem: epath's fsspec backend (chosen
with EPATH_USE_TF=0) asks fsspec for its `gcs` filesystem, which the fixture maps to
`GsInMemory`, so the run goes through the same epath calls as on a Cloud TPU VM. Orbax writes
and reads checkpoint arrays with TensorStore's own GCS driver, which speaks the Cloud Storage
JSON API over HTTP: `gcs_api` points it at a server on 127.0.0.1 (fake_gcs.py) that keeps its
objects in that same in-memory filesystem, so epath and TensorStore see one bucket.
"""

import importlib
import json
import os
import socket
import struct
import types

import jax
import numpy as np
import pytest
from fake_gcs import FakeGcs
from fsspec.implementations.memory import MemoryFileSystem
from orbax.checkpoint._src.path import gcs_utils
from test_real_data_train import reviews, tiny_config  # noqa: F401  (reviews: a fixture)

from cnnrnn_jax import report, train, workdir
from cnnrnn_jax.tasks import text


class GsInMemory(MemoryFileSystem):
  """gs:// paths kept in this process's memory (a store of its own, emptied per test), named
  as gcsfs names them: `bucket/name`, without the scheme (epath puts `gs://` back)."""

  protocol = ("gs", "gcs")
  store: dict = {}
  pseudo_dirs = [""]
  root_marker = ""

  @classmethod
  def _strip_protocol(cls, path):
    path = os.fspath(path)
    for scheme in ("gs://", "gcs://"):
      path = path.removeprefix(scheme)
    return path.strip("/")


@pytest.fixture
def bucket(monkeypatch, tmp_path):
  monkeypatch.setenv("EPATH_USE_TF", "0")
  # epath decides once per process whether TensorFlow serves gs:// (a cached lookup that an
  # earlier test's epath call may have made with TF importable): decide again, now without it
  tf_installed = importlib.import_module("etils.epath.gpath")._is_tf_installed
  # and keeps the first filesystem it got for gs://: get this one
  filesystems = importlib.import_module("etils.epath.backend")._FileSystemSpecBackend
  tf_installed.cache_clear()
  filesystems._get_filesystem.cache_clear()
  for name in ("gs", "gcs"):
    # fsspec's registry of loaded classes (fsspec.registry, the attribute, is a read-only view)
    monkeypatch.setitem(importlib.import_module("fsspec.registry")._registry, name, GsInMemory)
  GsInMemory.store.clear()
  monkeypatch.chdir(tmp_path)  # a local folder named gs: would appear here
  yield "gs://bucket"
  assert not os.path.exists("gs:"), "a remote path was written to a local folder"
  GsInMemory.store.clear()
  tf_installed.cache_clear()  # later tests see the environment's own choice again
  filesystems._get_filesystem.cache_clear()


@pytest.fixture
def gcs_api(bucket, monkeypatch):
  """The bucket's objects served over the Cloud Storage JSON API too, for TensorStore."""
  server = FakeGcs(GsInMemory())
  monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", server.url)
  monkeypatch.setenv("GOOGLE_AUTH_TOKEN_FOR_TESTING", "offline")  # no credentials lookup
  for name in ("no_proxy", "NO_PROXY"):  # 127.0.0.1 is never reached through a proxy
    monkeypatch.setenv(name, "127.0.0.1")
  # Orbax lists the steps of a gs:// directory after asking the bucket (through the
  # google-cloud-storage client, not installed here) whether it has a hierarchical
  # namespace; this bucket is a standard one, without.
  monkeypatch.setattr(
    gcs_utils,
    "get_bucket",
    lambda name: types.SimpleNamespace(hierarchical_namespace_enabled=False),
  )
  yield bucket
  server.close()


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


@pytest.mark.slow  # two training runs
def test_a_whole_run_is_written_to_the_bucket_and_read_back(gcs_api, reviews, tmp_path):  # noqa: F811
  config = tiny_config("bag", "text_files", train_path=str(reviews), eval_fraction=0.3)
  config.checkpoint_every = 3
  results = train.train_over_seeds(config, f"{gcs_api}/run", seeds=(0,))
  run = workdir.epath(f"{gcs_api}/run/seed_0")

  lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
  assert [(line["step"], line["split"]) for line in lines] == [(3, "train"), (3, "eval")]
  assert lines[-1]["accuracy"] == results[0]["accuracy"]
  assert json.loads((run / "config.json").read_text())["model"] == "bag"
  vocab = text.Vocabulary.load(str(run / "vocab.json"))
  assert "great" in vocab.tokens
  assert text.with_saved_assets(config, str(run)).data.vocab_path == str(run / "vocab.json")
  seeds = json.loads(workdir.epath(f"{gcs_api}/run/seeds.json").read_text())
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

  # The checkpoint (arrays through TensorStore, the rest through epath) is read back whole:
  # the parameters of the same run trained into a local folder, bit for bit.
  assert [p.name for p in (run / "checkpoints").iterdir()] == ["3"]
  restored_config, restored = train.restore(str(run))
  assert restored_config.model == "bag" and int(restored.step) == 3
  local = config.copy_and_resolve_references()
  local.seed, local.checkpoint_every = 0, 0
  trained, _ = train.train_and_return_state(local, str(tmp_path / "local"))
  jax.tree.map(np.testing.assert_array_equal, restored.params, trained.params)

  # A rerun into the same workdir resumes from that checkpoint: nothing left to train.
  again = train.train_and_evaluate(config, str(run))
  assert again == results[0]
  reread = (run / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["step"] for line in reread] == [3, 3]

  rows = [[name, f"{value:.4f}"] for name, value in sorted(results[0].items())]
  rep = report.Report(
    "run",
    [("table", ["metric", "value"], rows), ("img", "p.png", "a plot")],
    [],
    {"p.png": b"\x89PNG"},
  )
  paths = report.write(rep, f"{gcs_api}/run")
  assert "| accuracy |" in workdir.epath(paths["md"]).read_text()
  assert "data:image/png;base64,iVBORw==" in workdir.epath(paths["html"]).read_text()
  assert workdir.epath(f"{gcs_api}/run/p.png").read_bytes() == b"\x89PNG"
