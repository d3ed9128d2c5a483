"""Video: the 2-D/3-D convolution forms, the moving-digit clips and their labels, the frame
encoders composed with sequence models (padding invariance), bad input, and a run end to end."""

import gzip
import struct

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import bench, conv2d, frames, models, tasks, train
from cnnrnn_jax.bench import cases
from cnnrnn_jax.configs import default, video
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import TaskSpec
from cnnrnn_jax.tasks import video as video_task
from cnnrnn_jax.viz import video as viz_video

# ---------------------------------------------------------------------------------------------
# The convolution forms


CONV_CELLS = [((3, 3), (7, 6), "same"), ((3, 2), (6, 5), "valid"), ((3, 3, 3), (4, 6, 5), "same")]


@pytest.mark.parametrize(
  "kernel_shape, x_shape, padding", fast_tier(CONV_CELLS, fast={CONV_CELLS[1]})
)
def test_conv_forms_equal_forward_and_backward(kernel_shape, x_shape, padding):
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  kernel = jax.random.normal(keys[0], kernel_shape + (2, 3))
  bias = jax.random.normal(keys[1], (3,))
  x = jax.random.normal(keys[2], x_shape + (2,))
  out_shape = tuple(
    n if padding == "same" else n - k + 1 for n, k in zip(x_shape, kernel_shape)
  ) + (3,)
  probe = jax.random.normal(keys[3], out_shape)

  def loss_and_grads(impl):
    f = lambda k, b, xx: jnp.sum(conv2d.convnd(k, b, xx, padding, impl) * probe)
    return jax.value_and_grad(f, argnums=(0, 1, 2))(kernel, bias, x)

  @jax.jit
  def all_forms():  # one compile for the three forms
    return [loss_and_grads(impl) for impl in conv2d.IMPLS]

  (ref_value, ref_grads), *others = all_forms()
  assert conv2d.convnd(kernel, bias, x, padding, "vmap").shape == out_shape
  for value, grads in others:
    np.testing.assert_allclose(value, ref_value, rtol=1e-4, atol=1e-4)
    for g, ref in zip(grads, ref_grads):
      np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4)


def test_max_pool2d_takes_the_max_of_each_2x2_window():
  x_HxWxF = jnp.arange(4 * 6 * 2, dtype=jnp.float32).reshape(4, 6, 2) % 7
  expected = np.asarray(x_HxWxF).reshape(2, 2, 3, 2, 2).max(axis=(1, 3))
  np.testing.assert_array_equal(conv2d.max_pool2d(x_HxWxF), expected)
  with pytest.raises(ValueError, match="unknown 2-D/3-D padding"):
    conv2d.convnd(jnp.zeros((3, 3, 1, 1)), jnp.zeros(1), jnp.zeros((4, 4, 1)), "causal")


# ---------------------------------------------------------------------------------------------
# Clips and labels (synthetic digits: a class-c digit is a bright block of c + 1 rows)


def block_digits(n, size=28):
  labels = np.arange(n) % 10
  images = np.zeros((n, size, size), np.uint8)
  for i, c in enumerate(labels):
    images[i, : c + 1] = 255
  return images, labels.astype(np.int32)


def data_config(**knobs):
  config = default.get_config("lstm,moving_mnist").data
  for key, value in knobs.items():
    config[key] = value
  return config


def make_task(seed=0, **knobs):
  return video_task.MovingDigits(
    video_task.read_knobs(data_config(**knobs)), seed, *block_digits(40), *block_digits(20)
  )


def centre_NxTx2(clips_NxTxHxW):
  """The (y, x) centre of mass of each frame."""
  ys, xs = np.indices(clips_NxTxHxW.shape[2:])
  mass = clips_NxTxHxW.sum(axis=(2, 3))
  return np.stack(
    [(clips_NxTxHxW * g).sum(axis=(2, 3)) / np.maximum(mass, 1e-9) for g in (ys, xs)], -1
  )


def test_clips_are_a_pure_function_of_seed_and_step_with_the_task_layout():
  task = make_task(label="digits", seq_len=6, frame_size=16, digit_size=7)
  a, b = task.train_batch(3, 5), task.train_batch(3, 5)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.array_equal(task.train_batch(4, 5)["inputs"], a["inputs"])
  assert a["inputs"].shape == (5, 6, 256) and a["inputs"].dtype == np.float32
  assert 0.0 <= a["inputs"].min() and a["inputs"].max() <= 1.0
  np.testing.assert_array_equal(a["lengths"], 6)
  assert task.spec == TaskSpec("classify", 10, 6, input_dim=256, frame_shape=(16, 16))
  eval_rows = sum(int(batch["weights"].sum()) for batch in task.eval_batches(300))
  assert eval_rows == 1024


