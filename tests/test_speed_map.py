"""The map preset: its planner (matched sizes, skipped cells) and the ratio / contour
computation of its report on hand-made records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnrnn_jax import measure, report, suite
from cnnrnn_jax.configs import compare
from cnnrnn_jax.report import speed_map


def _map_config(**map_fields):
  cfg = compare.get_config("map")
  cfg.models = "cnn,lstm"
  cfg.map.param_budgets = (10_000, 40_000)
  cfg.map.lengths = (32, 128)
  cfg.map.batch_sizes = (1, 32)
  cfg.map.update(map_fields)
  return cfg


@pytest.mark.slow  # matches two models to two budgets (traced parameter counts)
def test_the_map_plans_every_cell_and_skips_the_costly_ones_first_with_the_reason():
  cfg = _map_config(max_work=2e6)  # 10k x 1 x 128 = 1.28e6 runs, 10k x 32 x 32 does not
  jobs = suite.plan(cfg)
  cells = {(j.model, j.setting["P"], j.setting["L"], j.setting["B"]) for j in jobs}
  assert len(jobs) == len(cells) == 2 * 2 * 2 * 2  # one implementation each in this preset
  assert all(j.probe == "speed" and j.extra["param_budget"] == j.setting["P"] for j in jobs)
  skipped = [j for j in jobs if "skip" in j.extra]
  assert all(suite.map_work(j.setting["P"], j.setting["B"], j.setting["L"]) > 2e6 for j in skipped)
  ran = {(j.setting["P"], j.setting["B"], j.setting["L"]) for j in jobs if "skip" not in j.extra}
  assert ran == {(10_000, 1, 32), (10_000, 1, 128), (40_000, 1, 32)}
  assert all("time budget" in j.extra["skip"] for j in skipped)
  assert jobs[: len(skipped)] == skipped  # skipped cells first: they only match sizes

  matcher = suite.BudgetMatcher(cfg.param_budget, cfg.width_knobs)
  record = suite.run_job(skipped[0], matcher, "unused")  # matched, never compiled
  assert record["result"] == {"skipped": skipped[0].extra["skip"]}
  assert abs(record["params"] - skipped[0].setting["P"]) < 0.05 * skipped[0].setting["P"]


@pytest.mark.slow
def test_each_model_is_matched_to_each_budget_by_its_width_knob():
  cfg = _map_config()
  matcher = suite.BudgetMatcher(cfg.param_budget, cfg.width_knobs)
  widths = {}
  for job in suite.plan(cfg):
    if job.setting["L"] == 32 and job.setting["B"] == 1:
      _, info = matcher(job.config, job.extra["param_budget"])
      assert abs(info["params"] - info["budget"]) < 0.05 * info["budget"], info
      widths[(job.model, info["budget"])] = (info["knob"], info["width"])
  assert widths[("cnn", 10_000)][0] == "num_filters" and widths[("lstm", 10_000)][0] == "hidden"
  assert widths[("cnn", 40_000)][1] > widths[("cnn", 10_000)][1]
  assert widths[("lstm", 40_000)][1] > widths[("lstm", 10_000)][1]


def _cell(model, budget, length, batch, train, memory=1000.0, skipped=None):
  setting = {"P": budget, "L": length, "B": batch}
  result = (
    {"skipped": skipped}
    if skipped
    else {
      "train_s_per_example": train,
      "infer_s_per_example": train / 2,
      "peak_bytes_per_example": memory,
    }
  )
  rid = f"speed/{model}/order/{budget}-{length}-{batch}"
  return rid, {
    "id": rid,
    "probe": "speed",
    "model": model,
    "task": "order",
    "setting": setting,
    "seed": 0,
    "params": budget,
    "result": result,
    "seconds": 1.0,
    "device": "cpu:",
    "jax": "x",
    "config": {"batch_size": batch},
  }


def _hand_made():
  cfg = _map_config(lengths=(32, 128, 512))
  records = {}
  # the LSTM is x0.5 the CNN's time at L=32, x1 at 128 and x4 at 512; at 40k parameters,
  # batch 32, L=512 it is skipped
  lstm_over_cnn = {32: 0.5, 128: 1.0, 512: 4.0}
  for budget in cfg.map.param_budgets:
    for batch in cfg.map.batch_sizes:
      for length, ratio in lstm_over_cnn.items():
        records.update([_cell("cnn", budget, length, batch, 1e-3, memory=100.0)])
        skip = "time budget" if (budget, batch, length) == (40_000, 32, 512) else None
        records.update([_cell("lstm", budget, length, batch, ratio * 1e-3, 300.0, skip)])
  return cfg, records


def test_ratio_grid_claim_cells_and_where_the_claim_flips():
  cfg, records = _hand_made()
  view = report.Records(cfg, records)
  grid = speed_map.ratio_grid(view, "lstm", 32, "train_s_per_example")
  np.testing.assert_allclose(grid[0], [0.5, 1.0, 4.0])
  assert np.isnan(grid[1, 2])  # skipped cell: no ratio
  assert speed_map.cell(view, "lstm", 40_000, 512, 32, "train_s_per_example") == "time budget"
  np.testing.assert_array_equal(speed_map.claim_cells(grid[0]), [-1.0, 0.0, 1.0])
  assert np.isnan(speed_map.claim_cells(grid)[1, 2])
  # log-log interpolation: ratio 1 -> 4 over 128 -> 512 crosses sqrt(2) a quarter of the way
  (up,) = speed_map.crossings([32, 128, 512], [0.5, 1.0, 4.0], math.sqrt(2))
  assert up == pytest.approx(128 * 4**0.25)
  (down,) = speed_map.crossings([32, 128, 512], [0.5, 1.0, 4.0], 1 / math.sqrt(2))
  assert down == pytest.approx(32 * 4**0.5)
  assert speed_map.flip_text([32, 128, 512], [0.5, 1.0, 4.0]) == (
    "reverses below L≈64; holds above L≈181"
  )
  np.testing.assert_allclose(speed_map.ratio_grid(view, "lstm", 1, "peak_bytes_per_example"), 3.0)


def test_the_map_report_has_its_tables_and_heatmaps():
  cfg, records = _hand_made()
  rep = report.build(cfg, records)
  assert rep.title.endswith("as a map") and rep.rows == []
  header, rows = speed_map.flip_table(report.Records(cfg, records))
  assert header[-1] == "where it flips"
  assert rows[0][:6] == ["lstm", "1", "10k", "0.5× ✗", "1×", "4× ★"]
  assert {"map_pair.png", "map_train.png", "map_infer.png", "map_memory.png"} <= set(rep.images)
  assert rep.images["map_train.png"].startswith(b"\x89PNG")
  text = report.to_markdown(rep)
  assert "skipped: time budget" in text and "Against the default preset" not in text
  assert report.verdict_text(rep).startswith("| model")


@pytest.mark.slow  # compiles one tiny train step
def test_a_cell_over_the_memory_limit_is_skipped_after_compiling():
  cfg = _map_config()
  config = suite.train_config(cfg, "cnn", "order", 0, seq_len=16)
  config.batch_size, config.arch.num_filters = 2, 4
  result = measure.speed(config, repeats=1, max_peak_bytes=1)
  assert result["skipped"].startswith("compiled train step needs") and result["peak_bytes"] > 1
  assert "train_s_per_example" not in result
