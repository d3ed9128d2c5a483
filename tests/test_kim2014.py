"""Kim 2014's protocol on sentence files: `<label> <sentence>` files (detected, Latin-1 too),
dev-set model selection with a best checkpoint, and k-fold cross-validation (folds disjoint,
covering, stratified; a fold resumed after a crash ends as an uninterrupted one)."""

import json
import os

import jax
import numpy as np
import pytest
from test_durability import WALL_CLOCK

from cnnrnn_jax import checkpoint, crossval, models, scoring, selection, tasks, train
from cnnrnn_jax.configs import default, kim2014
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import files, splits, text

WORDS = ("great", "moving", "fine", "dull", "slow", "bad", "the", "film", "plot", "cast")


def sentences(n, seed=0):
  """`n` (label, six-word sentence) pairs: label 1 holds a positive word, 0 a negative one."""
  rng = np.random.default_rng(seed)
  rows = []
  for i in range(n):
    label = i % 3 == 0  # unbalanced classes: 1/3 positive
    cue = WORDS[rng.integers(0, 3)] if label else WORDS[3 + rng.integers(0, 3)]
    filler = [WORDS[6 + k] for k in rng.integers(0, 4, 5)]
    filler.insert(int(rng.integers(0, 6)), cue)
    rows.append((int(label), " ".join(filler)))
  return rows


def write_label_first(path, rows, encoding="utf-8"):
  path.write_bytes("".join(f"{y} {t}\n" for y, t in rows).encode(encoding))
  return str(path)


def data_config(**knobs):
  data = default.get_config("cnn,text_files").data
  data.update(knobs)
  return data


def test_label_first_files_are_detected_and_latin1_is_read_with_encoding_auto(tmp_path):
  rows = sentences(40)
  rows[3] = (0, "a caf\xe9 film , dull")  # a byte over 0x7F that is not UTF-8
  path = write_label_first(tmp_path / "custrev.all", rows, "latin-1")
  with open(path, "ab") as f:
    f.write(b"1 \n")  # a label without a sentence (CR has four)
  assert (
    files.file_format(path, open(path, encoding="latin-1").read(), data_config()) == "label_first"
  )
  with pytest.raises(ConfigError, match=r"custrev.all:4: byte 0xe9 is not valid UTF-8"):
    tasks.build("text_files", data_config(train_path=path), 0)
  with pytest.raises(ConfigError, match=r"custrev.all:41: label '1' and no sentence"):
    tasks.build("text_files", data_config(train_path=path, encoding="auto"), 0)
  task = tasks.build(
    "text_files",
    data_config(train_path=path, encoding="auto", skip_bad_rows=True, min_count=1),
    0,
  )
  assert task.skipped == 1 and task.vocab.labels == ("0", "1")
  assert task.num_train + task.num_eval == 40 and "café" in task.vocab.tokens
  # the same sentences as a TSV table train the same vocabulary
  tsv = tmp_path / "train.tsv"
  tsv.write_text("".join(f"{t}\t{y}\n" for y, t in rows), encoding="utf-8")
  built = tasks.build("text_files", data_config(train_path=str(tsv), min_count=1), 0)
  assert built.vocab == task.vocab


def test_class_files_given_as_a_comma_separated_list(tmp_path):
  pos, neg = tmp_path / "rt-polarity.pos", tmp_path / "rt-polarity.neg"
  pos.write_bytes(b"a great film\nmoving caf\xe9\n" * 5)
  neg.write_bytes(b"a dull film\nslow plot\n" * 5)
  task = tasks.build(
    "text_files", data_config(train_path=f"{pos},{neg}", encoding="auto", eval_fraction=0.2), 0
  )
  assert task.vocab.labels == ("neg", "pos") and task.num_train + task.num_eval == 20


def test_dev_split_from_a_file_or_a_seeded_fraction_and_eval_split_dev(tmp_path):
  train_path = write_label_first(tmp_path / "train", sentences(50))
  dev_path = write_label_first(tmp_path / "dev", sentences(7, seed=1))
  test_path = write_label_first(tmp_path / "test", sentences(9, seed=2))
  both = dict(train_path=train_path, eval_path=test_path)
  assert tasks.build("text_files", data_config(**both, dev_path=dev_path), 0).num_train == 50
  dev = tasks.build("text_files", data_config(**both, dev_path=dev_path, eval_split="dev"), 0)
  assert (dev.num_train, dev.num_eval) == (50, 7)
  test = tasks.build("text_files", data_config(**both, dev_fraction=0.2), 0)
  carved = tasks.build("text_files", data_config(**both, dev_fraction=0.2, eval_split="dev"), 0)
  assert (test.num_train, test.num_eval, carved.num_eval) == (40, 9, 10)
  assert test.vocab == carved.vocab and test.spec == carved.spec  # one model fits both
  with pytest.raises(ConfigError, match=r"needs a dev split; set --config.data.dev_path"):
    tasks.build("text_files", data_config(**both, eval_split="dev"), 0)


