"""What every entry point reads before absl: the preset listing, one --config style."""

import os
import subprocess
import sys

import pytest

from cnnrnn_jax import command_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_preset_listing_is_generated_from_every_config_file():
  listing = command_line.preset_listing()
  files = sorted(f for f in os.listdir(os.path.join(ROOT, "cnnrnn_jax", "configs")) if f[0] != "_")
  shown = [line.split()[0] for line in listing.splitlines() if line.startswith("--config=")]
  assert shown == [f"--config=cnnrnn_jax/configs/{f}" for f in files if f.endswith(".py")]
  assert "presets: linear, dlinear, cnn" in listing  # ett.py's PRESETS table
  assert "`preset` is 'MODEL' or 'MODEL,TASK' (e.g. 'cnn,motif'). (optional)" in listing


@pytest.mark.slow  # fresh interpreters importing the entry points
@pytest.mark.parametrize("module", ["train", "compare", "param_counts"])
def test_list_presets_from_another_directory(module, tmp_path):
  result = subprocess.run(
    [sys.executable, "-m", f"experiments.{module}", "--list_presets"],
    cwd=tmp_path,
    env={**os.environ, "PYTHONPATH": ROOT},
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout == command_line.preset_listing() + "\n"


@pytest.mark.slow  # a fresh interpreter importing the entry point
def test_console_script_runs_the_module_as_main(tmp_path):
  call = "import sys; from experiments import scripts; sys.argv[1:] = ['--list_presets']; "
  result = subprocess.run(
    [sys.executable, "-c", call + "scripts.compare()"],
    cwd=tmp_path,
    env={**os.environ, "PYTHONPATH": ROOT},
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout == command_line.preset_listing() + "\n"
