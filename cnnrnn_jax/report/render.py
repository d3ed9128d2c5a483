"""The document: a `Report` of blocks, rendered to Markdown and to HTML, and written out."""

from __future__ import annotations

import base64
import dataclasses
import html
import os

from cnnrnn_jax import workdir as workdir_module
from cnnrnn_jax.report.rows import Row
from cnnrnn_jax.tables import markdown_table


@dataclasses.dataclass
class Report:
  """A title, the blocks in order, the verdict rows, and the PNG of every 'img' block."""

  title: str
  blocks: list[tuple]  # ('h2', text) | ('p', text) | ('table', header, rows)
  #                      | ('img', filename, caption)
  rows: list[Row]
  images: dict[str, bytes]  # filename -> PNG bytes


def to_markdown(report: Report) -> str:
  """The report as Markdown; images are referenced by file name."""
  out = [f"# {report.title}"]
  for block in report.blocks:
    if block[0] == "h2":
      out.append(f"## {block[1]}")
    elif block[0] == "p":
      out.append(block[1])
    elif block[0] == "table":
      out.append(markdown_table(block[1], block[2]))
    elif block[0] == "img":
      out.append(f"![{block[2]}]({block[1]})\n\n*{block[2]}*")
  return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
  """Escaped text with **bold** and `code` as HTML."""
  text = html.escape(str(text))
  parts = text.split("**")
  text = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
  parts = text.split("`")
  return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_CSS = (
  "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
  "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}"
  "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f3f3f3}"
  "img{max-width:100%}code{background:#f3f3f3;padding:0 3px}.cap{color:#555}"
)


def _paragraph_html(text: str) -> list[str]:
  """A 'p' block: one <p> per line, runs of '- ' lines as a <ul>."""
  out, items = [], []
  for line in text.split("\n") + [""]:
    if line.startswith("- "):
      items.append(f"<li>{_inline_html(line[2:])}</li>")
      continue
    if items:
      out.append("<ul>" + "".join(items) + "</ul>")
      items = []
    if line:
      out.append(f"<p>{_inline_html(line)}</p>")
  return out


def to_html(report: Report) -> str:
  """The report as one self-contained HTML page (PNGs embedded)."""
  title = html.escape(report.title)
  out = [
    f"<!doctype html><html><head><meta charset='utf-8'><title>{title}"
    f"</title><style>{_CSS}</style></head><body><h1>{title}</h1>"
  ]
  for block in report.blocks:
    if block[0] == "h2":
      out.append(f"<h2>{_inline_html(block[1])}</h2>")
    elif block[0] == "p":
      out += _paragraph_html(block[1])
    elif block[0] == "table":
      head = "".join(f"<th>{_inline_html(h)}</th>" for h in block[1])
      body = "".join(
        "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block[2]
      )
      out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    elif block[0] == "img":
      data = base64.b64encode(report.images[block[1]]).decode()
      caption = html.escape(block[2])
      out.append(
        f"<figure><img src='data:image/png;base64,{data}' alt='{caption}'>"
        f"<figcaption class='cap'>{caption}</figcaption></figure>"
      )
  out.append("</body></html>")
  return "\n".join(out)


def verdict_text(report: Report) -> str:
  """The verdict table as Markdown: what the terminal prints (a report without one, such as
  the map's: its first table)."""
  found = [block for block in report.blocks if block[0] == "table" and block[1]]
  for block in found:
    if block[1][0] == "criterion":
      return markdown_table(block[1], block[2])
  return markdown_table(found[0][1], found[0][2]) if found else ""


def write(report: Report, workdir: str) -> dict[str, str]:
  """Writes report.md, the PNGs next to it, and report.html into `workdir`; returns the paths
  {'md': ..., 'html': ...}."""
  paths = {"md": os.path.join(workdir, "report.md"), "html": os.path.join(workdir, "report.html")}
  for name, data in report.images.items():
    workdir_module.write_bytes(os.path.join(workdir, name), data)
  workdir_module.write_atomic(paths["md"], to_markdown(report))
  workdir_module.write_atomic(paths["html"], to_html(report))
  return paths
