"""Sequence to sequence: tasks, the TSV reader, the encoder-decoders, decoding and its scores."""

from __future__ import annotations

import itertools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cnnrnn_jax import decoding, models, seq2seq, tasks
from cnnrnn_jax.configs import seq2seq as configs
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.metrics import seed_summary
from cnnrnn_jax.report import seq2seq_tables
from cnnrnn_jax.tasks import seq2seq as s2s_tasks
from cnnrnn_jax.tasks.base import TaskSpec, model_args

CMUDICT = """\
;;; a comment line would be a word here; cmudict has none
abc EY1 B IY1 S IY1
abc(2) AE1 B K
read R IY1 D
read(2) R EH1 D
the DH AH0 # a comment
the(2) DH IY0
zoo Z UW1
"""


def _data(**kw) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"seq_len": None, "vocab_size": None, "eval_size": None, **kw})


def test_read_cmudict_alternatives_comments_and_stress(tmp_path):
  path = tmp_path / "cmudict.dict"
  path.write_text(CMUDICT.split("\n", 1)[1])
  entries = s2s_tasks.read_cmudict(str(path))
  assert entries["abc"] == [["EY1", "B", "IY1", "S", "IY1"], ["AE1", "B", "K"]]
  assert entries["the"] == [["DH", "AH0"], ["DH", "IY0"]]
  plain = s2s_tasks.read_cmudict(str(path), stress=False)
  assert plain["read"] == [["R", "IY", "D"], ["R", "EH", "D"]]


def test_word_split_is_seeded_disjoint_and_keeps_a_word_whole():
  words = [f"w{i}" for i in range(200)]
  split = s2s_tasks.split_words(words, 0)
  assert split == s2s_tasks.split_words(list(reversed(words)), 0)
  assert sorted(sum(split.values(), [])) == sorted(words)
  assert (len(split["test"]), len(split["validation"])) == (20, 10)


def test_batches_teacher_force_and_weight_the_eos():
  src, tgt = (
    s2s_tasks.Vocab(s2s_tasks.SOURCE_SPECIALS, "abc"),
    s2s_tasks.Vocab(s2s_tasks.TARGET_SPECIALS, "xy"),
  )
  batch = s2s_tasks.encode_pairs([(list("ab"), list("xyx")), (list("c"), [])], src, tgt, 5)
  ids = [tgt.stoi[t] for t in "xyx"]
  assert batch["decoder_inputs"][0].tolist() == [s2s_tasks.BOS] + ids + [0]
  assert batch["targets"][0].tolist() == ids + [s2s_tasks.EOS, 0]
  assert batch["weights"][0].tolist() == [1, 1, 1, 1, 0]
  assert batch["targets"][1].tolist() == [s2s_tasks.EOS, 0, 0, 0, 0]
  assert batch["lengths"].tolist() == [2, 1]
  assert len(model_args(batch)) == 3


@pytest.mark.parametrize("name", ["reverse", "sort", "addition"])
def test_transductions_are_right_and_obey_the_length_knob(name):
  task = tasks.build(name, _data(seq_len=4, eval_size=50, eval_len=7), 3)
  rng = np.random.default_rng(0)
  for _ in range(50):
    src, tgt = task.make(rng, int(rng.integers(1, 5)), False)
    want = {
      "reverse": lambda s: s[::-1],
      "sort": sorted,
      "addition": lambda s: list(str(eval("".join(s)))),
    }[name](src)
    assert tgt == want
  train = task.train_batch(0, 32)
  assert train["inputs"].shape[1] == task.width(4)
  (evaluation,) = list(task.eval_batches(64))
  assert evaluation["lengths"][:50].tolist() == [2 * 7 + 1 if name == "addition" else 7] * 50
  sources, refs = task.references()
  assert len(sources) == 50 and all(len(r) == 1 for r in refs)


