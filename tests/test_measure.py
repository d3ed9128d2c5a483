"""The probes on tiny settings: each test pins a value a wrong probe would miss."""

import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import measure, tasks, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.synthetic import COPY_RECALL, order_label

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(model, task, **data):
  config = default.get_config(f"{model},{task}")
  config.batch_size = 8
  config.train_steps = 10
  config.arch.embed_dim = 8
  config.arch.hidden = 8
  config.arch.num_filters = 4
  config.arch.kernel_sizes = (3,)
  config.data.eval_size = 32
  for key, value in data.items():
    config.data[key] = value
  return config


def built(config):
  task, model = train.setup(config)
  return task, model, train.init_state(config, task, model).params


# --- order awareness ---------------------------------------------------------------------------


def test_block_shuffle_moves_whole_blocks_and_keeps_padding():
  inputs = np.array([[1, 2, 3, 4, 5, 6, 7, 0, 0], [9, 8, 7, 6, 5, 4, 3, 2, 1]])
  lengths = np.array([7, 9])
  out = measure.block_shuffle(inputs, lengths, 3, np.random.default_rng(1))
  np.testing.assert_array_equal(out[0, 7:], [0, 0])  # padding stays
  for row, length in enumerate(lengths):
    assert sorted(out[row, :length]) == sorted(inputs[row, :length])
    blocks = {tuple(inputs[row, s : min(s + 3, length)]) for s in range(0, length, 3)}
    pieces, s = [], 0
    while s < length:  # the output is a concatenation of the input's blocks
      piece = next(b for b in blocks if tuple(out[row, s : s + len(b)]) == b)
      pieces.append(piece)
      s += len(piece)
    assert sorted(pieces) == sorted(blocks)
  assert not np.array_equal(out, inputs)
  # one block per row: nothing can move
  np.testing.assert_array_equal(
    measure.block_shuffle(inputs, lengths, 9, np.random.default_rng(0)), inputs
  )
  with pytest.raises(ConfigError, match="window=0"):
    measure.block_shuffle(inputs, lengths, 0, np.random.default_rng(0))


def _oracle_eval_fn(max_distance=None):
  """An eval_fn that reads the order task's rule from the inputs (optionally only when
  the markers are at most `max_distance` apart, guessing 0 beyond)."""

  def eval_fn(params, batch):
    correct = 0.0
    for ids, length, target, weight in zip(
      batch["inputs"], batch["lengths"], batch["targets"], batch["weights"]
    ):
      ids = np.asarray(ids)[:length]
      gap = abs(int(np.flatnonzero(ids == 1)[0]) - int(np.flatnonzero(ids == 2)[0]))
      guess = order_label(ids, length) if max_distance is None or gap <= max_distance else 0
      correct += float(guess == target) * weight
    return {"accuracy": correct, "count": float(np.sum(batch["weights"])), "loss": 0.0}

  return eval_fn


def test_bag_shuffle_drop_is_exactly_zero_and_an_order_reader_drops():
  config = tiny("bag", "order", seq_len=16)
  task, model, params = built(config)
  bag = measure.shuffle_drop(measure.make_eval_fn(model, task.spec), params, task, 8, window=2)
  assert bag["drop"] == 0.0
  assert bag["accuracy"] == bag["shuffled_accuracy"]
  oracle = measure.shuffle_drop(_oracle_eval_fn(), None, task, 8, window=2)
  assert oracle["accuracy"] == 1.0
  assert oracle["drop"] > 0.25  # shuffling blocks swaps A and B about half the time


def test_accuracy_by_distance_and_longest_solved():
  config = tiny("bag", "order", seq_len=16)
  config.data.eval_size = 64
  acc = measure.accuracy_by_distance(
    _oracle_eval_fn(max_distance=3), None, config, [1, 2, 3, 4, 8, 15]
  )
  assert acc["1"] == acc["2"] == acc["3"] == 1.0
  assert acc["4"] < 0.8 and acc["15"] < 0.8  # guessing beyond its reach
  assert measure.longest_solved(acc, 0.9) == 3
  assert measure.longest_solved({"5": 0.5}, 0.9) is None
  # solving 31 but failing 8 (boundary cues) is not solving 31
  assert measure.longest_solved({"31": 1.0, "1": 1.0, "8": 0.6}, 0.9) == 1
  # a miss at the shortest distance does not hide the run that follows
  assert measure.longest_solved({"1": 0.85, "2": 0.95, "4": 1.0, "8": 0.5}, 0.9) == 4


