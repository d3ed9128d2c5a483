"""Extending without editing the package: registrations with settings, plugins, the probe
registry, failed jobs retried, sweeps from the command line, one-line errors for unknown keys.

Every test that registers something does it inside `registries`, which restores the registries
afterwards (tests share a process). The worked example runs end to end in test_examples.py.
"""

import copy
import logging
import os

import flax.linen as nn
import pytest

from cnnrnn_jax import command_line, models, plugins, report, suite, train
from cnnrnn_jax.configs import compare, default
from cnnrnn_jax.errors import ConfigError
from cnnrnn_jax.tasks import base


@pytest.fixture
def registries():
  dicts = [models.MODELS, models.VALIDATORS, base._REGISTRY, suite.PROBES, suite.REGISTERED_PROBES]
  saved = [dict(d) for d in dicts]
  sets = [models.CAUSAL_CAPABLE, models.SEQ2SEQ]
  saved_sets = [set(s) for s in sets]
  settings = copy.deepcopy(plugins._SETTINGS)
  yield
  for d, before in zip(dicts, saved):
    d.clear()
    d.update(before)
  for s, before in zip(sets, saved_sets):
    s.clear()
    s.update(before)
  plugins._SETTINGS.clear()
  plugins._SETTINGS.update(settings)


class _Toy(nn.Module):
  width: int

  @nn.compact
  def __call__(self, x_BxLxE, lengths_B, train=False):
    seq = nn.Dense(self.width)(x_BxLxE)
    return seq, seq.mean(1), {}


def _register_toy(**kwargs):
  def check(arch, spec):
    if arch.toy_width > 64:
      raise ConfigError(f"config.arch.toy_width={arch.toy_width} must be <= 64")

  kwargs = {"causal": False, "defaults": {"toy_width": 3}, "validate": check, **kwargs}
  models.register("toy", lambda arch, spec: _Toy(arch.toy_width), **kwargs)


def test_a_models_settings_join_every_config_and_its_checks_run_first(registries):
  with pytest.raises(TypeError, match="causal"):
    models.register("toy", lambda arch, spec: _Toy(3))  # no silent default
  _register_toy()
  config = default.get_config("toy,order")
  assert config.arch.toy_width == 3 and compare.get_config().train.arch.toy_width == 3
  config.arch.toy_width = 65
  with pytest.raises(ConfigError, match=r"toy_width=65 must be <= 64"):
    train.setup(config)
  stale = default.get_config("toy,order")  # built before the plugin: filled in on build
  del stale.arch["toy_width"]
  assert models.parameter_counts(train.setup(stale)[1])[1] == 64 * 3 + 3


def test_a_non_causal_model_is_refused_for_language_modelling(registries):
  _register_toy()
  from cnnrnn_jax.tasks.base import TaskSpec

  spec = TaskSpec("lm", 5, 8, vocab_size=5)
  with pytest.raises(ConfigError, match="'toy' is not causal"):
    models.validate("toy", default.get_config().arch, spec)


def test_an_encoder_decoder_computes_in_bfloat16_only_with_mixed_precision(registries):
  models.register("toy_s2s", lambda arch, spec: _Toy(3), causal=False, seq2seq=True)
  from cnnrnn_jax.tasks.base import TaskSpec

  spec, arch = TaskSpec("seq2seq", 5, 8, vocab_size=5, target_len=4), default.get_config().arch
  assert isinstance(models.build_model("toy_s2s", arch, spec), _Toy)
  with pytest.raises(ConfigError, match=r"toy_s2s is no precision.MixedPrecision with a dtype"):
    models.build_model("toy_s2s", arch, spec, "bfloat16")
  assert models.build_model("seq2seq_gru", arch, spec, "bfloat16").dtype == "bfloat16"


def test_settings_may_not_shadow_builtins_or_clash(registries):
  models.register("wide", lambda arch, spec: _Toy(3), causal=True, defaults={"hidden": 9})
  with pytest.raises(ConfigError, match=r"wide registers config.arch.hidden, a built-in field"):
    default.get_config()
  with pytest.raises(ValueError, match="clashes with wide's default 9"):
    plugins.add_settings("arch", "other", {"hidden": 8})
  with pytest.raises(ValueError, match="must be a bool, int, float, str or tuple"):
    plugins.add_settings("arch", "other", {"x": None})


def test_a_plugin_that_cannot_be_imported_is_named():
  with pytest.raises(ConfigError, match=r"cannot import plugin 'no_such_pkg.models' .*PYTHONPATH"):
    plugins.load("os.path, no_such_pkg.models")
  assert plugins.load(" os.path ,") == ["os.path"]
  assert set(plugins.fingerprint("os.path")) == {"os.path"}


def test_loading_a_plugin_leaves_every_other_jobs_id_alone(registries):
  before = {job.id for job in suite.plan(compare.get_config())}
  _register_toy()
  cfg = compare.get_config()
  cfg.plugins = "my_pkg.models"
  assert "toy_width" in cfg.train.arch
  assert {job.id for job in suite.plan(cfg)} == before