def test_cmudict_task_groups_pronunciations_for_scoring(tmp_path):
  path = tmp_path / "cmudict.dict"
  words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}q" for i in range(60)]
  lines = [f"{w} K AE1 T" for w in words] + [f"{w}(2) K AA1 T" for w in words[:30]]
  path.write_text("\n".join(lines) + "\n")
  task = tasks.build("cmudict", _data(train_path=str(path), eval_split="test", stress=True), 0)
  assert task.spec.kind == "seq2seq" and task.stressed_phones
  sources, refs = task.references()
  assert len(sources) == 6  # 10% of 60 words
  for src, options in zip(sources, refs):
    assert len(options) == (2 if "".join(src) in words[:30] else 1)
  train_words = {"".join(s) for s, _ in task.train}
  assert not train_words & {"".join(s) for s in sources}


def _tsv(tmp_path, body: str) -> str:
  path = tmp_path / "pairs.tsv"
  path.write_bytes(body.encode())
  return str(path)


@pytest.mark.parametrize(
  "body, problem",
  [
    ("ab\tx y\nno tab here\n", "pairs.tsv:2: expected source<TAB>target, found 1 field(s)"),
    ("ab\tx\n\nc\td\te\n", "pairs.tsv:3: expected source<TAB>target, found 3 field(s)"),
    ("ab\tx\r\n \tx\r\n", "pairs.tsv:2: empty source"),
    ("ab\t\n", "pairs.tsv:1: empty target"),
  ],
)
def test_parallel_tsv_names_the_bad_row(tmp_path, body, problem):
  path = _tsv(tmp_path, body)
  with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
    tasks.build("parallel_tsv", _data(train_path=path, skip_bad_rows=False), 0)


def test_parallel_tsv_levels_split_and_skipping(tmp_path):
  rows = [f"w{i} a\tx{i % 3} y" for i in range(20)] + ["broken"]
  path = _tsv(tmp_path, "\n".join(rows) + "\n")
  task = tasks.build(
    "parallel_tsv", _data(train_path=path, level="word", skip_bad_rows=True, eval_fraction=0.25), 1
  )
  assert (len(task.train), len(task.evaluation)) == (15, 5)
  assert all(len(t) == 2 and t[1] == "y" for _, t in task.train)
  chars = tasks.build("parallel_tsv", _data(train_path=path, skip_bad_rows=True), 1)
  assert chars.train[0][0][:1] == ["w"]


def test_error_rates_score_against_the_closest_reference():
  refs = [[["K", "AE1", "T"], ["K", "AA1", "T"]], [["D", "AO1", "G"]]]
  hyps = [["K", "AA1", "T"], ["D", "AO0", "G", "Z"]]
  out = decoding.score(hyps, refs, phones=True)
  assert out["wer"] == 0.5 and out["per"] == pytest.approx(2 / 6)
  assert out["wer_nostress"] == 0.5 and out["per_nostress"] == pytest.approx(1 / 6)
  assert decoding.edit_distance("kitten", "sitting") == 3


G2P_VOCABS = (31, 72)  # source and target vocabulary of cmudict with stress


def _counts(task: str) -> dict[str, int]:
  out = {}
  for name in configs.MODELS:
    config = configs.get_config(f"{name},{task}")
    spec = TaskSpec("seq2seq", G2P_VOCABS[1], 16, vocab_size=G2P_VOCABS[0], target_len=16)
    model = models.build_model(config.model, config.arch, spec)
    x = jnp.zeros((1, 16), jnp.int32)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, jnp.ones(1, jnp.int32), x)
    out[name] = models.count_params(shapes["params"])
  return out


@pytest.mark.slow
@pytest.mark.parametrize("task", ["g2p", "g2p_large", "reverse"])
def test_presets_match_parameters_within_ten_percent(task):
  counts = _counts(task)
  assert max(counts.values()) <= 1.1 * min(counts.values()), counts
  pinned = {  # the docs' params columns
    "g2p": {"lstm": 1_279_944, "gru": 1_280_522, "convs2s": 1_366_520, "transformer": 1_317_608},
    "g2p_large": {
      "lstm": 2_650_568,
      "gru": 2_692_586,
      "convs2s": 2_714_440,
      "transformer": 2_696_040,
    },
  }
  if task in pinned:
    assert counts == pinned[task]


