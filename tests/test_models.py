"""Models: padding never changes an output, pinned sizes, aux contents, registry errors."""

import jax
import numpy as np
import pytest
from tiers import fast_tier

from cnnrnn_jax import models, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks.base import TaskSpec

FOUNDATION = ["bag", "cnn", "cnn_lstm", "gru", "lstm", "rnn"]
SPECS = {
  "classify": TaskSpec("classify", num_outputs=3, seq_len=12, vocab_size=20),
  "regress": TaskSpec("regress", num_outputs=1, seq_len=12, input_dim=2, metric="mse"),
  "per_step": TaskSpec("per_step", num_outputs=4, seq_len=12, vocab_size=20),
  "lm": TaskSpec("lm", num_outputs=20, seq_len=12, vocab_size=20),
}
# The fast tier (-m "not slow") checks the hybrid (a convolution and a recurrence) on one kind
# and the LSTM on another; the full suite checks every pair.
FAST_CELLS = {("cnn_lstm", "per_step"), ("lstm", "classify")}


def _arch(**overrides):
  arch = default.get_config().arch
  arch.update({"embed_dim": 8, "hidden": 6, "num_filters": 5, **overrides})
  return arch


def _inputs(spec, B=3, L=12, seed=0):
  rng = np.random.default_rng(seed)
  lengths = np.array([L, 7, 4][:B], np.int32)
  if spec.vocab_size:
    x = rng.integers(1, spec.vocab_size, (B, L)).astype(np.int32)
    x[np.arange(L)[None, :] >= lengths[:, None]] = 0
  else:
    x = rng.normal(size=(B, L, spec.input_dim)).astype(np.float32)
    x[np.arange(L)[None, :] >= lengths[:, None]] = 0.0
  return x, lengths


def _build(name, spec, **arch):
  model = models.build_model(name, _arch(**arch), spec)
  x, lengths = _inputs(spec)
  params = model.init(jax.random.PRNGKey(0), x, lengths)
  return model, params, x, lengths


@pytest.mark.parametrize(
  "name,kind", fast_tier([(n, k) for n in FOUNDATION for k in sorted(SPECS)], FAST_CELLS)
)
def test_appending_padding_changes_no_output(name, kind):
  spec = SPECS[kind]
  model, params, x, lengths = _build(name, spec)
  out, _ = model.apply(params, x, lengths)
  pad = [(0, 0), (0, 5)] + [(0, 0)] * (x.ndim - 2)
  out_padded, _ = model.apply(params, np.pad(x, pad), lengths)
  expected_shape = {"classify": (3, 3), "regress": (3,), "per_step": (3, 12, 4), "lm": (3, 12, 20)}[
    kind
  ]
  assert out.shape == expected_shape
  if spec.per_step:
    valid = np.arange(12)[None, :] < lengths[:, None]
    np.testing.assert_allclose(
      np.asarray(out)[valid], np.asarray(out_padded)[:, :12][valid], rtol=1e-5, atol=1e-5
    )
  else:
    np.testing.assert_allclose(out, out_padded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
  "name",
  [
    pytest.param("rnn", marks=pytest.mark.slow),
    pytest.param("lstm", marks=pytest.mark.slow),
    "gru",
  ],
)
def test_bidirectional_and_pooled_readouts_are_padding_invariant(name):
  spec = SPECS["classify"]
  for readout in models.READOUTS:
    model, params, x, lengths = _build(name, spec, bidirectional=True, readout=readout)
    out, _ = model.apply(params, x, lengths)
    out_padded, _ = model.apply(params, np.pad(x, [(0, 0), (0, 4)]), lengths)
    np.testing.assert_allclose(out, out_padded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
  "name",
  fast_tier([(n,) for n in ["cnn", "cnn_lstm", "rnn", "lstm", "gru", "bag"]], {("cnn_lstm",)}),
)
def test_language_models_are_causal(name):
  spec = SPECS["lm"]
  model, params, x, lengths = _build(name, spec)
  t = 5

  def logits_at_t(embedding):
    p = jax.tree.map(lambda a: a, params)
    p["params"]["embed"]["embedding"] = embedding
    return model.apply(p, x, lengths)[0][0, t].sum()

  grad = jax.grad(logits_at_t)(params["params"]["embed"]["embedding"])
  future_tokens = set(x[0, t + 1 :].tolist()) - set(x[0, : t + 1].tolist())
  assert future_tokens, "the test sequence needs tokens that occur only after t"
  for token in future_tokens:
    assert np.all(np.asarray(grad[token]) == 0.0), f"token {token} after t leaks into t"


# Pinned parameter counts (embed 8, hidden 6, 5 filters, widths 3/4/5, 3 classes, vocab 20).
PINNED = {"bag": 235, "cnn": 703, "cnn_lstm": 594, "gru": 469, "lstm": 541, "rnn": 271}


@pytest.mark.parametrize("name", FOUNDATION)
def test_pinned_parameter_counts(name):
  _, params, _, _ = _build(name, SPECS["classify"])
  assert train.count_params(params) == PINNED[name]


def test_pinned_counts_add_up_by_hand():
  embed, head = 20 * 8, 6 * 3 + 3
  assert PINNED["lstm"] == embed + (8 * 24 + 6 * 24 + 24) + head
  convs = sum(k * 8 * 5 + 5 for k in (3, 4, 5))
  assert PINNED["cnn"] == embed + convs + (15 * 3 + 3)


