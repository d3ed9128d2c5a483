"""The real preset (configs/compare.py:real): its probes, its grid, its rules and one tiny run.

Stand-ins for the real files: sentences written to tmp folders (a user's clone has no
../shared/data, and no test reads it)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnrnn_jax import measure, report, suite
from cnnrnn_jax.configs import compare
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.report import real
from cnnrnn_jax.report.rows import Row
from cnnrnn_jax.tasks.base import TaskSpec

# ---------------------------------------------------------------------------------------------
# the probes


def test_within_block_shuffle_moves_steps_only_inside_their_block_and_never_padding():
  rng = np.random.default_rng(0)
  inputs = np.arange(2 * 10).reshape(2, 10) + 1
  lengths = np.array([10, 7])
  out = measure.within_block_shuffle(inputs, lengths, 4, rng)
  for row, length in enumerate(lengths):
    for start in range(0, length, 4):
      stop = min(start + 4, length)
      assert sorted(out[row, start:stop]) == sorted(inputs[row, start:stop])
    assert (out[row, length:] == inputs[row, length:]).all()  # padding stays
  assert not (out == inputs).all()
  whole = measure.within_block_shuffle(inputs, lengths, 0, rng)  # 0: the whole valid part
  assert sorted(whole[1, :7]) == sorted(inputs[1, :7]) and (whole[1, 7:] == inputs[1, 7:]).all()
  assert (measure.within_block_shuffle(inputs, lengths, 1, rng) == inputs).all()
  with pytest.raises(ConfigError, match="must be >= 0"):
    measure.within_block_shuffle(inputs, lengths, -1, rng)


class _Task:
  """Eval batches of a 2-class task whose label is 1 for inputs longer than 5 steps."""

  spec = TaskSpec(kind="classify", num_outputs=2, seq_len=8, input_dim=1)

  def eval_batches(self, batch_size):
    lengths = np.array([2, 3, 3, 4, 6, 7, 8, 8])
    for start in range(0, 8, batch_size):
      ls = lengths[start : start + batch_size]
      yield {
        "inputs": np.ones((len(ls), 8, 1), np.float32),
        "lengths": ls,
        "targets": (ls > 5).astype(np.int32),
        "weights": np.ones(len(ls), np.float32),
      }


class _Model:
  """Says 'long' (class 1) for inputs longer than 3 steps: wrong on the length-4 input."""

  @staticmethod
  def apply(variables, inputs, lengths, train=False):
    return 5.0 * jax.nn.one_hot((lengths > 3).astype(jnp.int32), 2), {}


def test_accuracy_by_length_puts_one_length_in_one_group():
  out = measure.accuracy_by_length(_Model, None, _Task(), batch_size=3, num_buckets=4)
  # quarters of the lengths 2,3,3,4,6,7,8,8 end at 3, 4, 7, 8: the two 3s share a group
  assert out["max_length"] == [3, 4, 7, 8]
  assert out["count"] == [3, 1, 2, 2]
  assert out["accuracy"] == [1.0, 0.0, 1.0, 1.0]


# ---------------------------------------------------------------------------------------------
# the grid


def _sentences(folder, n=48):
  """TSV sentence files of a two-class stand-in: "good" or "bad" somewhere in 2-8 words (one
  length bucket: each step compiles once)."""
  rng = np.random.default_rng(0)
  os.makedirs(folder, exist_ok=True)
  for split in ("train", "test"):
    with open(os.path.join(folder, f"{split}.tsv"), "w") as f:
      for i in range(n):
        words = list(rng.choice(["a", "film", "the", "plot", "is", "it"], rng.integers(1, 8)))
        words.insert(int(rng.integers(0, len(words) + 1)), ("bad", "good")[i % 2])
        f.write(f"{' '.join(words)}\t{i % 2}\n")


def _tiny_real(data_dir) -> "compare.ml_collections.ConfigDict":
  cfg = compare.get_config("real")
  cfg.real.data_dir = str(data_dir)
  cfg.real.datasets = "toy"
  toy = compare._dataset(
    "text_files", {"train_path": "toy/train.tsv", "eval_path": "toy/test.tsv"}, 600, 4, 0.9
  )
  cfg.real.sets.toy = toy
  cfg.models = "cnn,lstm"
  cfg.seeds = (0,)
  cfg.impls.conv_impl.models = ""
  cfg.impls.rnn_impl.models = ""
  cfg.stability.learning_rates = {"adamw": (3e-3,)}
  cfg.stability.clip_norms = (0.0,)
  cfg.train.batch_size = 8
  cfg.train.log_every = 2
  cfg.train.arch.embed_dim = 8
  cfg.train.arch.kernel_sizes = (3,)
  cfg.speed.batch_size = 8
  cfg.speed.repeats = 1
  cfg.gradient.batches = 3
  cfg.real.length_buckets = 2
  cfg.workers = 1
  return cfg


def test_the_real_grid_gives_each_dataset_its_probes_budget_and_files(tmp_path):
  cfg = compare.get_config("real")
  cfg.real.data_dir = str(tmp_path)
  for path in ("kim2014/stsa.binary.train", "kim2014/stsa.binary.test", "fsdd/recordings"):
    os.makedirs(os.path.dirname(tmp_path / path), exist_ok=True)
    open(tmp_path / path, "w").close()
  jobs = suite.plan(cfg)
  models = suite.resolve_models(cfg)
  for name, spec in cfg.real.sets.items():
    mine = [j.probe for j in jobs if j.setting["data"] == name]
    count = mine.count
    speed = sum(len(suite.impl_variants(cfg, m)) for m in models)
    assert count("speed") == speed and count("gradient") == len(models)
    assert count("train") == len(models) * len(cfg.seeds) == len(models) * 3
    assert count("stability") == len(models) * len(suite.stability_settings(cfg, lengths=False))
    mine = [j for j in jobs if j.setting["data"] == name]
    assert {j.extra["param_budget"] for j in mine} == {spec.param_budget}
    assert {j.config.train_steps for j in mine} == {spec.train_steps}
    assert {j.task for j in mine} == {spec.task}
  train = next(j for j in jobs if j.probe == "train" and j.setting["data"] == "sst2")
  assert train.config.data.train_path == str(tmp_path / "kim2014/stsa.binary.train")
  assert train.extra["shuffle_within"] == [2, 4, 8, 0]
  assert len({j.id for j in jobs}) == len(jobs)


def test_missing_real_data_is_refused_in_one_line_before_anything_runs(tmp_path):
  cfg = compare.get_config("real")
  cfg.real.data_dir = str(tmp_path / "nowhere")
  with pytest.raises(ConfigError) as e:
    suite.run(cfg, str(tmp_path / "work"))
  message = str(e.value)
  assert "\n" not in message and "kim2014/stsa.binary.train does not exist" in message
  assert "--config.real.data_dir" in message and "--config.real.datasets" in message
  assert not os.path.exists(tmp_path / "work" / "records.jsonl")
  cfg.real.datasets = "sst2,imagenet"
  with pytest.raises(ConfigError, match=r"\['imagenet'\] not in real.sets"):
    suite.plan(cfg)


# ---------------------------------------------------------------------------------------------
# the rules, on hand-made records


def _record(rid, probe, model, data, result, seed=0, **setting):
  return rid, {
    "id": rid, "probe": probe, "model": model, "task": "t", "setting": {"data": data, **setting},
    "seed": seed, "params": 1000, "result": result,
  }  # fmt: skip


def _hand_made(cnn_long_acc=0.9, lstm_long_acc=0.6, one_length=False):
  records = []
  for model, speed, share, long_acc, decay, converged in (
    ("cnn", 1e-4, 0.05, cnn_long_acc, -0.5, True),
    ("lstm", 4e-4, 0.6, lstm_long_acc, -3.0, False),
  ):
    timing = {"train_s_per_example": speed, "infer_s_per_example": speed / 2, "seq_len": 9}
    timing["peak_bytes_per_example"] = 1e6 * speed
    records.append(_record(f"s/{model}", "speed", model, "toy", timing))
    grad = {"data": {"decay_orders": decay}}
    records.append(_record(f"g/{model}", "gradient", model, "toy", grad))
    by_length = {"max_length": [9], "accuracy": [long_acc], "count": [100]} if one_length else {
      "max_length": [4, 9], "accuracy": [0.95, long_acc], "count": [50, 50]
    }  # fmt: skip
    for seed in (0, 1):
      shuffle = {"0": {"accuracy": 0.5, "drop_of_learnt": share}}
      result = {"accuracy": 0.9, "shuffle_within": shuffle, "by_length": by_length}
      records.append(_record(f"t/{model}/{seed}", "train", model, "toy", result, seed))
    for clip in (0.0, 1.0):
      stab = {"converged": converged}
      records.append(
        _record(
          f"st/{model}/{clip}", "stability", model, "toy", stab, opt="adamw", lr=3e-3, clip=clip
        )
      )
  cfg = compare.get_config("real")
  cfg.real.datasets, cfg.models = "toy", "cnn,lstm"
  cfg.real.sets.toy = compare._dataset("text_files", {}, 1000, 4, 0.5)
  return report.Records(cfg, dict(records))


def test_real_rules_turn_hand_made_numbers_into_the_documented_stars():
  view = _hand_made()
  stars = real.real_stars(view, "toy")
  assert stars["Speed"] == {"cnn": 4, "lstm": 2}  # x4 slower: two stars behind
  assert stars["Order awareness"] == {"cnn": 1, "lstm": 4}  # shares 0.05 and 0.6
  assert stars["Long-term context"] == {"cnn": 4, "lstm": 2}  # errors 0.1 vs 0.4: x4
  assert stars["Training stability"] == {"cnn": 4, "lstm": 1}
  assert stars["Gradient issues"] == {"cnn": 4, "lstm": 2}  # |k| 0.5 and 3
  assert stars["Memory requirement"] == {"cnn": 4, "lstm": 2}
  assert stars["Production scalability"] == {"cnn": None, "lstm": None}
  rows = {row.criterion: row for row in real.real_rows(view, "toy")}
  assert rows["Speed"].verdict == "holds" and rows["Order awareness"].verdict == "holds"
  assert rows["Long-term context"].verdict == "breaks"
  assert rows["Production scalability"].verdict == "n/a"
  records = view.ok
  for row in rows.values():  # every number is traced back to the hand-made records
    for number in row.numbers:
      assert number.compute(records) == number.value
  floored = real.real_stars(_hand_made(cnn_long_acc=1.0, lstm_long_acc=0.94), "toy")
  assert floored["Long-term context"] == {"cnn": 4, "lstm": 2}  # 0 errors count as 1 of 50
  one = real.real_stars(_hand_made(one_length=True), "toy")
  assert one["Long-term context"] == {"cnn": None, "lstm": None}  # one length: n/a


def test_disagreements_with_the_synthetic_verdict_are_named(monkeypatch):
  view = _hand_made()
  assert "no synthetic run given" in real.disagreements(view)
  synthetic = [
    Row(r.criterion, r.folk_cnn, r.folk_rnn, 4, 2, "", [], "holds")
    for r in real.real_rows(view, "toy")
  ]
  monkeypatch.setattr(real, "synthetic_rows", lambda view: synthetic)
  text = real.disagreements(view)
  assert text == (
    "Where the datasets disagree with the synthetic verdict: "
    "Long-term context: synthetic **holds**, toy **breaks**."
  )  # and not where both hold
  header, body = real.summary_table(view)
  assert header == ["criterion", "folklore (cnn vs lstm)", "synthetic", "toy"]
  assert body[0][2:] == ["★★★★ vs ★★☆☆ **holds**", "★★★★ vs ★★☆☆ **holds**"]


# ---------------------------------------------------------------------------------------------
# one tiny run


@pytest.mark.slow  # every probe of the real preset on two models and one stand-in dataset
def test_tiny_real_preset_runs_resumes_and_writes_its_report(tmp_path):
  _sentences(tmp_path / "data" / "toy")
  cfg, workdir = _tiny_real(tmp_path / "data"), str(tmp_path / "work")
  records = suite.run(cfg, workdir, log=lambda line: None)
  assert all("error" not in r["result"] for r in records.values()), [
    r["result"] for r in records.values() if "error" in r["result"]
  ]
  train = [r for r in records.values() if r["probe"] == "train"]
  for record in train:
    result = record["result"]
    assert set(result["shuffle_within"]) == {"accuracy", "chance", "2", "4", "8", "0"}
    assert sum(result["by_length"]["count"]) == 48
  gradient = [r for r in records.values() if r["probe"] == "gradient"]
  assert all(len(r["result"]["data"]["distance"]) > 1 for r in gradient)
  assert {r["params"] for r in records.values()} <= set(range(540, 661))  # 600 +- 10%

  again = []
  assert suite.run(cfg, workdir, log=again.append) == records  # a re-run measures nothing
  assert again[0].endswith("0 to run")
  rep = report.build(cfg, records)
  paths = report.write(rep, workdir)
  text = open(paths["md"]).read()
  assert text.startswith("# CNN vs RNN: the verdict on real data")
  for title in ("The verdict on real data", "Order: accuracy", "Long context", "Cost, gradients"):
    assert f"## {title}" in text
  assert "real_order.png" in rep.images and os.path.exists(os.path.join(workdir, "real_order.png"))
  assert report.verdict_text(rep).startswith("| criterion | folklore (cnn vs lstm) | toy |")
  with open(os.path.join(workdir, "records.jsonl")) as f:
    assert len([json.loads(line) for line in f]) == len(records)