def test_g2p_tables_read_each_size_from_its_own_run_folders(tmp_path):
  run = tmp_path / "lstm_g2p_large"
  (run / "seed_0").mkdir(parents=True)
  scores = {"per": 0.08, "wer": 0.3, "wer_nostress": 0.25, "decode_ms_per_seq": 2.0}
  scores.update(params=2_650_568.0, train_pairs=1536.0)
  decoded = {key: seed_summary({0: scores}) for key in ("beam1", "beam5")}
  (run / "decode_seeds.json").write_text(json.dumps(decoded))
  (run / "seed_0" / "config.json").write_text(json.dumps({"batch_size": 128}))
  records = [{"split": "train", "step": 100 * i, "steps_per_sec": r} for i, r in [(1, 1), (2, 4)]]
  (run / "seed_0" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
  large = seq2seq_tables.g2p_table(str(tmp_path), "g2p_large").splitlines()
  lstm = next(line for line in large if line.startswith("| seq2seq_lstm "))
  # 1536 pairs / 128 per step at 4 steps/s: 3 s per epoch (the first window is skipped)
  params, *errors, epoch, ms_per_word = lstm.split(" | ")[1:10]
  assert (params, epoch, ms_per_word) == ("2.65M", "3", "2.00 (1)")
  assert errors == ["8.0 (1)", "30.0 (1)", "8.0 (1)", "30.0 (1)", "25.0 (1)", "25.0 (1)"]
  assert all(seq2seq_tables.NOT_RUN in line for line in large if line.startswith("| convs2s "))
  small = seq2seq_tables.g2p_table(str(tmp_path), "g2p")
  assert "2.65M" not in small


def test_a_variant_is_its_preset_with_its_changes_and_has_its_own_table(tmp_path):
  preset, changes = configs.VARIANTS["lstm_g2p_large_enc2"]
  variant, base = configs.get_config("lstm_g2p_large_enc2"), configs.get_config(preset)
  assert (variant.arch.hidden, variant.arch.encoder_layers, variant.train_steps) == (320, 2, 12000)
  assert base.arch.encoder_layers == 1 and base.arch.hidden != 320
  variant.arch.update(hidden=base.arch.hidden, encoder_layers=1)
  variant.train_steps = base.train_steps
  assert variant == base  # nothing else changed
  with pytest.raises(ValueError, match="or one of \\['lstm_g2p_drop03'"):
    configs.get_config("lstm_g2p_enc3")

  run = tmp_path / "lstm_g2p_enc2"
  run.mkdir()
  scores = {"per": 0.081, "wer": 0.315, "wer_nostress": 0.26, "params": 1_674_184.0}
  decoded = {key: seed_summary({0: scores}) for key in ("beam1", "beam5")}
  (run / "decode_seeds.json").write_text(json.dumps(decoded))
  rows = seq2seq_tables.g2p_variants_table(str(tmp_path)).splitlines()[2:]
  assert [row.split(" | ")[0] for row in rows] == [f"| {name}" for name in configs.VARIANTS]
  enc2 = next(row for row in rows if row.startswith("| lstm_g2p_enc2 "))
  assert enc2.split(" | ")[1:] == [
    "lstm,g2p with train_steps=20000, arch.encoder_layers=2",
    "1.67M",
    *["8.1 (1)", "31.5 (1)"] * 2,
    "26.0 (1) |",
  ]
  assert all(seq2seq_tables.NOT_RUN in row for row in rows if row != enc2)


def test_seq2seq_models_and_tasks_refuse_each_other():
  config = configs.get_config("lstm,reverse")
  classify = TaskSpec("classify", 2, 8, vocab_size=5)
  with pytest.raises(ConfigError, match="encoder-decoder for sequence-to-sequence tasks"):
    models.build_model("seq2seq_lstm", config.arch, classify)
  spec = TaskSpec("seq2seq", 7, 8, vocab_size=5, target_len=8)
  with pytest.raises(ConfigError, match="task kind seq2seq needs an encoder-decoder"):
    models.build_model("lstm", config.arch, spec)
  config.arch.attention_score = "cosine"
  with pytest.raises(ConfigError, match="attention_score='cosine' is not one of"):
    models.build_model("seq2seq_lstm", config.arch, spec)
  config.arch.update(attention_score="additive", encoder_layers=0)
  with pytest.raises(ConfigError, match="encoder_layers=0 must be positive"):
    models.build_model("seq2seq_lstm", config.arch, spec)


# ---------------------------------------------------------------------------------------------
# The models: tiny, one of each family

V_SRC, V_TGT = 6, 5  # target: PAD, BOS, EOS and two symbols
TINY = {
  "seq2seq_lstm": lambda: seq2seq.RNNSeq2Seq(
    V_SRC, V_TGT, "lstm", 8, 12, True, "additive", 0.0, encoder_layers=2
  ),
  "seq2seq_gru": lambda: seq2seq.RNNSeq2Seq(V_SRC, V_TGT, "gru", 8, 12, False, "dot", 0.0, "scan"),
  "convs2s": lambda: seq2seq.ConvS2S(V_SRC, V_TGT, 8, 12, 2, 3, 0.0),
  "transformer_s2s": lambda: seq2seq.TransformerS2S(V_SRC, V_TGT, 8, 12, 2, 2, 16, 0.0),
}


def _init(model, B=3, S=5, T=4, seed=0, init=True):
  rng = np.random.default_rng(seed)
  src = jnp.asarray(rng.integers(2, V_SRC, (B, S)), jnp.int32)
  lengths = jnp.asarray([S, 3, 1][:B], jnp.int32)
  dec = jnp.asarray(rng.integers(1, V_TGT, (B, T)), jnp.int32)
  variables = jax.jit(model.init)(jax.random.PRNGKey(seed), src, lengths, dec) if init else None
  return variables, src, lengths, dec  # variables: params and the perturbations (zeros)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_decoder_is_causal_by_gradients(name):
  model = TINY[name]()
  variables, src, lengths, dec = _init(model)
  perturbations = jax.tree.map(jnp.zeros_like, variables["perturbations"])

  def logits(p):
    out, _ = model.apply({"params": variables["params"], "perturbations": p}, src, lengths, dec)
    return out

  # d logits[b, t, v] / d decoder input embedding [b', s, e], every t and s at once
  jac = np.asarray(jax.jit(jax.jacrev(logits))(perturbations)["target_embedding"])
  per_step_TxS = np.abs(jac).sum(axis=(0, 2, 3, 5))
  T = dec.shape[1]
  later_TxS = np.arange(T)[None, :] > np.arange(T)[:, None]
  assert np.all(per_step_TxS[later_TxS] == 0.0), per_step_TxS  # never a later input
  assert np.all(np.diag(per_step_TxS) > 0.0)  # always its own (the previous target)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_source_padding_changes_nothing(name):
  model = TINY[name]()
  variables, src, lengths, dec = _init(model)
  junk = jnp.where(jnp.arange(5)[None] < lengths[:, None], src, 4)  # junk past each length
  longer = jnp.concatenate([junk, jnp.full((3, 3), 5, jnp.int32)], axis=1)

  @jax.jit
  def both():  # one compile
    return model.apply(variables, src, lengths, dec), model.apply(variables, longer, lengths, dec)

  (logits, _), (logits_longer, aux) = both()
  np.testing.assert_allclose(logits, logits_longer, atol=1e-5)
  weights_BxTxS = np.asarray(aux["attention"])
  assert np.all(weights_BxTxS[2, :, 1:] < 1e-6)  # a one-step source: all attention on step 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_greedy_decoding_scores_what_teacher_forcing_scores(name):
  model = TINY[name]()
  variables, src, lengths, _ = _init(model)
  tokens_BxT, logp_B = decoding.make_decoder(model, max_len=4)(variables["params"], src, lengths)
  dec = jnp.concatenate([jnp.ones((3, 1), jnp.int32), tokens_BxT[:, :-1]], axis=1)
  logits, _ = jax.jit(model.apply)({"params": variables["params"]}, src, lengths, dec)
  lp_BxTxV = decoding.log_probs(logits.reshape(-1, V_TGT)).reshape(logits.shape)
  picked = jnp.take_along_axis(lp_BxTxV, tokens_BxT[..., None], axis=-1)[..., 0]
  np.testing.assert_allclose(jnp.sum(jnp.where(tokens_BxT > 0, picked, 0.0), 1), logp_B, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_bfloat16_stays_near_float32_and_decodes_with_float32_scores(name):
  model = TINY[name]()
  model16 = model.clone(dtype="bfloat16")
  _, src, lengths, dec = _init(model, init=False)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), src, lengths, dec)["params"]
  logits32, aux32 = jax.jit(model.apply)({"params": params}, src, lengths, dec)
  logits16, aux16 = jax.jit(model16.apply)({"params": params}, src, lengths, dec)
  assert logits16.dtype == aux16["attention"].dtype == jnp.float32
  scale = float(jnp.max(jnp.abs(logits32)))  # bfloat16 keeps 8 bits: 3% is ~8 of its steps
  assert float(jnp.max(jnp.abs(logits16 - logits32))) <= 0.03 * scale
  np.testing.assert_allclose(aux16["attention"], aux32["attention"], atol=0.02)
  tokens_BxT, logp_B = decoding.make_decoder(model16, max_len=4)(params, src, lengths)
  # a while_loop's carry keeps its dtype: the scores are summed in float32 throughout (beam
  # search in bfloat16: the gru family's end-to-end test)
  assert logp_B.dtype == jnp.float32 and np.all(np.isfinite(logp_B)) and np.all(logp_B <= 0.0)
  assert np.all((tokens_BxT != s2s_tasks.BOS) & (tokens_BxT < V_TGT))


