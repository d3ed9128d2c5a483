"""The verdict: the folklore's stars next to measured stars, with the numbers behind them.

`build(cfg, records)` turns the records of a comparison (suite/) into a `Report`:
verdict rows, per-model star tables, detail tables and plots. `write(report, workdir)`
writes report.md (PNG files next to it) and report.html (the same, PNGs embedded), and
`verdict_text(report)` is what the terminal prints.

Every number of the verdict table is a traced `Number` that can be recomputed from
records.jsonl alone (the report's last section lists the sources).

  rules.py     the folklore's stars, star rules, verdict rule, traced numbers
  records.py   `Records` and the lookups on them
  rows.py      the measured numbers of each criterion and the verdict rows
  tables.py    the detail tables
  plots.py     the figures
  render.py    `Report` to Markdown and HTML, `write`, `verdict_text`
  sections.py  the report as a list of `Section` specs, and `build`
  speed_map.py the map preset's ratios to the CNN, where the Speed claim flips, heatmaps
"""

from cnnrnn_jax.report import speed_map
from cnnrnn_jax.report.plots import (
  plot_distance,
  plot_gradients,
  plot_memory,
  plot_scaling,
  plot_speed,
)
from cnnrnn_jax.report.records import (
  Records,
  chance_accuracy,
  get_path,
  gradient_length,
  leaky_distances,
  sweep_sources,
  sweep_tasks,
)
from cnnrnn_jax.report.render import Report, to_html, to_markdown, verdict_text, write
from cnnrnn_jax.report.rows import (
  Row,
  clean_sources,
  depth_number,
  devices_number,
  gradient_number,
  informative_sweeps,
  longest_number,
  memory_number,
  model_stars,
  order_number,
  order_reach_number,
  params_number,
  speed_number,
  stability_numbers,
  sweep_counting,
  sweep_counting_text,
  throughput_number,
  trained_gradient_number,
  verdict_rows,
  verdict_table,
)
from cnnrnn_jax.report.rules import (
  FOLKLORE,
  REDUCERS,
  RULES,
  VERDICT_RULE,
  Number,
  relative_stars,
  round_half_up,
  rules_text,
  star_text,
  threshold_stars,
  traced,
  verdict,
)
from cnnrnn_jax.report.sections import (
  MAP_SECTIONS,
  SECTIONS,
  Section,
  all_sections,
  build,
  section_blocks,
)
from cnnrnn_jax.report.tables import (
  benchmark_table,
  distance_table,
  errors_table,
  gradient_table,
  memory_table,
  order_table,
  scaling_table,
  sources_table,
  speed_table,
  stability_table,
  stars_table,
)
from cnnrnn_jax.tables import markdown_table

__all__ = [
  "FOLKLORE", "MAP_SECTIONS", "Number", "REDUCERS", "RULES", "Records", "Report", "Row",
  "SECTIONS", "Section",
  "VERDICT_RULE", "all_sections", "benchmark_table", "build", "chance_accuracy", "clean_sources",
  "depth_number", "devices_number", "distance_table", "errors_table", "get_path", "gradient_length",
  "gradient_number", "gradient_table", "informative_sweeps", "leaky_distances", "longest_number",
  "markdown_table", "memory_number", "memory_table", "model_stars", "order_number",
  "order_reach_number", "order_table", "params_number", "plot_distance", "plot_gradients",
  "plot_memory", "plot_scaling", "plot_speed", "relative_stars", "round_half_up", "rules_text",
  "scaling_table", "section_blocks", "sources_table", "speed_map", "speed_number", "speed_table",
  "stability_numbers", "stability_table", "star_text", "stars_table", "sweep_counting",
  "sweep_counting_text", "sweep_sources", "sweep_tasks", "threshold_stars", "throughput_number",
  "to_html", "to_markdown", "traced", "trained_gradient_number", "verdict", "verdict_rows",
  "verdict_table", "verdict_text", "write",
]  # fmt: skip