def test_copy_memory_accuracy_counts_the_recall_only():
  task = tasks.build("copy_memory", tiny("lstm", "copy_memory", distance=5).data, 0)

  def always_blank(params, batch):
    correct = (batch["targets"] == 0).astype(np.float32) * batch["weights"]
    return {"accuracy": correct.sum(), "count": batch["weights"].sum(), "loss": 0.0}

  overall = measure.accuracy(always_blank, None, task.eval_batches(8), task.spec)
  assert overall == pytest.approx(15 / 25)  # the blanks are free accuracy...
  assert measure.task_accuracy(always_blank, None, task, "copy_memory", 8) == 0.0  # recall is 0
  batch = measure.SCORED_STEPS["copy_memory"](next(task.eval_batches(8)))
  assert batch["weights"][:, -COPY_RECALL:].all() and not batch["weights"][:, :-COPY_RECALL].any()


# --- gradients ---------------------------------------------------------------------------------


def test_causal_models_gradient_to_future_inputs_is_exactly_zero():
  t = 9
  for name, causal in (("lstm", True), ("cnn", False)):
    config = tiny(name, "copy_memory", distance=4)  # per-step head, L = 24
    config.arch.kernel_sizes = (5,)
    task, model, params = built(config)
    batch = next(task.eval_batches(8))
    norms = np.asarray(
      measure.make_input_gradient_fn(model, task.spec)(
        params, measure.at_output(batch, task.spec, np.full(8, t))
      )
    )
    assert norms.shape == (8, 24)
    seen = norms.sum(0) > 0
    if causal:  # the recurrence sees every step up to t, and nothing after it
      np.testing.assert_array_equal(seen, np.arange(24) <= t)
    else:  # 'same' padding, width 5: the window t-2..t+2, nothing else
      np.testing.assert_array_equal(seen, np.abs(np.arange(24) - t) <= 2)
    profile = measure.gradient_by_distance(norms, batch["lengths"], np.full(8, t))
    assert min(profile["distance"]) == t - 23 and max(profile["distance"]) == t


def test_bag_gradient_is_flat_across_distance():
  config = tiny("bag", "adding", seq_len=12)  # every row has all 12 steps
  profile = measure.gradient_profile(config, num_batches=1)
  assert profile["distance"] == list(range(12))
  np.testing.assert_allclose(profile["mean_norm"], profile["mean_norm"][0], rtol=1e-5)
  assert abs(profile["decay_orders"]) < 1e-5


def test_decay_orders_reads_the_slope():
  d = np.arange(17)
  profile = {"distance": list(d), "mean_norm": list(10.0 ** (-0.25 * d)), "count": [1] * 17}
  # far half (d >= 8): mean of 10^-2 .. 10^-4; nearest eighth (d <= 2): mean of 1 .. 10^-0.5
  far = np.mean(10.0 ** (-0.25 * d[8:]))
  near = np.mean(10.0 ** (-0.25 * d[:3]))
  assert measure.decay_orders(profile) == pytest.approx(math.log10(far / near))
  assert measure.decay_orders(profile) < -2


# --- budgets, speed, memory, depth -------------------------------------------------------------


def test_match_param_budget_picks_the_width_knob_and_the_closest_width():
  for name, knob in (("cnn", "num_filters"), ("lstm", "hidden")):
    config = tiny(name, "order")
    matched, info = measure.match_param_budget(config, 3000)
    assert info["knob"] == knob and matched.arch[knob] == info["width"]
    assert info["params"] == measure.param_count(matched)
    for other in (info["width"] - 1, info["width"] + 1):
      config.arch[knob] = other
      assert abs(measure.param_count(config) - 3000) >= abs(info["params"] - 3000)
  # widths the model rejects are skipped: a transformer's hidden size splits over its heads
  config = tiny("transformer", "order")
  matched, info = measure.match_param_budget(config, 3000)
  assert info["width"] % config.arch.num_heads == 0
  for other in (info["width"] - config.arch.num_heads, info["width"] + config.arch.num_heads):
    config.arch.hidden = other
    assert abs(measure.param_count(config) - 3000) >= abs(info["params"] - 3000)