def _brute_force(model, variables, src, lengths, max_len):
  """The best complete hypothesis (EOS within max_len, or max_len symbols) of each row."""
  symbols = range(3, V_TGT)
  candidates = [
    list(y) + [s2s_tasks.EOS] for n in range(max_len) for y in itertools.product(symbols, repeat=n)
  ]
  candidates += [list(y) for y in itertools.product(symbols, repeat=max_len)]
  out = tokens = jnp.asarray([c + [0] * (max_len - len(c)) for c in candidates], jnp.int32)
  best, apply = [], jax.jit(model.apply)  # one compile for every row
  for b in range(src.shape[0]):
    n = len(candidates)
    dec = jnp.concatenate([jnp.ones((n, 1), jnp.int32), tokens[:, :-1]], axis=1)
    logits, _ = apply(
      {"params": variables["params"]},
      jnp.repeat(src[b : b + 1], n, 0),
      jnp.repeat(lengths[b : b + 1], n, 0),
      dec,
    )
    lp = decoding.log_probs(logits.reshape(-1, V_TGT)).reshape(logits.shape)
    picked = jnp.take_along_axis(lp, tokens[..., None], axis=-1)[..., 0]
    scores = jnp.sum(jnp.where(tokens > 0, picked, 0.0), axis=1)
    best.append((out[int(jnp.argmax(scores))], float(jnp.max(scores))))
  return best


