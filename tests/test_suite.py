"""The comparison grid, its records, the skip-on-rerun, and the report traced to records."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnnrnn_jax import models, report, suite
from cnnrnn_jax.configs import compare
from cnnrnn_jax.errors import ConfigError


def test_default_plan_covers_every_model_and_probe_with_unique_stable_ids():
  cfg = compare.get_config()
  jobs = suite.plan(cfg)
  ids = [job.id for job in jobs]
  assert len(ids) == len(set(ids))
  assert ids == [job.id for job in suite.plan(compare.get_config())]
  for model in ("cnn", "rnn", "lstm", "gru", "cnn_lstm", "bag"):
    probes = {job.probe for job in jobs if job.model == model}
    assert {"depth", "speed", "batch", "gradient", "train"} <= probes
  speed = [job for job in jobs if job.probe == "speed" and job.model == "cnn"]
  assert {(job.setting["L"], job.setting["conv_impl"]) for job in speed} == {
    (L, impl) for L in cfg.speed.lengths for impl in ("xla", "vmap", "vmap_shifted")
  }
  assert {job.config.arch.conv_impl for job in speed} == {"xla", "vmap", "vmap_shifted"}
  # order: one run per seed for every model and control; the controls train nothing else
  order = [job for job in jobs if job.probe == "train" and job.task == cfg.order.task]
  controls = {"logreg", "mlp"}
  assert {job.model for job in order} == set(suite.resolve_models(cfg)) | controls
  assert len(order) == len(cfg.seeds) * (6 + len(controls))
  assert {job.model for job in jobs if job.probe != "train"}.isdisjoint(controls)
  # contrast_context is one mixed-distance run per model and control, scored per distance
  context = [job for job in jobs if job.task == "contrast_context"]
  assert len(context) == 8 and {job.setting["d"] for job in context} == {"mixed"}
  assert context[0].extra["eval_distances"] == list(cfg.sweeps.contrast_context.distances)
  # stability: the whole grid (optimizer x lr x clipping x length) for each model
  stability = [job for job in jobs if job.probe == "stability" and job.model == "lstm"]
  grid = suite.stability_settings(cfg)
  assert len(grid) == 2 * 2 * 2 and len(stability) == len(grid) * len(cfg.stability.seeds)
  assert {(j.config.opt.optimizer, j.config.opt.clip_norm) for j in stability} == {
    ("sgd", 0.0),
    ("sgd", 1.0),
    ("adamw", 0.0),
    ("adamw", 1.0),
  }


def test_job_ids_change_with_what_defines_the_job():
  cfg = compare.get_config()
  before = {job.id for job in suite.plan(cfg)}
  cfg.speed.repeats = 3
  after = {job.id for job in suite.plan(cfg)}
  changed = {i.split("/")[0] for i in after - before}
  assert changed == {"speed"}
  cfg.param_budget = 30_000
  assert not ({job.id for job in suite.plan(cfg)} & after)


def test_models_come_from_the_registry():
  cfg = compare.get_config()
  cfg.models = "all"
  every = set(models.MODELS) - models.FORECAST_ONLY - models.SEQ2SEQ
  assert suite.resolve_models(cfg) == sorted(every)
  cfg.models = "cnn, transformerxl"
  with pytest.raises(ConfigError, match=r"\['transformerxl'\] are not registered"):
    suite.plan(cfg)


def _tiny_cfg():
  cfg = compare.get_config()
  cfg.models = "cnn,rnn"
  cfg.folklore.rnn = "rnn"
  cfg.param_budget = 1500
  cfg.impls.conv_impl.models = ""
  cfg.impls.rnn_impl.models = ""
  cfg.seeds = (0,)
  cfg.train.batch_size = 8
  cfg.train.train_steps = 20
  cfg.train.log_every = 10
  cfg.train.arch.embed_dim = 8
  cfg.train.arch.kernel_sizes = (3,)
  cfg.train.data.eval_size = 16
  cfg.order.seq_len = 16
  cfg.order.train_steps = 0  # = train.train_steps
  cfg.order.shuffle_window = 3
  cfg.order.eval_distances = (1, 3)
  cfg.controls.models = "logreg"
  cfg.sweeps.contrast_context.distances = ()  # the order evaluation is the only sweep here
  cfg.stability.lengths = (8,)
  cfg.stability.learning_rates = {"sgd": (0.1,)}
  cfg.stability.train_steps = 10
  cfg.gradient.lengths = ()
  cfg.gradient.batches = 1
  cfg.speed.lengths = (8, 16)
  cfg.speed.batch_size = 8
  cfg.speed.repeats = 1
  cfg.scaling.seq_len = 8
  cfg.scaling.batch_sizes = (4,)
  cfg.scaling.repeats = 1
  cfg.workers = 1
  return cfg


@pytest.mark.slow  # every probe of the comparison on two models
def test_tiny_comparison_end_to_end_skips_on_rerun_and_traces_every_number(tmp_path):
  cfg, workdir = _tiny_cfg(), str(tmp_path)
  lines = []
  records = suite.run(cfg, workdir, log=lines.append)
  jobs = suite.plan(cfg)
  assert set(records) == {job.id for job in jobs}
  assert lines[-1].startswith(f"[{len(jobs):>3}/{len(jobs)}]") and "ETA 0s" in lines[-1]
  with open(os.path.join(workdir, "records.jsonl")) as f:
    on_disk = [json.loads(line) for line in f]
  assert len(on_disk) == len(jobs)
  for record in on_disk:  # each record carries the config that produced it
    assert record["config"]["model"] == record["model"] and "error" not in record["result"]
    assert record["config"]["arch"][record["width"]["knob"]] == record["width"]["width"]
  for record in on_disk:
    if record["probe"] == "train" and record["task"] == cfg.order.task:
      assert set(record["result"]) >= {
        "accuracy",
        "shuffle",
        "by_distance",
        "gradient",
        "converged",
        "eval",
      }

  again = []
  assert suite.run(cfg, workdir, log=again.append) == records
  assert again == [
    f"{len(jobs)} jobs planned, {len(jobs)} already recorded in "
    f"{os.path.join(workdir, 'records.jsonl')}, 0 to run"
  ]

  rep = report.build(cfg, records)
  paths = report.write(rep, workdir)
  text = report.verdict_text(rep)
  for criterion in report.FOLKLORE:
    assert f"| {criterion} |" in text
  assert [row.verdict in ("holds", "partly", "breaks") for row in rep.rows] == [True] * 7
  with open(paths["html"]) as f:
    page = f.read()
  assert page.count("data:image/png;base64,") == len(rep.images) >= 4
  for name in rep.images:
    assert os.path.exists(os.path.join(workdir, name))
  # every verdict number is recomputed from records.jsonl alone
  from_file = suite.load_records(workdir)
  numbers = [n for row in rep.rows for n in row.numbers]
  assert len(numbers) >= 20
  for number in numbers:
    assert all(rid in from_file for rid, _, _ in number.sources)
    assert number.compute(from_file) == number.value


_PARENT = """
import concurrent.futures, multiprocessing, os, time
from cnnrnn_jax.suite import runner

