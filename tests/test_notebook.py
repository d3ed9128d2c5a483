"""The lesson notebook runs top to bottom (small mode) in a kernel of this interpreter."""

import json
import os
import pathlib
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "cnn_vs_rnn.ipynb"
KERNEL = "cnnrnn-notebook-test"
# Regenerate the committed outputs after changing the notebook or what it shows:
#   python tests/test_notebook.py --write


def write_kernelspec(jupyter_dir: pathlib.Path) -> None:
  """A kernelspec under `jupyter_dir` whose kernel is `sys.executable` (this venv)."""
  spec_dir = jupyter_dir / "kernels" / KERNEL
  spec_dir.mkdir(parents=True, exist_ok=True)
  (spec_dir / "kernel.json").write_text(
    json.dumps(
      {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cnnrnn test",
        "language": "python",
      }
    )
  )


def execute_small(workdir: pathlib.Path) -> nbformat.NotebookNode:
  """The notebook executed in small mode (CNNRNN_NOTEBOOK_SMALL=1, runs under `workdir`) in a
  kernel of this interpreter; raises CellExecutionError, naming the cell, if any cell fails.
  The caller sets JUPYTER_PATH to a folder holding `write_kernelspec`'s kernelspec."""
  os.environ["CNNRNN_NOTEBOOK_SMALL"] = "1"
  os.environ["CNNRNN_NOTEBOOK_WORKDIR"] = str(workdir)
  # Small mode is dominated by XLA compiling ~30 programs once each; skipping LLVM's
  # optimisation passes cuts the kernel's CPU time by about a third and changes no result.
  os.environ["XLA_FLAGS"] = " ".join(
    [
      os.environ.get("XLA_FLAGS", ""),
      "--xla_backend_optimization_level=0",
      "--xla_llvm_disable_expensive_passes=true",
    ]
  ).strip()
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = NotebookClient(
    nb, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
  )
  client.execute()
  nb.metadata.kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
  return nb


@pytest.mark.slow  # a kernel that trains five models and draws 17 figures
def test_notebook_executes_in_small_mode(tmp_path, monkeypatch):
  for name in ("CNNRNN_NOTEBOOK_SMALL", "CNNRNN_NOTEBOOK_WORKDIR", "XLA_FLAGS"):
    monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
  write_kernelspec(tmp_path / "jupyter")
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  committed = nbformat.read(NOTEBOOK, as_version=4)
  nb = execute_small(tmp_path / "work")

  # Committed executed (small mode), so a code host shows its figures; with no machine paths.
  shown = [out for cell in committed.cells if cell.cell_type == "code" for out in cell.outputs]
  assert sum("image/png" in out.get("data", {}) for out in shown) == 17
  assert "/tmp/" not in NOTEBOOK.read_text() and str(NOTEBOOK.parent) not in NOTEBOOK.read_text()

  outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
  text = "".join(out.get("text", "") for out in outputs)
  markdown = "".join(out.get("data", {}).get("text/markdown", "") for out in outputs)
  pngs = [out for out in outputs if "image/png" in out.get("data", {})]
  assert "cnnrnn_jax from: .. | Colab: False" in text  # this checkout's code
  assert "compiled the train step in " in text  # progress shown, windows with rate and ETA
  assert re.search(r"steps/s( .* of peak\))?  ETA ", text)
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
  # every figure of viz.render_figures for the two sentences, then the attention picture
  assert len(pngs) == 17
  for name in ("seq2seq_lstm", "transformer_s2s"):
    assert f"{name:15s} " in text and (tmp_path / "work" / name / "metrics.jsonl").is_file()
  assert "eval token accuracy" in text and "greedy: 'fadjcgbe' -> " in text
  assert (tmp_path / "work" / "lstm" / "metrics.jsonl").is_file()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
  import tempfile

  with tempfile.TemporaryDirectory() as tmp:
    write_kernelspec(pathlib.Path(tmp) / "jupyter")
    os.environ["JUPYTER_PATH"] = str(pathlib.Path(tmp) / "jupyter")
    executed = execute_small(pathlib.Path(tmp) / "work")
  nbformat.write(executed, NOTEBOOK)