@pytest.mark.slow
def test_beam_search_finds_the_brute_force_best_and_beam_one_is_greedy():
  model = TINY["seq2seq_lstm"]()
  variables, src, lengths, _ = _init(model, seed=4)
  params = variables["params"]
  greedy_tokens, greedy_logp = decoding.make_decoder(model, 3)(params, src, lengths)
  one_tokens, one_logp = decoding.make_decoder(model, 3, beam=1)(params, src, lengths)
  np.testing.assert_array_equal(one_tokens, greedy_tokens)
  wide_tokens, wide_logp = decoding.make_decoder(model, 3, beam=16)(params, src, lengths)
  for b, (tokens, logp) in enumerate(_brute_force(model, variables, src, lengths, 3)):
    np.testing.assert_array_equal(wide_tokens[b], tokens)
    assert float(wide_logp[b]) == pytest.approx(logp, abs=1e-5)
  assert np.all(np.asarray(wide_logp) >= np.asarray(greedy_logp) - 1e-6)


@pytest.mark.slow
def test_beam_never_scores_below_greedy_on_a_fixed_tiny_model():
  model = TINY["transformer_s2s"]()
  variables, _, _, _ = _init(model, seed=1)
  rng = np.random.default_rng(5)
  src = jnp.asarray(rng.integers(2, V_SRC, (16, 5)), jnp.int32)
  lengths = jnp.asarray(rng.integers(1, 6, 16), jnp.int32)
  _, greedy_logp = decoding.make_decoder(model, 6)(variables["params"], src, lengths)
  _, beam_logp = decoding.make_decoder(model, 6, beam=5)(variables["params"], src, lengths)
  assert np.all(np.asarray(beam_logp) >= np.asarray(greedy_logp) - 1e-5)