def test_folds_are_disjoint_covering_stratified_and_seeded():
  labels = ["a"] * 23 + ["b"] * 11 + ["c"] * 5
  ids = splits.fold_ids(labels, 10, seed=0)
  assert sorted(set(ids.tolist())) == list(range(10))  # every example in exactly one fold
  sizes = np.bincount(ids)
  assert sizes.max() - sizes.min() <= 1
  for label in "abc":
    per_fold = np.bincount(ids[np.array(labels) == label], minlength=10)
    assert per_fold.max() - per_fold.min() <= 1  # stratified
  np.testing.assert_array_equal(ids, splits.fold_ids(labels, 10, seed=0))
  assert not np.array_equal(ids, splits.fold_ids(labels, 10, seed=1))


def test_cv_folds_partition_the_file_and_dev_is_carved_from_each_training_part(tmp_path):
  path = write_label_first(tmp_path / "all", sentences(30))
  errors = text.RowErrors()
  evals, knobs = [], dict(train_path=path, cv_folds=3, dev_fraction=0.25)
  for fold in range(3):
    train, test, dev = files.text_file_splits(data_config(**knobs, cv_fold=fold), errors)
    where = [{w for _, _, w in part} for part in (train, test, dev)]
    assert len(set.union(*where)) == 30 == sum(map(len, where))  # disjoint and covering
    assert (len(test), len(dev)) == (10, 5) and sum(y == "1" for _, y, _ in test) in (3, 4)
    evals.append(where[1])
  assert len(set.union(*evals)) == 30  # each example is in the eval part of one fold
  task = tasks.build("text_files", data_config(**knobs, cv_fold=0, eval_split="dev"), 0)
  assert (task.num_train, task.num_eval) == (15, 5)
  with pytest.raises(ConfigError, match=r"cv_folds=3 needs cv_fold in 0..2"):
    tasks.build("text_files", data_config(train_path=path, cv_folds=3), 0)


@pytest.mark.parametrize("preset", kim2014.TABLE2)
def test_table2_presets_select_on_dev_and_build_on_label_first_files(tmp_path, preset):
  config = kim2014.get_config(preset)
  config.data.train_path = write_label_first(tmp_path / "train", sentences(30))
  task, model = train.setup(config)
  assert config.select_on == "dev" and config.data.encoding == "auto"
  if preset == "table2_bilstm":  # matched to CNN-rand's 100 * (3 + 4 + 5) * 300 + 300
    assert models.parameter_counts(model)[1] == 2 * 4 * 110 * (300 + 110 + 1) == 361_680
  assert (task.num_train, task.num_eval) == (24, 3)  # eval_fraction 0.1, then dev_fraction 0.1
  tsv = tmp_path / "train.tsv"  # the same preset on a table file
  tsv.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for y, t in sentences(30)))
  config.data.train_path = str(tsv)
  assert train.setup(config)[0].num_train == 24


def test_best_checkpoint_keeps_the_best_step_and_replays_a_resume_without_saving_twice(tmp_path):
  config = kim2014.get_config("table2")
  spec = tasks.base.TaskSpec(kind="classify", num_outputs=2, seq_len=8, vocab_size=10)
  path = tmp_path / "metrics.jsonl"

  def params(step):
    return {"w": np.full((2, 3), float(step), np.float32)}

  best = selection.BestCheckpoint(str(tmp_path), config, spec, str(path))
  for step, score in ((2, 0.5), (4, 0.7), (6, 0.7)):  # a tie keeps the earlier step
    assert best.offer(step, params(step), {"accuracy": score}) == (step != 6)
  best.close()
  assert best.ckpts.steps() == [4] and best.ckpts.read_meta(4)["accuracy"] == 0.7
  # resumed at step 2 (metrics.jsonl cut there): step 4 is replayed and not saved again;
  # a better step 3 (resumed with another eval_every) replaces the killed attempt's step 4
  path.write_text(
    "".join(
      json.dumps({"step": 2, "split": split, "accuracy": 0.5}) + "\n" for split in ("dev", "eval")
    )
  )
  again = selection.BestCheckpoint(str(tmp_path), config, spec, str(path))
  assert again.best == 0.5 and again.offer(4, params(4), {"accuracy": 0.7})
  again.close()
  assert again.ckpts.steps() == [4]
  other = selection.BestCheckpoint(str(tmp_path), config, spec, str(path))
  assert other.offer(3, params(3), {"accuracy": 0.8})
  other.close()
  assert other.ckpts.steps() == [3] and other.ckpts.read_meta(3)["best"] is True


