"""A Google Cloud Storage JSON API on 127.0.0.1 for tests: the calls TensorStore's `gcs` driver
makes (Orbax writes and reads checkpoint arrays through it), over objects kept in an fsspec
in-memory filesystem, so that etils.epath (through fsspec) sees the same bucket.

TensorStore is pointed here with TENSORSTORE_GCS_HTTP_URL and GOOGLE_AUTH_TOKEN_FOR_TESTING
(a fixed token instead of a credentials lookup). What it calls, all under /b/BUCKET:

  POST   /upload/storage/v1/b/B/o?uploadType=media&name=N   write an object
  GET    /storage/v1/b/B/o/N?alt=media  (with a Range)      read bytes of it
  GET    /storage/v1/b/B/o/N?alt=json                       its metadata (generation, size)
  DELETE /storage/v1/b/B/o/N                                delete it
  GET    /storage/v1/b/B/o?startOffset=A&endOffset=Z        list names in [A, Z)

each with the preconditions ifGenerationMatch (0: the object must not exist) and, on reads,
ifGenerationNotMatch. An object's generation is derived from its bytes (equal bytes, equal
generation), so an object written through fsspec has one too; for TensorStore, which uses
generations to tell whether what it cached or read is still current, that is what matters.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import urllib.parse

from fsspec.implementations.memory import MemoryFileSystem


def generation(data: bytes) -> int:
  """A positive 63-bit generation number for an object holding `data`."""
  return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") >> 1 | 1


class FakeGcs:
  """Serves gs://BUCKET/NAME from `files.store["BUCKET/NAME"]` (gcsfs's naming) until `close()`."""

  def __init__(self, files: MemoryFileSystem):
    self.files = files
    self.lock = threading.Lock()  # preconditions are checked and acted on atomically
    self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
    self.server.daemon_threads = True
    self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
    self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
    self.thread.start()

  def close(self) -> None:
    """Stops serving (the objects stay in `files`)."""
    self.server.shutdown()
    self.server.server_close()
    self.thread.join()

  def read(self, key: str) -> bytes | None:
    """The bytes of object `key` ("BUCKET/NAME"), None if there is none."""
    found = self.files.store.get(key)
    return None if found is None else found.getvalue()

  def metadata(self, bucket: str, name: str, data: bytes) -> dict:
    """The JSON API's object resource: the fields TensorStore reads (size, generation)."""
    return {
      "kind": "storage#object",
      "bucket": bucket,
      "name": name,
      "size": str(len(data)),
      "generation": str(generation(data)),
      "metageneration": "1",
    }


def _precondition_fails(query: dict, data: bytes | None) -> int | None:
  """The HTTP status that a failed ifGenerationMatch / ifGenerationNotMatch answers, or None."""
  current = 0 if data is None else generation(data)
  if "ifGenerationMatch" in query and int(query["ifGenerationMatch"]) != current:
    return 412
  if "ifGenerationNotMatch" in query and int(query["ifGenerationNotMatch"]) == current:
    return 304
  return None


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
  """[start, stop) of an HTTP `Range: bytes=...` header (a-b, a- or -n), None if unsatisfiable."""
  first, last = header.removeprefix("bytes=").split("-")
  if not first:
    start, stop = max(size - int(last), 0), size
  else:
    start, stop = int(first), size if not last else min(int(last) + 1, size)
  return (start, stop) if start < stop else None


def _handler(gcs: FakeGcs) -> type[http.server.BaseHTTPRequestHandler]:
  class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect

    def log_message(self, format, *args):  # the base class's signature
      pass  # quiet: pytest shows failures, not every request

    def route(self) -> tuple[list[str], dict[str, str]]:
      url = urllib.parse.urlsplit(self.path)
      query = dict(urllib.parse.parse_qsl(url.query))
      return [urllib.parse.unquote(part) for part in url.path.split("/")], query

    def reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
      self.send_response(status)
      for key, value in (headers or {}).items():
        self.send_header(key, value)
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def reply_json(self, value: dict) -> None:
      self.reply(200, json.dumps(value).encode(), {"Content-Type": "application/json"})

    def do_POST(self):  # http.server's naming
      parts, query = self.route()
      data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
      if parts[1:5] != ["upload", "storage", "v1", "b"] or parts[6:] != ["o"]:
        return self.reply(404)
      bucket, name = parts[5], query["name"]
      key = f"{bucket}/{name}"
      with gcs.lock:
        failed = _precondition_fails(query, gcs.read(key))
        if failed is None:
          gcs.files.pipe_file(key, data)
      if failed is not None:
        return self.reply(failed)
      self.reply_json(gcs.metadata(bucket, name, data))

    def do_GET(self):
      parts, query = self.route()
      if parts[1:4] != ["storage", "v1", "b"] or len(parts) < 6 or parts[5] != "o":
        return self.reply(404)
      bucket = parts[4]
      if len(parts) == 6:  # a listing of the names in [startOffset, endOffset)
        root = f"{bucket}/"
        start, end = query.get("startOffset", ""), query.get("endOffset")
        items = [
          gcs.metadata(bucket, key[len(root) :], gcs.read(key))
          for key in sorted(gcs.files.store)
          if key.startswith(root)
          and start <= key[len(root) :]
          and (end is None or key[len(root) :] < end)
        ]
        return self.reply_json({"kind": "storage#objects", "items": items})
      name = "/".join(parts[6:])
      data = gcs.read(f"{bucket}/{name}")
      if data is None:
        return self.reply(404)
      failed = _precondition_fails(query, data)
      if failed is not None:
        return self.reply(failed)
      meta = gcs.metadata(bucket, name, data)
      if query.get("alt") != "media":
        return self.reply_json(meta)
      headers = {"x-goog-generation": meta["generation"]}
      if "Range" not in self.headers:
        return self.reply(200, data, headers)
      span = _byte_range(self.headers["Range"], len(data))
      if span is None:
        return self.reply(416)
      start, stop = span
      headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
      self.reply(206, data[start:stop], headers)

    def do_DELETE(self):
      parts, query = self.route()
      if parts[1:4] != ["storage", "v1", "b"] or len(parts) < 7 or parts[5] != "o":
        return self.reply(404)
      key = f"{parts[4]}/{'/'.join(parts[6:])}"
      with gcs.lock:
        data = gcs.read(key)
        failed = 404 if data is None else _precondition_fails(query, data)
        if failed is None:
          gcs.files.rm_file(key)
      self.reply(failed or 204)

  return Handler
