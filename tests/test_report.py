"""The written rules: numbers -> stars -> verdicts, traced numbers, rendering, sections."""

import pytest

from cnnrnn_jax import report, tables
from cnnrnn_jax.configs import compare


@pytest.mark.parametrize(
  "ratio,stars",
  [(1.0, 4), (1.4, 4), (1.5, 3), (2.0, 3), (2.9, 2), (5.0, 2), (6.0, 1), (100.0, 1), (0.5, 4)],
)
def test_relative_stars_lose_one_per_factor_two(ratio, stars):
  assert report.relative_stars(ratio * 3.0, 3.0) == stars
  assert report.relative_stars(3.0 / ratio, 3.0, higher_is_better=True) == stars


def test_threshold_stars_and_rounding():
  assert [report.threshold_stars(a, (0.6, 0.75, 0.9)) for a in (0.5, 0.6, 0.8, 0.95)] == [
    1,
    2,
    3,
    4,
  ]
  assert report.threshold_stars(None, (1,)) is None
  assert [report.round_half_up(x) for x in (1.49, 1.5, 2.5)] == [1, 2, 3]


@pytest.mark.parametrize(
  "folk,measured,expected",
  [
    ((4, 2), (4, 2), "holds"),
    ((4, 2), (4, 1), "holds"),
    ((4, 2), (3, 2), "holds"),
    ((4, 2), (4, 4), "partly"),
    ((1, 4), (4, 4), "partly"),
    ((1, 4), (1, 2), "partly"),
    ((4, 2), (2, 4), "breaks"),
    ((2, 4), (3, 1), "breaks"),
    ((4, 2), (None, 2), "n/a"),
  ],
)
def test_verdict_from_star_gaps(folk, measured, expected):
  assert report.verdict(*folk, *measured) == expected


def test_numbers_recompute_from_their_sources():
  records = {
    "a": {"result": {"acc": {"1": 1.0, "8": 0.95, "31": 1.0}, "times": [1.0, 4.0]}},
    "b": {"result": {"acc": {"1": 1.0, "8": 0.8, "31": 1.0}, "ok": True}},
    "c": {"result": {"ok": False}},
  }
  longest = report.traced(
    "longest",
    [(rid, f"result.acc.{d}", d) for rid in "ab" for d in (1, 8, 31)],
    "longest_solved",
    records,
    arg=0.9,
  )
  assert longest.value == 1  # at d=8 the seed mean is 0.875 < 0.9 (31 alone does not count)
  assert (
    report.traced("l", [("a", "result.acc.8", 8)], "longest_solved", records, arg=0.9).value == 8
  )
  assert (
    report.traced("f", [("b", "result.ok", 0), ("c", "result.ok", 1)], "fraction", records).value
    == 0.5
  )
  assert report.traced(
    "g", [("a", "result.times.0", 0), ("a", "result.times.-1", 1)], "geomean", records
  ).value == pytest.approx(2.0)
  p = report.traced(
    "p", [("a", "result.times.0", 32), ("a", "result.times.1", 512)], "exponent", records
  )
  assert p.value == pytest.approx(0.5)
  with pytest.raises(KeyError):
    p.compute({"a": {"result": {}}})


def test_markdown_and_html_render_the_same_blocks():
  rep = report.Report(
    "T",
    [
      ("h2", "Verdict"),
      ("p", "a **b** `c` <x>"),
      ("table", ["criterion", "x|y"], [["Speed", "★★☆☆"]]),
      ("img", "p.png", "a plot"),
    ],
    [],
    {"p.png": b"\x89PNG"},
  )
  md = report.to_markdown(rep)
  assert "| criterion | x\\|y |" in md and "![a plot](p.png)" in md
  page = report.to_html(rep)
  assert "<b>b</b>" in page and "<code>c</code>" in page and "&lt;x&gt;" in page
  assert "data:image/png;base64,iVBORw==" in page
  assert report.verdict_text(rep).startswith("| criterion |")


def _record(rid, probe, model, task, setting, result, seed=0):
  return {
    "id": rid,
    "probe": probe,
    "model": model,
    "task": task,
    "setting": setting,
    "seed": seed,
    "result": result,
  }