def test_digits_label_is_the_class_shown_or_the_multiset_of_classes():
  task = make_task(label="digits", seq_len=3, frame_size=32, digit_size=14)
  batch = task.train_batch(0, 64)
  # a class-c block digit has (c + 1) * 28 bright pixels; resizing 28 -> 14 keeps a quarter
  mass_NxT = batch["inputs"].reshape(64, 3, -1).sum(axis=2)
  expected_NxT = np.broadcast_to((batch["targets"][:, None] + 1) * 7.0, mass_NxT.shape)
  np.testing.assert_allclose(mass_NxT, expected_NxT, rtol=1e-4)
  pairs = make_task(label="digits", num_digits=2)
  assert pairs.spec.num_outputs == 55 and pairs.multisets[(0, 0)] == 0
  assert pairs.multisets[(3, 7)] == pairs.multisets[tuple(sorted((7, 3)))]
  assert set(pairs.train_batch(0, 64)["targets"].tolist()) <= set(range(55))


def test_direction_label_is_the_first_move_of_the_digits():
  task = make_task(label="direction", seq_len=4, frame_size=32, digit_size=14, speed=3)
  batch = task.train_batch(0, 200)
  centre = centre_NxTx2(batch["inputs"].reshape(200, 4, 32, 32))
  for t in range(video_task.FREE_MOVES):  # no bounce before the third move
    move_Nx2 = np.round(centre[:, t + 1] - centre[:, t], 3)
    np.testing.assert_array_equal(move_Nx2, 3 * video_task.DIRECTIONS_8x2[batch["targets"]])
  assert set(batch["targets"].tolist()) == set(range(8))


def test_wrapped_clips_roll_each_frame_into_the_next_one():
  task = make_task(label="direction", motion="wrap", seq_len=5, frame_size=16, digit_size=7)
  batch = task.train_batch(0, 50)
  clips = batch["inputs"].reshape(50, 5, 16, 16)
  for clip, target in zip(clips, batch["targets"]):
    dy, dx = 2 * video_task.DIRECTIONS_8x2[target]
    for t in range(4):
      np.testing.assert_array_equal(clip[t + 1], np.roll(clip[t], (dy, dx), axis=(0, 1)))
  assert set(batch["targets"].tolist()) == set(range(8))


@pytest.mark.parametrize("distance", [0, 5])
def test_sequence_shows_two_different_digits_distance_frames_apart(distance):
  task = make_task(label="sequence", seq_len=12, show_frames=2, distance=distance)
  batch = task.train_batch(1, 100)
  shown_NxT = batch["inputs"].reshape(100, 12, -1).sum(axis=2) > 0
  for row in shown_NxT:
    steps = np.flatnonzero(row)
    assert len(steps) == 4 and steps[1] - steps[0] == 1 and steps[3] - steps[2] == 1
    assert steps[2] - steps[1] == distance + 1
  frames = batch["inputs"].reshape(100, 12, -1)
  mass_NxT = frames.sum(axis=2)
  for row, mass, target in zip(shown_NxT, mass_NxT, batch["targets"]):
    first, last = mass[np.flatnonzero(row)[[0, -1]]]  # area grows with the class
    assert first != last and int(first > last) == target
  assert 0.3 < batch["targets"].mean() < 0.7


def test_train_and_eval_clips_draw_on_their_own_digit_pools():
  train_images, train_labels = block_digits(10)
  eval_images = np.full((3, 28, 28), 255, np.uint8)  # the eval pool: full squares only
  task = video_task.MovingDigits(
    video_task.read_knobs(data_config(seq_len=2, frame_size=14, digit_size=14)),
    0,
    train_images,
    train_labels,
    eval_images,
    np.array([7, 7, 7], np.int32),
  )
  eval_batch = next(task.eval_batches(8))
  np.testing.assert_allclose(eval_batch["inputs"], 1.0)
  np.testing.assert_array_equal(eval_batch["targets"], 7)
  assert task.train_batch(0, 8)["inputs"].mean() < 1.0