def tiny_config(path, **overrides):
  config = kim2014.get_config("table2")
  config.update(
    batch_size=8, train_steps=8, eval_every=2, log_every=2, checkpoint_every=4, **overrides
  )
  config.arch.update(embed_dim=8, num_filters=4, kernel_sizes=(3,), dropout=0.0)
  config.data.update(train_path=path, cv_folds=2, dev_fraction=0.25, min_count=1)
  config.opt.update(learning_rate=0.05, warmup_steps=1)
  return config


def lines(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(l).items() if k not in WALL_CLOCK} for l in f]


@pytest.mark.slow  # trains two folds twice
def test_cross_validation_selects_the_best_dev_step_and_a_crashed_fold_resumes_exactly(
  tmp_path, monkeypatch
):
  path = write_label_first(tmp_path / "all", sentences(48))
  config = tiny_config(path)
  reference = crossval.train_over_folds(config, str(tmp_path / "reference"))
  for fold, result in reference.items():
    workdir = str(tmp_path / "reference" / f"fold_{fold}")
    written = lines(workdir)
    dev = {l["step"]: l["accuracy"] for l in written if l["split"] == "dev"}
    best = min(dev, key=lambda step: (-dev[step], step))  # the earliest best dev step
    test = next(l for l in written if l["split"] == "eval" and l["step"] == best)
    assert result["selected_step"] == best and result["accuracy"] == test["accuracy"]
    kept = checkpoint.Checkpoints(workdir, read_only=True, subdir=checkpoint.BEST_SUBDIR)
    assert kept.steps() == [best] and kept.read_meta(best)["best"] is True
    kept.close()
    _, state = train.restore(workdir, best=True)
    _, last = train.restore(workdir)
    assert int(last.step) == 8 and (best == 8) == all(
      np.array_equal(a, b)
      for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(last.params))
    )
    assert scoring.score(workdir, None)["accuracy"] == pytest.approx(test["accuracy"])
  summary = json.loads((tmp_path / "reference" / "folds.json").read_text())
  assert summary["accuracy"]["folds"] == [0, 1]
  assert summary["accuracy"]["values"] == [reference[0]["accuracy"], reference[1]["accuracy"]]

  build = tasks.build

  def crash_in_fold_1(name, data, seed):  # a crash before step 7 of fold 1 (saved: step 4)
    task = build(name, data, seed)
    if data.get("cv_fold") == 1 and data.get("eval_split") != "dev":
      train_batch = task.train_batch

      def batch(step, batch_size):
        if step == 6:
          raise RuntimeError("crash")
        return train_batch(step, batch_size)

      task.train_batch = batch
    return task

  resumed = str(tmp_path / "resumed")
  monkeypatch.setattr(tasks, "build", crash_in_fold_1)
  with pytest.raises(RuntimeError, match="crash"):
    crossval.train_over_folds(config, resumed)
  assert not os.path.exists(os.path.join(resumed, "folds.json"))
  monkeypatch.setattr(tasks, "build", build)
  assert crossval.train_over_folds(config, resumed) == reference
  for fold in (0, 1):
    assert lines(os.path.join(resumed, f"fold_{fold}")) == lines(
      str(tmp_path / "reference" / f"fold_{fold}")
    )
  assert (tmp_path / "resumed" / "folds.json").read_text() == (
    tmp_path / "reference" / "folds.json"
  ).read_text()