def test_stability_stars_count_the_unclipped_runs_and_a_diverged_run_fails():
  cfg = compare.get_config()
  cfg.models = "lstm"
  setting = {"opt": "sgd", "lr": 1.0, "L": 256}
  records = {
    "bare": _record(
      "bare", "stability", "lstm", "motif", {**setting, "clip": 0.0},
      {"diverged": True, "converged": False, "message": "loss is not finite"},
    ),
    "safe": _record(
      "safe", "stability", "lstm", "motif", {**setting, "clip": 1.0},
      {"diverged": False, "converged": True, "eval": {"loss": 0.01}},
    ),
  }  # fmt: skip
  view = report.Records(cfg, records)
  fraction, count = report.stability_numbers(view, "lstm")
  assert (fraction.value, count.value) == (0.0, 0)
  fraction, count = report.stability_numbers(view, "lstm", clipped=True)
  assert (fraction.value, count.value) == (1.0, 1)
  assert report.model_stars(view, ("lstm", "lstm"))["Training stability"]["lstm"] == 1


def test_a_leaky_probe_is_flagged_and_its_distances_count_toward_no_stars():
  """At d=31 the position-only control beats chance (markers at the two ends of the
  sequence): that distance is leaky, so the CNN's success there earns nothing."""
  cfg = compare.get_config()
  cfg.models, cfg.folklore.cnn, cfg.folklore.rnn = "cnn,lstm,bag", "cnn", "lstm"
  cfg.order.eval_distances = (1, 8, 31)
  task = cfg.order.task
  curves = {
    "cnn": {"1": 1.0, "8": 0.5, "31": 1.0},
    "lstm": {"1": 1.0, "8": 1.0, "31": 1.0},
    "bag": {"1": 0.5, "8": 0.5, "31": 0.52},
    "logreg": {"1": 0.5, "8": 0.52, "31": 1.0},
    "mlp": {"1": 0.6, "8": 0.8, "31": 1.0},
  }
  records = {
    m: _record(m, "train", m, task, {}, {"by_distance": c, "chance_accuracy": 0.5})
    for m, c in curves.items()
  }
  view = report.Records(cfg, records)
  assert report.leaky_distances(view, task) == {31: "logreg"}
  assert view.controls == ["logreg", "mlp"] and view.judges == ["logreg", "bag"]
  # order awareness: the mean over d = 1 and 8 only
  assert report.order_reach_number(view, "cnn").value == pytest.approx(0.75)
  stars = report.model_stars(view, view.pair)
  assert stars["Order awareness"] == {"cnn": 3, "lstm": 4, "bag": 1}
  assert report.longest_number(view, "cnn", task).value == 1
  header, rows = report.distance_table(view, task)
  assert header[3] == "d=31 (leaky: logreg)" and rows[-1][0] == "mlp (control)"
  # the same records with a clean control: d=31 counts, and a U-shape still stops at d=1
  records["logreg"]["result"]["by_distance"]["31"] = 0.55
  view = report.Records(cfg, records)
  assert report.leaky_distances(view, task) == {}
  assert report.order_reach_number(view, "cnn").value == pytest.approx(2.5 / 3)


def test_a_sweep_every_model_solves_everywhere_is_shown_but_not_counted():
  cfg = compare.get_config()
  cfg.models = "cnn,lstm"
  cfg.order.eval_distances = (1, 8)
  records = {
    m: _record(m, "train", m, cfg.order.task, {}, {"by_distance": {"1": 1.0, "8": 0.95}})
    for m in ("cnn", "lstm")
  }
  view = report.Records(cfg, records)
  assert report.informative_sweeps(view) == report.sweep_tasks(cfg)  # nothing tells them apart
  records["cnn"]["result"]["by_distance"]["8"] = 0.5
  assert report.informative_sweeps(report.Records(cfg, records)) == [cfg.order.task]