def test_unknown_config_keys_name_the_closest_field():
  config = default.get_config()
  assert command_line.unknown_field(config, "arch.hidden") is None
  assert command_line.unknown_field(config, "arch.hiden") == (
    "--config.arch.hiden: config.arch has no field 'hiden'; did you mean --config.arch.hidden?"
  )
  assert command_line.unknown_field(config, "arhc.hidden").endswith("did you mean --config.arch?")
  far = command_line.unknown_field(config, "arch.qrnn_kernel_size")  # a plugin not loaded
  assert far.endswith("did you mean --config.arch.tcn_kernel_size? (a plugin's field: name its "
                      "module in --config.plugins)")  # fmt: skip
  assert "its fields: attention_score, bidirectional, conv_impl" in command_line.unknown_field(
    config, "arch.zzz"
  )
  argv = ["x", "--config", "c.py:lstm", "--config.arch.hidden=3", "--noconfig.distributed"]
  assert command_line.flag_value(argv, "config") == "c.py:lstm"
  assert command_line.override_paths(argv) == ["arch.hidden", "distributed"]
  assert command_line.without_config_path(argv) == [
    "x",
    "--config.arch.hidden=3",
    "--noconfig.distributed",
  ]


def test_the_package_configs_load_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # no cnnrnn_jax/configs here: the installed package's is used
  config = command_line.load_config_file("cnnrnn_jax/configs/default.py:cnn,order")
  assert (config.model, config.task) == ("cnn", "order")
  with pytest.raises(ConfigError, match=r"no config file 'cnnrnn_jax/configs/nope.py'"):
    command_line.load_config_file("cnnrnn_jax/configs/nope.py")


def test_a_sweep_of_any_registered_task_comes_from_the_command_line():
  cfg = compare.get_config()
  compare.add_sweeps(cfg, ["sweeps.presence.distances", "sweeps.copy_memory.seq_len"])
  assert not cfg.sweeps.presence.counts and cfg.sweeps.copy_memory.counts  # new ones don't count
  cfg.sweeps.presence.distances = (2,)
  assert {j.task for j in suite.plan(cfg) if j.setting.get("d") == 2} == {"presence"}
  cfg.sweeps.parens = compare.new_sweep()
  cfg.sweeps.parens.distances = (2,)
  with pytest.raises(ConfigError, match=r"sweeps.parens: no task 'parens' is registered"):
    suite.plan(cfg)


def _stub_grid(monkeypatch, cfg, probe_name="flaky"):
  job = suite.Job(probe_name, "cnn", "order", {}, 0, suite.train_config(cfg, "cnn", "order", 0))
  monkeypatch.setattr(suite.runner, "plan", lambda cfg: [job])
  monkeypatch.setattr(
    suite.runner, "BudgetMatcher", lambda *a: lambda config, *budget: (config, {})
  )
  return job


def test_a_failing_job_is_recorded_in_one_line_and_retried_next_time(
  registries, monkeypatch, tmp_path
):
  cfg = compare.get_config()
  cfg.workers = 1
  job = _stub_grid(monkeypatch, cfg)
  calls = []

  def flaky(job, config, workdir):
    calls.append(1)
    if len(calls) == 1:
      raise RuntimeError("boom\non two lines")
    return {"value": 1.0}

  suite.PROBES["flaky"] = flaky
  first = suite.run(cfg, str(tmp_path), log=lambda line: None)[job.id]
  assert first["result"] == {"error": "RuntimeError: boom on two lines", "failure": "exception"}
  lines = []
  second = suite.run(cfg, str(tmp_path), log=lines.append)[job.id]
  assert second["result"] == {"value": 1.0} and second["plugins"] == {}
  assert lines[0].endswith("1 to run (1 failed before: retried)")
  assert suite.load_records(str(tmp_path))[job.id]["result"] == {"value": 1.0}


def test_a_registered_probe_joins_the_plan_and_the_report(registries):
  section = report.Section("Probed", text="a probe of {cfg.order.task}", table=lambda v: ([], []))

  def plan(cfg, grid):
    return [
      suite.Job("probed", j.model, j.task, {}, j.seed, j.config, {"train_id": j.id})
      for j in suite.order_train_jobs(grid)
    ]

  suite.register_probe(
    "probed", plan=plan, run=lambda *a: {}, report_section=section, defaults={"k": 2}
  )
  with pytest.raises(ValueError, match="registered twice"):
    suite.register_probe("probed", plan=plan, run=lambda *a: {})
  cfg = compare.get_config()
  assert cfg.probes.probed.k == 2
  jobs = suite.plan(cfg)
  added = [j for j in jobs if j.probe == "probed"]
  assert added and all(j.extra["param_budget"] == cfg.param_budget for j in added)
  titles = [s.title for s in report.all_sections()]
  assert titles[-3:] == [
    "Probed",
    "Jobs that could not run",
    "Where each verdict number comes from",
  ]


def test_sweeps_that_do_not_count_say_so(registries):
  cfg = compare.get_config()
  cfg.sweeps.copy_memory.distances = (2,)
  cfg.sweeps.copy_memory.counts = False
  view = report.Records(cfg, {})
  counting = report.sweep_counting(view)
  assert counting["copy_memory"] == (False, "configured with counts=False: measured and shown only")
  assert counting[cfg.order.task][0] and "copy_memory" not in report.informative_sweeps(view)
  assert report.sweep_counting_text(view).startswith("Toward the Long-term context stars: `")


def test_warmup_as_long_as_the_run_is_warned(monkeypatch, caplog, tmp_path):
  config = default.get_config("bag,order")
  config.train_steps, config.opt.warmup_steps = 50, 50

  def stop(*args):
    raise KeyboardInterrupt  # after the checks, before anything compiles

  monkeypatch.setattr(train, "data_mesh", stop)
  with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(config, os.fspath(tmp_path))
  assert "warmup_steps=50 >= config.train_steps=50: the whole run is warmup" in caplog.text