def test_aux_holds_what_pictures_need():
  _, params, x, lengths = _build("cnn", SPECS["classify"])
  model = models.build_model("cnn", _arch(), SPECS["classify"])
  _, aux = model.apply(params, x, lengths)
  assert set(aux["feature_maps"]) == {"k3", "k4", "k5"}
  assert aux["feature_maps"]["k3"].shape == (3, 10, 5)  # valid conv: L - K + 1
  picks = np.asarray(aux["pool_argmax"]["k4"])
  assert picks.shape == (3, 5) and np.all(picks < np.maximum(lengths - 3, 1)[:, None])

  model = models.build_model("lstm", _arch(), SPECS["classify"])
  _, params, _, _ = _build("lstm", SPECS["classify"])
  _, aux = model.apply(params, x, lengths)
  assert aux["hidden"].shape == (3, 12, 6) and aux["gates"].shape == (3, 12, 3, 6)


def test_vmap_and_xla_convolutions_give_the_same_model():
  spec = SPECS["classify"]
  model_x, params, x, lengths = _build("cnn", spec, conv_impl="xla")
  model_v = models.build_model("cnn", _arch(conv_impl="vmap"), spec)
  np.testing.assert_allclose(
    model_x.apply(params, x, lengths)[0], model_v.apply(params, x, lengths)[0], rtol=1e-5, atol=1e-5
  )


@pytest.mark.parametrize(
  "name,arch,spec,message",
  [
    ("transformerz", {}, "classify", r"unknown model 'transformerz'; known models: bag, cnn"),
    (
      "cnn",
      {"kernel_sizes": (3, 13)},
      "classify",
      r"filter width 13 is wider than the sequence length 12",
    ),
    ("lstm", {"hidden": 0}, "classify", r"config.arch.hidden=0 must be positive"),
    ("lstm", {"readout": "first"}, "classify", r"config.arch.readout='first' is not one of"),
    ("cnn", {"conv_impl": "fft"}, "classify", r"config.arch.conv_impl='fft' is not one of"),
    ("lstm", {"dropout": 1.0}, "classify", r"config.arch.dropout=1.0 must be in \[0, 1\)"),
    ("gru", {"bidirectional": True}, "lm", r"bidirectional model sees the future"),
  ],
)
def test_bad_model_configs_fail_with_one_line(name, arch, spec, message):
  with pytest.raises(ConfigError, match=message) as info:
    models.build_model(name, _arch(**arch), SPECS[spec])
  assert "\n" not in str(info.value)


# Greydanus 2020's position-specific baselines: logreg and mlp over the flattened input.


@pytest.mark.parametrize("kind", ["classify", "regress"])
@pytest.mark.parametrize("name", models.FLAT)
def test_flat_models_ignore_padding_content_and_length(name, kind):
  spec = SPECS[kind]
  model, params, x, lengths = _build(name, spec)
  out, _ = model.apply(params, x, lengths)
  assert out.shape == {"classify": (3, 3), "regress": (3,)}[kind]
  garbage = np.array(_inputs(spec, seed=1)[0])
  valid = np.arange(12)[None, :] < lengths[:, None]
  garbage[valid] = x[valid]  # same valid steps, random padding
  pad = [(0, 0), (0, 5)] + [(0, 0)] * (x.ndim - 2)
  for other in (garbage, np.pad(x, pad)):  # longer than seq_len: cut back to it
    np.testing.assert_allclose(out, model.apply(params, other, lengths)[0], atol=1e-6)
  short = lengths.copy()
  short[0] = 6  # a shorter bucket: zero-padded to seq_len
  np.testing.assert_allclose(
    model.apply(params, x[:, :7], short)[0], model.apply(params, x, short)[0], atol=1e-6
  )
  assert not np.allclose(out[0], model.apply(params, x, short)[0][0])  # position 11 counts


def test_flat_models_pinned_parameter_counts():
  # embed 20 x 8, flattened input 12 x 8 = 96, hidden 6, 3 classes.
  embed, flat = 20 * 8, 12 * 8
  _, params, _, _ = _build("logreg", SPECS["classify"])
  assert train.count_params(params) == embed + flat * 3 + 3 == 451
  _, params, _, _ = _build("mlp", SPECS["classify"])
  assert train.count_params(params) == embed + (flat * 6 + 6) + (6 * 6 + 6) + (6 * 3 + 3) == 805
  _, params, _, _ = _build("mlp", SPECS["classify"], mlp_layers=0)
  assert train.count_params(params) == 451  # no hidden layer: logistic regression


@pytest.mark.parametrize(
  "name,arch,spec,message",
  [
    (
      "mlp",
      {},
      "per_step",
      r"model 'mlp' maps the whole sequence to one output and has no "
      r"per-step output for a 'per_step' task; use it on a classify or regress task",
    ),
    ("logreg", {}, "lm", r"model 'logreg' maps the whole sequence .* 'lm' task"),
    ("mlp", {"mlp_layers": -1}, "classify", r"config.arch.mlp_layers=-1 must be >= 0"),
  ],
)
def test_flat_models_reject_per_step_tasks(name, arch, spec, message):
  with pytest.raises(ConfigError, match=message) as info:
    models.build_model(name, _arch(**arch), SPECS[spec])
  assert "\n" not in str(info.value)