def test_a_section_is_one_spec():
  cfg = compare.get_config()
  png = b"\x89PNG"
  spec = [
    report.Section(
      "Probe",
      text="on `{cfg.order.task}`, L={cfg.order.seq_len}",
      table=lambda view, item: (["model", "x"], [[m, item] for m in view.models[:1]]),
      each=lambda view: ["a", "b"],
      note=lambda view: None,
      figure=lambda view: png,
      figure_file="probe.png",
      caption="a probe",
    ),
    report.Section("Hidden", table=lambda view: (["x"], [["1"]]), show=lambda view: False),
    report.Section("Plain", note="after", table=lambda view: (["x"], [["1"]])),
  ]
  rep = report.build(cfg, {}, sections=spec)
  first = report.Records(cfg, {}).models[0]
  assert rep.blocks[1:] == [
    ("h2", "Probe"),
    ("p", f"on `{cfg.order.task}`, L={cfg.order.seq_len}"),
    ("p", "**a**"),
    ("table", ["model", "x"], [[first, "a"]]),
    ("p", "**b**"),
    ("table", ["model", "x"], [[first, "b"]]),
    ("img", "probe.png", "a probe"),
    ("h2", "Plain"),
    ("table", ["x"], [["1"]]),
    ("p", "after"),
  ]
  assert rep.images == {"probe.png": png} and len(rep.rows) == len(report.FOLKLORE)


def test_no_records_render_every_default_section_as_not_measured():
  cfg = compare.get_config()
  rep = report.build(cfg, {})
  headings = [b[1] for b in rep.blocks if b[0] == "h2"]
  hidden = ("Benchmarks", "Jobs that could not run")  # none configured, none failed
  shown = [s.title for s in report.SECTIONS if s.title not in hidden]
  assert headings == shown and headings[0] == "The verdict"
  assert [row.verdict for row in rep.rows] == ["n/a"] * len(report.FOLKLORE)
  assert rep.images == {} and "| Speed | ★★★★ | n/a |" in report.verdict_text(rep)


def test_the_old_module_names_still_resolve():
  assert report.markdown_table is tables.markdown_table
  assert report.verdict(4, 2, 4, 2) == "holds"
  for name in (
    "build",
    "write",
    "verdict_text",
    "Records",
    "Report",
    "Row",
    "Number",
    "traced",
    "get_path",
    "model_stars",
    "verdict_rows",
    "speed_table",
    "plot_speed",
    "to_markdown",
    "to_html",
    "RULES",
    "VERDICT_RULE",
  ):
    assert callable(getattr(report, name)) or isinstance(getattr(report, name), (dict, str))


def test_results_are_written_between_their_markers_and_nowhere_else():
  doc = "intro\n<!-- t -->\nold\nrows\n<!-- end -->\nmiddle\n<!-- end -->\n"
  assert tables.replace_block(doc, "<!-- t -->", "<!-- end -->", "| new |") == (
    "intro\n<!-- t -->\n| new |\n<!-- end -->\nmiddle\n<!-- end -->\n"
  )
  with pytest.raises(ValueError, match="no <!-- u --> ... <!-- end --> block"):
    tables.replace_block(doc, "<!-- u -->", "<!-- end -->", "x")


def test_a_rewritten_results_table_keeps_the_rows_whose_runs_are_elsewhere():
  earlier = (
    "| task | model | acc |\n|---|---|---|\n| rev | lstm | 99.0 (1) |\n| rev | gru | 98.0 (1) |"
  )
  fresh = (
    "| task | model | acc |\n|---|---|---|\n| rev | lstm | not run |\n| rev | gru | 97.5 (1) |"
  )
  fresh += "\n| sort | gru | not run |"
  assert tables.keep_earlier_rows(fresh, earlier, keys=2, missing="not run").splitlines() == [
    "| task | model | acc |",
    "|---|---|---|",
    "| rev | lstm | 99.0 (1) |",  # its run is not here: kept as written
    "| rev | gru | 97.5 (1) |",  # its own run is here: updated
    "| sort | gru | not run |",  # never run anywhere
  ]


def test_a_file_is_rewritten_only_when_every_block_has_its_markers(tmp_path):
  path = tmp_path / "page.md"
  path.write_text("a\n<!-- x -->\nold\n<!-- /x -->\nb\n<!-- y -->\n<!-- /y -->\n")
  tables.write_blocks(
    str(path), {("<!-- x -->", "<!-- /x -->"): "new", ("<!-- y -->", "<!-- /y -->"): "2"}
  )
  assert path.read_text() == "a\n<!-- x -->\nnew\n<!-- /x -->\nb\n<!-- y -->\n2\n<!-- /y -->\n"
  with pytest.raises(ValueError, match=r"page\.md: no <!-- z --> \.\.\. <!-- /z --> block"):
    tables.write_blocks(
      str(path), {("<!-- x -->", "<!-- /x -->"): "lost", ("<!-- z -->", "<!-- /z -->"): "?"}
    )
  assert "lost" not in path.read_text()  # the first block's text is not written either
