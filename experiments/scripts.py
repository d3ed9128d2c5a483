"""Console scripts (setup.cfg's entry points): `cnnrnn-train ARGS` is `python -m
experiments.train ARGS`, the module run as __main__ the same way, so both spellings share one
command line (its workdir lock taken before the config loads, its flags, its exit codes)."""

from __future__ import annotations

import runpy
from collections.abc import Callable


def _as_main(module: str) -> Callable[[], None]:
  def run() -> None:
    runpy.run_module(f"experiments.{module}", run_name="__main__", alter_sys=True)

  run.__doc__ = f"`python -m experiments.{module}` with this process's arguments."
  return run


train = _as_main("train")
compare = _as_main("compare")
benchmark = _as_main("benchmark")
visualize = _as_main("visualize")
generate = _as_main("generate")
param_counts = _as_main("param_counts")