def test_area_resize_keeps_the_mean_brightness():
  images = np.random.default_rng(0).integers(0, 256, (4, 28, 28)).astype(np.uint8)
  for size in (7, 14, 10, 28):
    small = video_task.resize_digits(images, size)
    assert small.shape == (4, size, size)
    np.testing.assert_allclose(small.mean(axis=(1, 2)), images.mean(axis=(1, 2)) / 255, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Bad input: one line naming the fix, before any digit is read


@pytest.mark.parametrize(
  "knobs, message",
  [
    (
      {"label": "direction", "seq_len": 1},
      "direction needs 2 or more frames.*raise --config.data.seq_len",
    ),
    ({"digit_size": 40}, "digit_size=40 is larger than the frame.*--config.data.digit_size"),
    ({"num_digits": 5}, "num_digits=5 do not fit in a 32x32 frame.*lower --config.data.num_digits"),
    (
      {"label": "sequence", "distance": 20},
      "sequence needs 26 frames.*raise --config.data.seq_len",
    ),
    ({"label": "sequence", "num_digits": 3}, "exactly 2 digits"),
    ({"label": "colour"}, "label='colour' is not one of"),
    ({"motion": "spin"}, "motion='spin' is not one of"),
    ({"label": "direction", "digit_size": 28}, "4 pixels to move, less than the 6 of its first"),
    ({"seq_len": 0}, "seq_len=0 must be an integer >= 1"),
  ],
)
def test_bad_settings_are_one_line_config_errors(knobs, message):
  with pytest.raises(ConfigError, match=message) as error:
    video_task.read_knobs(data_config(**knobs))
  assert "\n" not in str(error.value)


def test_a_missing_mnist_path_names_the_fix(tmp_path):
  config = data_config(train_path=str(tmp_path / "nowhere"))
  with pytest.raises(ConfigError, match="does not exist; point it at the MNIST IDX folder"):
    tasks.build("moving_mnist", config, 0)


def test_model_settings_that_do_not_meet_the_clips_are_config_errors():
  clips = TaskSpec("classify", 8, 4, input_dim=36, frame_shape=(6, 6))
  tokens = TaskSpec("classify", 2, 4, vocab_size=5)
  arch = default.get_config().arch
  cases = [
    ("lstm", {"frame_encoder": "cnn2d"}, tokens, "has no frame_shape; use a video task"),
    ("cnn3d", {}, tokens, "model cnn3d reads clips"),
    ("cnn3d", {"frame_encoder": "mlp"}, clips, "set --config.arch.frame_encoder=none"),
    ("lstm", {"frame_encoder": "cnn2d"}, clips, "sides divide by 8, not 6x6"),
    ("lstm", {"frame_encoder": "cnn2d", "frame_pool": "sum"}, clips, "frame_pool='sum'"),
    ("lstm", {"frame_encoder": "rgb"}, clips, "frame_encoder='rgb' is not one of"),
  ]
  for name, overrides, spec, message in cases:
    bad = ml_collections.ConfigDict(arch.to_dict())
    bad.update(overrides)
    with pytest.raises(ConfigError, match=message):
      models.build_model(name, bad, spec)


# ---------------------------------------------------------------------------------------------
# Models: any sequence model after any frame encoder; padding never changes an output

TINY = {"frame_filters": (3, 4), "frame_dim": 6, "hidden": 8, "frame_mlp_layers": 1}
COMBOS = [
  ("lstm", "cnn2d"),
  ("bag", "cnn2d"),
  ("tcn", "cnn2d"),
  ("transformer", "cnn2d"),
  ("lstm", "mlp"),
  ("cnn3d", "none"),
]


def tiny_model(name, frame_encoder, frame_pool="flatten", conv_impl="xla"):
  arch = default.get_config().arch
  arch.update(TINY, frame_encoder=frame_encoder, frame_pool=frame_pool, conv_impl=conv_impl)
  arch.update(num_heads=2, tcn_levels=2, dropout=0.0)
  spec = TaskSpec("classify", 3, 6, input_dim=64, frame_shape=(8, 8))
  return models.build_model(name, arch, spec)


@pytest.mark.slow
@pytest.mark.parametrize("name, frame_encoder", COMBOS)
def test_padding_never_changes_a_clips_output(name, frame_encoder):
  model = tiny_model(name, frame_encoder)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.random((2, 6, 64)), jnp.float32)
  lengths = jnp.array([6, 4])
  params = jax.jit(model.init)(jax.random.PRNGKey(0), x, lengths)
  garbage = x.at[1, 4:].set(5.0)  # padded frames of the short clip hold anything

  @jax.jit
  def both():  # one compile
    return model.apply(params, garbage, lengths), model.apply(params, x[1:, :4], lengths[1:])

  (batched, aux), (alone, _) = both()
  np.testing.assert_allclose(batched[1], alone[0], rtol=1e-5, atol=1e-5)
  if frame_encoder == "cnn2d":
    assert aux["frame_maps"].shape == (2, 6, 2, 2, 4)
    np.testing.assert_array_equal(aux["frame_features"][1, 4:], 0.0)