def test_speed_reports_times_compile_and_memory():
  result = measure.speed(tiny("bag", "order", seq_len=16), repeats=2)
  for key in (
    "train_s_per_example",
    "infer_s_per_example",
    "train_compile_s",
    "infer_compile_s",
    "temp_bytes",
    "argument_bytes",
  ):
    assert result[key] > 0
  assert result["train_s_per_example"] == pytest.approx(result["train_s_per_step"] / 8)
  assert result["peak_bytes"] == (
    result["argument_bytes"] + result["output_bytes"] + result["temp_bytes"] - result["alias_bytes"]
  )
  assert result["peak_bytes_per_example"] == result["peak_bytes"] / 8


def test_memory_of_backprop_through_time_grows_with_length():
  short, long = (measure.memory(tiny("lstm", "order", seq_len=L)) for L in (16, 64))
  # backprop through time keeps every step's hidden state: B x L x H floats at least
  assert long["temp_bytes"] >= 8 * 64 * 8 * 4
  assert long["temp_bytes"] > 2 * short["temp_bytes"]


def test_critical_path_is_linear_for_scan_logarithmic_for_associative_scan():
  def scan(x):
    return jax.lax.scan(lambda c, x: (jnp.tanh(c + x), c), 0.0, x)[1]

  depth = lambda f, n: measure.critical_path(jax.make_jaxpr(f)(jnp.ones(n)))
  assert depth(scan, 64) == 2 * depth(scan, 32) == 4 * depth(scan, 16)
  assoc = lambda x: jax.lax.associative_scan(jnp.add, x)
  assert depth(assoc, 16) < depth(assoc, 64) < depth(assoc, 256) < 2 * depth(assoc, 16) + 20
  vmapped = lambda x: jax.vmap(lambda v: jnp.tanh(v) * 2)(x)
  assert depth(vmapped, 16) == depth(vmapped, 1024)
  lstm = [measure.sequential_depth(tiny("lstm", "order", seq_len=L)) for L in (8, 16)]
  cnn = [measure.sequential_depth(tiny("cnn", "order", seq_len=L)) for L in (8, 16)]
  assert lstm[1] > 1.8 * lstm[0] and cnn[0] == cnn[1] < lstm[0]


def test_data_parallel_on_the_devices_present():
  config = tiny("bag", "order")
  out = measure.data_parallel(config, [1], repeats=1)
  assert out["devices"] == [1] and out["efficiency"] == [1.0]
  assert out["examples_per_s"][0] > 0
  with pytest.raises(ConfigError, match="only 1 are present"):
    measure.data_parallel(config, [jax.device_count() + 1])


@pytest.mark.slow  # a subprocess with two simulated devices
def test_data_parallel_over_two_simulated_devices():
  code = (
    "from cnnrnn_jax import measure; from cnnrnn_jax.configs import default\n"
    "c = default.get_config('bag,order'); c.batch_size = 4; c.arch.hidden = 8\n"
    "c.arch.embed_dim = 8\n"
    "out = measure.data_parallel(c, repeats=1)\n"
    "assert out['devices'] == [1, 2], out\n"
    "assert out['devices_present'] == 2 and out['efficiency'][0] == 1.0\n"
    "print('ok', out['efficiency'][1] > 0)"
  )
  flags = [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=2"]
  env = {
    **os.environ,
    "XLA_FLAGS": " ".join(flags).strip(),
    "JAX_PLATFORMS": "cpu",
  }
  proc = subprocess.run(
    [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "ok True" in proc.stdout


# --- stability ---------------------------------------------------------------------------------


def test_converged_against_the_chance_loss():
  order = tasks.build("order", default.get_config().data, 0).spec
  assert measure.chance_loss(order) == pytest.approx(math.log(2))
  assert measure.converged(0.3, order) and not measure.converged(0.4, order)
  assert not measure.converged(float("nan"), order) and not measure.converged(None, order)
  copy = tasks.build("copy_memory", tiny("lstm", "copy_memory", distance=10).data, 0).spec
  assert measure.chance_loss(copy) == pytest.approx(10 * math.log(8) / 30)
