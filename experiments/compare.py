r"""The main job: measure every row of the folklore table and write the verdict report.

  python -m experiments.compare --workdir=runs/compare
  python -m experiments.compare --config=cnnrnn_jax/configs/compare.py:large \
      --workdir=runs/compare_large          # GPU/TPU preset

Runs every job of the compare config that has no record in WORKDIR/records.jsonl yet, or a
failed one (so a second run only rewrites the report), then writes WORKDIR/report.md,
WORKDIR/report.html and the PNG plots, and prints the verdict table.
"""

import shlex
import sys
import time

from absl import app, flags, logging

from cnnrnn_jax import errors, workdir
from cnnrnn_jax.configs import compare
from experiments import cli

if __name__ == "__main__":  # before the config file loads: a busy workdir is refused at once
  cli.claim_workdir(sys.argv)

_CONFIG = cli.define_config(
  "cnnrnn_jax/configs/compare.py",
  "Compare config file (ml_collections); --config.plugins=my_pkg.mod imports extensions first.",
  prepare=compare.add_sweeps,
)
_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Where records.jsonl, the training runs, the report and the plots go.",
  required=True,
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  start = time.perf_counter()
  try:
    # The lock comes before importing JAX (seconds): a busy workdir is refused at once.
    with workdir.locked(_WORKDIR.value):
      from cnnrnn_jax import report, suite

      records = suite.run(_CONFIG.value, _WORKDIR.value)
      print(f"measured in {time.perf_counter() - start:.0f}s; writing the report")
      command = shlex.join(["python", "-m", "experiments.compare"] + sys.argv[1:])
      rep = report.build(_CONFIG.value, records, command=command)
      paths = report.write(rep, _WORKDIR.value)
  except errors.ConfigError as e:
    sys.exit(f"config error: {e}")
  except errors.WriteError as e:
    print(f"write error: {e}; the records written so far are kept: rerun to go on", file=sys.stderr)
    sys.exit(errors.EXIT_IO)
  except errors.Interrupted as e:
    print(f"interrupted: {e}; the records written so far are kept", file=sys.stderr)
    sys.exit(errors.EXIT_INTERRUPTED)
  print()
  print(report.verdict_text(rep))
  print(f"\nreport: {paths['md']} and {paths['html']} ({time.perf_counter() - start:.0f}s in all)")


if __name__ == "__main__":
  cli.run(main)