@pytest.mark.slow
def test_frame_encoder_conv_forms_and_global_pools_give_the_same_model():
  x = jnp.asarray(np.random.default_rng(1).random((2, 6, 64)), jnp.float32)
  lengths = jnp.array([6, 3])
  for pool in ("flatten", "max"):
    outs = []
    for impl in conv2d.IMPLS:
      model = tiny_model("lstm", "cnn2d", pool, impl)
      params = jax.jit(model.init)(jax.random.PRNGKey(0), x, lengths)
      outs.append(jax.jit(model.apply)(params, x, lengths)[0])
    for out in outs[1:]:
      np.testing.assert_allclose(out, outs[0], rtol=1e-5, atol=1e-5)


def test_frame_cnn_core_is_the_shell_applied_to_one_frame():
  module = frames.FrameCNN((3, 4), 6, "mean")
  x = jnp.asarray(np.random.default_rng(2).random((2, 3, 8, 8)), jnp.float32)
  variables = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)
  variables = jax.tree.map(lambda v: jnp.full(v.shape, 0.1, v.dtype), variables)
  p = variables["params"]
  params = {
    "convs": [(p[f"conv{i}_kernel"], p[f"conv{i}_bias"]) for i in range(2)],
    "out": (p["out_w"], p["out_b"]),
  }

  @jax.jit
  def both():  # one compile
    return module.apply(variables, x), frames.frame_cnn(params, x[1, 2], pool="mean")

  (f_BxTxD, aux), (one, maps) = both()
  np.testing.assert_allclose(f_BxTxD[1, 2], one, rtol=1e-6)
  np.testing.assert_allclose(aux["frame_maps"][1, 2], maps, rtol=1e-6)


@pytest.mark.slow
def test_video_presets_have_pinned_and_matched_parameter_counts():
  expected = {
    "mean": 73038,
    "lstm": 72264,
    "tcn": 73808,
    "transformer": 72688,
    "cnn3d": 75216,
    "mlp_lstm": 70962,
  }
  spec = TaskSpec("classify", 8, 16, input_dim=1024, frame_shape=(32, 32))
  counts = {}
  for preset in video.PRESETS:
    config = video.get_config(f"{preset},direction")
    counts[preset] = models.parameter_counts(models.build_model(config.model, config.arch, spec))[0]
  assert counts == expected
  assert max(counts.values()) / min(counts.values()) < 1.1


# ---------------------------------------------------------------------------------------------
# End to end through the trainer, on IDX files written here


def write_idx(path, array):
  header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
  path.write_bytes(gzip.compress(header + array.tobytes()))


@pytest.mark.slow
def test_moving_mnist_trains_from_idx_files(tmp_path):
  for prefix, n in (("train", 30), ("t10k", 10)):
    images, labels = block_digits(n)
    write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
  config = video.get_config("lstm,direction")
  config.arch.update(TINY)
  config.data.update(train_path=str(tmp_path), seq_len=4, frame_size=16, digit_size=8, eval_size=6)
  config.batch_size, config.train_steps = 4, 2
  config.log_every = config.eval_every = config.checkpoint_every = 2
  metrics = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert 0.0 <= metrics["accuracy"] <= 1.0 and np.isfinite(metrics["loss"])
  # the film strip of the trained run (what experiments/visualize_video draws)
  restored, state = train.restore(str(tmp_path / "run"))
  task = tasks.build(restored.task, restored.data, restored.seed)
  out = viz_video.clip_readout(restored, state.params, task, num_clips=2)
  assert out["frames"].shape == (2, 4, 16, 16) and out["hidden"].shape == (2, 4, 8)
  fig = viz_video.film_strip_figure(out["frames"][0], out["frame_maps"][0], out["hidden"][0], "x")
  fig.savefig(tmp_path / "strip.png")
  assert (tmp_path / "strip.png").stat().st_size > 1000
  # what experiments/video_cost measures
  (row,) = bench.video_step_costs({"tiny": config}, repeats=1)
  assert row["seq_len"] == 4 and row["train_ms_per_clip"] > 0 and row["peak_mb"] > 0
  assert 0 < row["generate_over_train"]


@pytest.mark.slow
def test_the_benchmark_times_every_conv2d_form():
  found = cases.conv2d_cases("targets", "vmap_shifted", B=2, S=4, C=1, F=2)
  assert [c.mode for c in found] == ["fwd", "fwd+bwd"]
  assert all(c.family == "conv2d" and c.dims["S"] == 4 for c in found)
