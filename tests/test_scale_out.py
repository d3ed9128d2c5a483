"""Data parallelism: 8 simulated CPU devices train like 1 device with the same global batch.

XLA_FLAGS must be set before JAX starts, so the 8-device run happens in a subprocess; this
process (normally 1 CPU device) runs the same config as the reference.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnnrnn_jax import train

sys.path.insert(0, os.path.dirname(__file__))
from train_driver import make_config  # noqa: E402

# The 8-device run is a subprocess, compiled as this process compiles.
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Embedding gathers, dropout and a lax.scan: what sharding could get wrong.
SMALL = {
  "model": "lstm",
  "task": "order",
  "arch.embed_dim": 8,
  "arch.hidden": 8,
  "batch_size": 16,
  "train_steps": 6,
  "log_every": 1,
  "eval_every": 3,
  "checkpoint_every": 6,
  "data.eval_size": 40,
  "data.seq_len": 12,
  "log_flops": True,  # the FLOPs of a step sharded over 8 devices are counted too
}

EIGHT_DEVICES = r"""
import json, sys
import jax
from jax.sharding import NamedSharding, PartitionSpec as P
from cnnrnn_jax import train
from cnnrnn_jax.errors import ConfigError
sys.path.insert(0, "tests")
from train_driver import make_config

overrides, workdir = json.loads(sys.argv[1]), sys.argv[2]
out = {"devices": jax.device_count()}
out["final"] = train.train_and_evaluate(make_config(overrides), workdir)
_, state = train.restore(workdir)
out["replicated"] = all(x.sharding.is_fully_replicated and len(x.sharding.device_set) == 8
                        for x in jax.tree.leaves((state.params, state.opt_state)))
mesh = train.data_mesh(16)
batch = train.put_global({"x": jax.numpy.arange(32).reshape(16, 2)},
                         NamedSharding(mesh, P(train.DATA_AXIS)))["x"]
out["rows_per_device"] = sorted({s.data.shape[0] for s in batch.addressable_shards})
try:
  train.train_and_evaluate(make_config({**overrides, "batch_size": 12}), workdir + "_bad")
except ConfigError as e:
  out["error"] = str(e)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight_device_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("dp8") / "run"
  flags = [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": " ".join(flags).strip(),
  }
  proc = subprocess.run(
    [sys.executable, "-c", EIGHT_DEVICES, json.dumps(SMALL), str(workdir)],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env=env,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, json.loads(proc.stdout.split("RESULT ", 1)[1])


def losses(workdir, split):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [(r["step"], r["loss"]) for r in map(json.loads, f) if r["split"] == split]


def test_eight_devices_follow_the_single_device_loss_trajectory(eight_device_run, tmp_path):
  dp_dir, dp = eight_device_run
  assert dp["devices"] == 8 and dp["rows_per_device"] == [2]
  assert dp["replicated"]  # params and optimizer state live whole on every device
  final = train.train_and_evaluate(make_config(SMALL), str(tmp_path))
  for split in ("train", "eval"):
    one, eight = losses(tmp_path, split), losses(dp_dir, split)
    assert [s for s, _ in one] == [s for s, _ in eight] and len(one) == {"train": 6, "eval": 2}[
      split
    ]
    np.testing.assert_allclose([l for _, l in eight], [l for _, l in one], rtol=1e-5)
  assert final.keys() == dp["final"].keys()
  np.testing.assert_allclose(dp["final"]["loss"], final["loss"], rtol=1e-5)
  # The 8-device checkpoint restores onto this 1-device process, close to its own params.
  _, dp_state = train.restore(str(dp_dir))
  _, state = train.restore(str(tmp_path))
  for a, b in zip(jax.tree.leaves(dp_state.params), jax.tree.leaves(state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_a_batch_that_does_not_split_over_the_devices_is_one_clear_error(eight_device_run):
  assert eight_device_run[1]["error"] == (
    "config.batch_size=12 does not split over 8 devices; use a multiple of 8"
  )