if __name__ == "__main__":
  context = multiprocessing.get_context("spawn")
  pool = concurrent.futures.ProcessPoolExecutor(
    1, mp_context=context, initializer=runner._worker_init,
    initargs=(context.Queue(), os.getpid()),
  )
  print(pool.submit(os.getpid).result(), flush=True)
  time.sleep(120)
"""


def _alive(pid: int) -> bool:
  """Running, and not a zombie waiting to be reaped."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except FileNotFoundError:
    return False


@pytest.mark.slow  # a parent process and its worker
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_a_worker_exits_when_its_comparison_is_killed_outright(tmp_path):
  script = tmp_path / "parent.py"
  script.write_text(_PARENT)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  parent = subprocess.Popen(
    [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root,
    env={**os.environ, "PYTHONPATH": root},
  )  # fmt: skip
  worker = int(parent.stdout.readline())
  assert _alive(worker)
  parent.send_signal(signal.SIGKILL)
  parent.wait()
  deadline = time.monotonic() + 10
  while _alive(worker) and time.monotonic() < deadline:
    time.sleep(0.1)
  assert not _alive(worker)


@pytest.mark.slow  # two worker processes
def test_worker_processes_return_the_records_the_parent_would_compute(tmp_path):
  cfg = _tiny_cfg()
  jobs = [job for job in suite.plan(cfg) if job.probe == "depth"]
  received = []
  suite.runner._run_parallel(jobs, 2, str(tmp_path), None, cfg, received.append)
  assert sorted(r["id"] for r in received) == sorted(job.id for job in jobs)
  matcher = suite.BudgetMatcher(cfg.param_budget, cfg.width_knobs)
  for record in received:
    job = next(j for j in jobs if j.id == record["id"])
    assert record["result"] == suite.run_job(job, matcher, str(tmp_path))["result"]


@pytest.mark.slow  # trains the controls
def test_a_deliberately_leaky_probe_is_flagged_by_its_position_only_control(tmp_path):
  """`order` leaks: at d = L - 1 the markers sit at the two ends and logistic regression
  reads the label off the first position. `relative_order` at the same settings does not."""
  cfg = _tiny_cfg()
  cfg.models, cfg.folklore.cnn, cfg.folklore.rnn = "bag", "bag", "bag"
  cfg.train.train_steps, cfg.train.opt.learning_rate = 150, 3e-2
  cfg.train.data.eval_size = 256
  matcher = suite.BudgetMatcher(cfg.param_budget, cfg.width_knobs)

  def leaky(task, seq_len, distances):
    cfg.order.task, cfg.order.seq_len, cfg.order.eval_distances = task, seq_len, distances
    jobs = [job for job in suite.plan(cfg) if job.probe == "train" and job.task == task]
    assert {job.model for job in jobs} == {"bag", "logreg"}
    view = report.Records(cfg, {j.id: suite.run_job(j, matcher, str(tmp_path)) for j in jobs})
    return report.leaky_distances(view, task), report.distance_table(view, task)

  found, (header, rows) = leaky("order", 12, (1, 11))
  assert found.get(11) == "logreg" and header[2] == "d=11 (leaky: logreg)"
  assert rows[-1][0] == "logreg (control)" and float(rows[-1][2].rstrip("%")) > 90
  found, _ = leaky("relative_order", 16, (1, 3))
  assert found == {}


def test_load_records_cuts_a_torn_line_and_counts_bad_ones(tmp_path, caplog):
  good = {"id": "a", "probe": "speed", "result": {"ms": 1.5, "curve": [1, 2], "ok": True}}
  failed = {"id": "e", "result": {"error": "model 'bag' cannot do this task"}}
  diverged = {"id": "d", "result": {"diverged": True, "converged": False, "message": "nan at 7"}}
  lines = [
    json.dumps(good),
    json.dumps(diverged),  # words where words belong (suite.jobs.TEXT_FIELDS) are a record
    "garbage",
    json.dumps({"probe": "speed", "result": {}}),  # no id
    json.dumps({"id": "b", "result": {"ms": "fast"}}),  # a metric that is not a number
    json.dumps(failed),
    '{"id": "c", "res',  # torn by a crash: no final newline
  ]
  path = tmp_path / suite.RECORDS
  path.write_text("\n".join(lines))
  records = suite.load_records(str(tmp_path))
  assert set(records) == {"a", "d", "e"}
  assert path.read_text().endswith(json.dumps(failed) + "\n")  # the next record starts a line
  assert "ends with a torn line" in caplog.text
  assert "skipped 3 line(s)" in caplog.text and "first: line 3: not JSON" in caplog.text
