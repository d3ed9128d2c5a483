"""The lesson notebook runs top to bottom (small mode) in a kernel of this interpreter."""

import json
import os
import pathlib
import sys

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "cnn_vs_rnn.ipynb"
KERNEL = "cnnrnn-notebook-test"


@pytest.fixture
def kernel_of_this_python(tmp_path, monkeypatch):
  """A kernelspec in a temp dir whose kernel is `sys.executable` (this venv), found first."""
  spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(
    json.dumps(
      {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cnnrnn test",
        "language": "python",
      }
    )
  )
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  return KERNEL


@pytest.mark.slow  # a kernel that trains three models and draws 16 figures
def test_notebook_executes_in_small_mode(kernel_of_this_python, tmp_path, monkeypatch):
  monkeypatch.setenv("CNNRNN_NOTEBOOK_SMALL", "1")
  monkeypatch.setenv("CNNRNN_NOTEBOOK_WORKDIR", str(tmp_path / "work"))
  # Small mode is dominated by XLA compiling ~30 programs once each; skipping LLVM's
  # optimisation passes cuts the kernel's CPU time by about a third and changes no result.
  monkeypatch.setenv(
    "XLA_FLAGS",
    " ".join(
      [
        os.environ.get("XLA_FLAGS", ""),
        "--xla_backend_optimization_level=0",
        "--xla_llvm_disable_expensive_passes=true",
      ]
    ).strip(),
  )
  nb = nbformat.read(NOTEBOOK, as_version=4)
  assert not any(cell.get("outputs") for cell in nb.cells), "commit the notebook without outputs"
  client = NotebookClient(
    nb,
    timeout=300,
    kernel_name=kernel_of_this_python,
    resources={"metadata": {"path": str(NOTEBOOK.parent)}},
  )
  client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

  outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
  text = "".join(out.get("text", "") for out in outputs)
  markdown = "".join(out.get("data", {}).get("text/markdown", "") for out in outputs)
  pngs = [out for out in outputs if "image/png" in out.get("data", {})]
  assert "cnnrnn_jax from: " + str(NOTEBOOK.parent.parent) in text  # this checkout's code
  assert (
    "max-pooling keeps 'love this'" in text
    or "max-pooling keeps 'i love'" in text
    or "max-pooling keeps 'this movie'" in text
  )
  assert "h4 (after 'movie')" in text
  assert "| `scan_sequence` (sequential) | 1 | 4 |" in markdown
  assert "| `conv1d_vmap` (parallel) | 0 | 1 |" in markdown
  for name in ("cnn", "lstm", "cnn_lstm"):
    assert f"| {name} |" in markdown and f"{name:9s} P(positive) word by word" in text
  assert len(pngs) == 16  # every figure of viz.render_figures for the two sentences
  assert (tmp_path / "work" / "lstm" / "metrics.jsonl").is_file()