def test_table_fills_a_cell_only_from_a_finished_runs_summary(tmp_path):
  from cnnrnn_jax.report import kim_tables

  def finished(workdir, parts, keys, values):
    for k in keys:  # two train lines: 100 steps at 10 steps/s, then 100 at 20
      os.makedirs(tmp_path / workdir / f"{parts}_{k}")
      lines = [{"split": "train", "step": 100, "steps_per_sec": 10.0}]
      lines.append({"split": "train", "step": 200, "steps_per_sec": 20.0})
      (tmp_path / workdir / f"{parts}_{k}" / "metrics.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
      )
    summary = {"accuracy": {"mean": np.mean(values), "std": np.std(values, ddof=1)}}
    summary["accuracy"][f"{parts}s"] = keys
    (tmp_path / workdir / f"{parts}s.json").write_text(json.dumps(summary))

  finished("kim_trec", "seed", [0, 1, 2], [0.90, 0.91, 0.92])
  finished("kim_cr_bilstm", "fold", list(range(10)), [0.8] * 5 + [0.7] * 5)
  finished("kim_sst2_phrases", "seed", [0, 1, 2], [0.82, 0.83, 0.84])
  os.makedirs(tmp_path / "kim_mr")  # started, not finished: no folds.json
  rows = {
    line.split(" | ")[0].lstrip("| "): line.strip(" |").split(" | ")[1:]
    for line in kim_tables.section(str(tmp_path)).splitlines()
    if line.startswith("| ours")
  }
  cnn_rand = rows["ours: CNN-rand (Kim's sizes, dev selection) (`table2`)"]
  assert cnn_rand == ["not run"] * 3 + ["91.0 ± 1.0 (3 seeds, 15 s each)", "not run"]
  bilstm = rows["ours: BiLSTM (parameters matched to the CNN's encoder) (`table2_bilstm`)"]
  assert bilstm[4] == "75.0 ± 5.3 (10 folds, 15 s each)" and bilstm[:4] == ["not run"] * 4
  phrases, control = [cells for title, cells in rows.items() if "SST-2's" in title]
  assert phrases == ["-", "-", "83.0 ± 1.0 (3 seeds, 15 s each)", "-", "-"]
  assert control == ["-", "-", "not run", "-", "-"]
  assert "--config.data.train_path=$D/sst2_glue/train.tsv" in kim_tables.sst2_command(
    "kim_sst2_phrases"
  )


@pytest.mark.parametrize(
  "kept_best,choice,best",
  [(True, "result", True), (False, "result", False), (True, "newest", False)],
)
def test_score_reads_the_selected_steps_parameters_of_a_run_that_selected_one(
  tmp_path, monkeypatch, kept_best, choice, best
):
  if kept_best:
    os.makedirs(tmp_path / checkpoint.BEST_SUBDIR)

  def restore(workdir, best=False):
    raise LookupError(f"best={best}")

  monkeypatch.setattr(train, "restore", restore)
  with pytest.raises(LookupError, match=f"^best={best}$"):
    scoring.score(str(tmp_path), None, checkpoint=choice)
  with pytest.raises(ValueError, match="^checkpoint='bset' is not one of"):
    scoring.score(str(tmp_path), None, checkpoint="bset")


def test_accuracy_by_length_splits_the_test_file_and_scores_each_seed_on_each_part(
  tmp_path, monkeypatch
):
  from cnnrnn_jax.report import kim_tables

  os.makedirs(tmp_path / "data" / "kim2014")
  lines = [f"{n % 2} " + " ".join(["word"] * (n - 1) + ["."]) for n in (3, 12, 25, 40, 10, 11)]
  for name in kim_tables.LENGTH_DATASETS.values():
    (tmp_path / "data" / "kim2014" / name).write_text("\n".join(lines) + "\n")
  buckets = kim_tables.split_by_length(
    str(tmp_path / "data" / "kim2014" / "stsa.binary.test"), str(tmp_path / "parts")
  )
  assert [(name, n) for name, _, n in buckets] == [
    ("1-10 words", 2),
    ("11-20 words", 2),
    ("21-30 words", 1),
    ("31+ words", 1),
  ]
  assert open(buckets[1][1]).read() == lines[1] + "\n" + lines[5] + "\n"  # the lines, unchanged

  for seed in (0, 1):  # CNN-rand finished on SST-2 only; the BiLSTM nowhere
    os.makedirs(tmp_path / "runs" / "kim_sst2" / f"seed_{seed}")
  (tmp_path / "runs" / "kim_sst2" / "seeds.json").write_text(
    json.dumps({"accuracy": {"seeds": [0, 1]}})
  )
  scored = []

  def fake_scorer(workdir):
    def score_on(eval_path):
      scored.append((os.path.basename(workdir), os.path.basename(eval_path)))
      return {"accuracy": 0.6 if len(scored) % 2 else 0.5}  # seed 0: 0.6, seed 1: 0.5

    return score_on

  monkeypatch.setattr(kim_tables, "scorer", fake_scorer)
  text = kim_tables.length_section(
    str(tmp_path / "runs"), str(tmp_path / "data"), str(tmp_path / "parts")
  )
  assert len(scored) == 8 and scored[:3] == [
    ("seed_0", "stsa.binary.test.1-10"),
    ("seed_1", "stsa.binary.test.1-10"),
    ("seed_0", "stsa.binary.test.11-20"),
  ]
  sst1, sst2 = text.split("\n\n")
  assert "| `table2` | not run | not run | not run | not run |" in sst1
  assert "| `table2` (2 seeds) | 55.0 ± 7.1 | 55.0 ± 7.1 | 55.0 ± 7.1 | 55.0 ± 7.1 |" in sst2
  assert "| `table2_bilstm` | not run |" in sst2
  assert sst2.startswith("| SST-2 test | 1-10 words (2) | 11-20 words (2) |")
