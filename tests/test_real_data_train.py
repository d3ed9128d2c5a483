"""Real-data tasks through the trainer: vocab.json reuse, one compile per bucket, language
modelling end to end and sampling from the trained run (what experiments/generate.py does;
the entry point itself is not imported here, its absl flags would clash with others)."""

import json
import os

import numpy as np
import pytest

from cnnrnn_jax import sampling, steps, train
from cnnrnn_jax.configs import default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import text


def tiny_config(model, task, **data):
  config = default.get_config(f"{model},{task}")
  config.batch_size, config.train_steps, config.log_every, config.eval_every = 4, 3, 3, 3
  config.arch.embed_dim, config.arch.hidden, config.arch.num_filters = 8, 16, 8
  config.arch.kernel_sizes = (2, 3)
  for key, value in data.items():
    config.data[key] = value
  return config


@pytest.fixture
def reviews(tmp_path):
  path = tmp_path / "reviews.tsv"
  rows = [
    ("a great and moving film", 1),
    ("dull , slow and bad", 0),
    ("great cast", 1),
    ("bad bad bad", 0),
    ("moving", 1),
    ("slow plot and a dull ending", 0),
  ] * 3
  path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
  return path


@pytest.mark.slow  # a training run
def test_text_files_run_writes_vocab_and_a_later_run_reuses_it(tmp_path, reviews):
  first = tmp_path / "first"
  metrics = train.train_and_evaluate(
    tiny_config("bag", "text_files", train_path=str(reviews), eval_fraction=0.3), str(first)
  )
  assert 0.0 <= metrics["accuracy"] <= 1.0
  saved = text.Vocabulary.load(str(first / "vocab.json"))
  assert saved.labels == ("0", "1") and "great" in saved.tokens

  other = tmp_path / "other.tsv"  # different words: a fresh vocabulary would differ
  other.write_text("zebra crossing\t1\nyak\t0\nzebra\t1\nyak yak\t0\n")
  reused = tiny_config(
    "cnn",
    "text_files",
    train_path=str(other),
    eval_path=str(other),
    vocab_path=str(first / "vocab.json"),
  )
  task, _ = train.setup(reused)
  assert task.vocab == saved
  assert (task.train_batch(0, 4)["inputs"][:, 0] == text.OOV_ID).all()  # unknown words -> OOV

  fresh = tiny_config("cnn", "text_files", train_path=str(other), eval_path=str(other))
  with pytest.raises(ConfigError, match="holds a run of another config"):
    train.train_and_evaluate(fresh, str(first))
  os.remove(first / "config.json")  # the vocabulary is guarded on its own too
  with pytest.raises(ConfigError, match="holds a different vocabulary than this run built"):
    train.train_and_evaluate(fresh, str(first))


def test_text_steps_compile_once_per_bucket(tmp_path, monkeypatch):
  """The trainer's step is compiled ahead of the loop for the first batch's length bucket;
  a batch of another bucket compiles once, on first use (it used to be refused)."""
  path = tmp_path / "lengths.tsv"  # 1 to 20 words: buckets (8, 16, 24)
  path.write_text("".join(f"{' '.join(['word'] * n)}\t{n % 2}\n" for n in range(1, 21)))
  config = tiny_config("bag", "text_files", train_path=str(path), eval_path=str(path))
  config.train_steps, config.checkpoint_every = 12, 0
  traces = []
  real = steps.train_and_accumulate

  def counted(state, acc, batch, rng, *, spec):
    traces.append(batch["inputs"].shape)
    return real(state, acc, batch, rng, spec=spec)

  monkeypatch.setattr(steps, "train_and_accumulate", counted)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  task = train.setup(config)[0]
  widths = {task.train_batch(i, config.batch_size)["inputs"].shape[1] for i in range(12)}
  assert task.buckets.tolist() == [8, 16, 24] and len(widths) >= 2  # several buckets used ...
  assert sorted(shape[1] for shape in traces) == sorted(widths)  # ... each compiled once


@pytest.mark.slow  # a training run
def test_char_lm_trains_and_generates(tmp_path):
  corpus = tmp_path / "play.txt"
  corpus.write_text("ROMEO: but soft, what light.\nJULIET: ay me.\n" * 30)
  workdir = tmp_path / "run"
  config = tiny_config("lstm", "text_corpus", train_path=str(corpus), seq_len=16)
  metrics = train.train_and_evaluate(config, str(workdir))
  assert 0 < metrics["bits_per_token"] < 8  # about log2(vocab) at the start
  assert metrics["perplexity"] == pytest.approx(2 ** metrics["bits_per_token"], rel=1e-5)
  assert json.loads((workdir / "vocab.json").read_text())["level"] == "char"

  with open(corpus, "a") as f:  # new characters: a rebuilt vocabulary would differ ...
    f.write("QUEEN ZARA: xylophone!\n")
  _, task, run_model, params = sampling.load_lm_run(str(workdir))
  assert task.vocab == text.Vocabulary.load(str(workdir / "vocab.json"))  # ... the saved one
  assert "Z" not in task.vocab.tokens
  out = sampling.sample(
    run_model.apply, params, task.vocab, "ROMEO:", 20, task.spec.seq_len, temperature=0.8, seed=3
  )
  assert out.startswith("ROMEO:") and len(out) == len("ROMEO:") + 20
  assert set(out) <= set(task.vocab.tokens)
  assert out == sampling.sample(
    run_model.apply, params, task.vocab, "ROMEO:", 20, task.spec.seq_len, temperature=0.8, seed=3
  )
  # temperature 0 is greedy: the first new character is the argmax at the prompt's end
  greedy = sampling.sample(
    run_model.apply, params, task.vocab, "ROMEO:", 1, task.spec.seq_len, temperature=0.0
  )
  ids = np.zeros((1, task.spec.seq_len), np.int32)
  prompt = task.vocab.encode("ROMEO:")
  ids[0, : len(prompt)] = prompt
  logits, _ = run_model.apply({"params": params}, ids, np.array([len(prompt)], np.int32))
  best = np.argsort(np.asarray(logits[0, len(prompt) - 1]))[::-1]
  best = [i for i in best if i not in (text.PAD_ID, text.OOV_ID)][0]
  assert greedy == "ROMEO:" + task.vocab.tokens[best]


@pytest.mark.slow  # a training run
def test_generate_refuses_a_classifier_run(tmp_path, reviews):
  workdir = tmp_path / "clf"
  train.train_and_evaluate(
    tiny_config("bag", "text_files", train_path=str(reviews), eval_path=str(reviews)), str(workdir)
  )
  with pytest.raises(ConfigError, match="is classify, not a language model"):
    sampling.load_lm_run(str(workdir))
  with pytest.raises(ConfigError, match="no readable checkpoint in"):
    sampling.load_lm_run(str(tmp_path / "nothing"))