# The trainer and decode_run are the same code for every family; each family's own train step
# runs in tests/test_accelerators.py and its decoding in the tests above. Two families go
# through the whole path: a recurrent one in bfloat16 (decode_run restores the dtype, beam 2)
# and a convolutional one in float32 (greedy).
@pytest.mark.slow
@pytest.mark.parametrize("name,dtype", [("gru", "bfloat16"), ("convs2s", "float32")])
def test_the_trainer_trains_and_decode_run_decodes_a_transduction(tmp_path, name, dtype):
  from cnnrnn_jax import train

  config = configs.get_config(f"{name},reverse")
  config.dtype = dtype
  config.data.update({"seq_len": 4, "eval_size": 16})
  config.update({"batch_size": 8, "train_steps": 2, "eval_every": 2, "checkpoint_every": 1})
  config.arch.update({"hidden": 16, "embed_dim": 8, "num_layers": 1})
  run = tmp_path / "seeds" / "seed_0"
  metrics = train.train_and_evaluate(config, str(run))
  assert np.isfinite(metrics["loss"])
  beam = 2 if dtype == "bfloat16" else 1  # beam search itself: the brute-force test
  results = decoding.decode_run(str(run), beams=(beam,), eval_lens=(6,))
  assert set(results) == {f"beam{beam}_len6"}
  with open(os.path.join(run, decoding.RESULTS)) as f:
    assert 0.0 <= json.load(f)[f"beam{beam}_len6"]["seq_accuracy"] <= 1.0
  with pytest.raises(ConfigError, match="only cmudict has other splits"):
    decoding.decode_run(str(run), eval_split="validation")

  # a second seed killed after step 1 of 2: not decoded, and not in the seeds' summary
  unfinished = tmp_path / "seeds" / "seed_1"
  shutil.copytree(run, unfinished)
  shutil.rmtree(unfinished / "checkpoints" / "2")
  with pytest.raises(decoding.UnfinishedRun, match="seed_1 is at step 1 of 2: finish its"):
    decoding.decode_run(str(unfinished), beams=(1,))
  (tmp_path / "seeds" / "seed_2" / "checkpoints").mkdir(parents=True)  # just started
  summary = decoding.decode_seeds(str(tmp_path / "seeds"), beams=(1,))
  assert summary["beam1"]["seq_accuracy"]["seeds"] == [0]


def test_result_keys_name_every_decoding_setting():
  """What a decode is stored under in decode.json, next to the plain beam5 / beam1_len40."""
  assert decoding.result_key(5, None, 3, "validation") == "beam5_avg3_validation"
  assert decoding.result_key(1, 40, 1, None) == "beam1_len40"
  assert decoding.result_key(5, alpha=0.6) == "beam5_alpha0.6"
  assert decoding.result_key(1, alpha=0.6) == "beam1"  # greedy search ranks nothing


@pytest.mark.slow
def test_attention_picture_of_one_source():
  from cnnrnn_jax.viz import seq2seq as viz_seq2seq

  task = tasks.build("reverse", _data(seq_len=4, eval_size=4), 0)
  config = configs.get_config("lstm,reverse")
  config.arch.update({"hidden": 8, "embed_dim": 4})
  model = models.build_model(config.model, config.arch, task.spec)
  batch = task.train_batch(0, 2)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), *model_args(batch))["params"]
  src, out, weights_TxS = viz_seq2seq.attention_of(model, params, task, list("abc"))
  assert src == list("abc") and out[-1] == "</s>"
  assert weights_TxS.shape == (len(out), 3)
  np.testing.assert_allclose(weights_TxS.sum(axis=1), 1.0, atol=1e-5)
  fig = viz_seq2seq.attention_figure([("lstm", src, out, weights_TxS)])
  assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "source (spelling)"
  fig = viz_seq2seq.attention_figure([("lstm", src, out, weights_TxS)] * 2, "in", "out")
  assert [ax.get_xlabel() for ax in fig.axes] == ["in", "in"]
  assert fig.axes[0].get_ylabel() == "out"
