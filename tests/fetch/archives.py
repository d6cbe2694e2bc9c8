"""Real archive servers for the archive-source tests, all on 127.0.0.1, started by the tests.

- `Pywb`: the real pywb (PyPI `pywb`, from `.venv-pywb`, made by scripts/install-pywb.sh), with
  collections built at test time (`wb-manager init` + `wb-manager add`) from WARCs the tests write
  with `write_captures`. Serves the CDX API (`/COLL/cdx`) and raw playback (`/COLL/<ts>id_/<url>`).
- `RangeServer`: Twisted's static file server (`twistd web --path`), which answers HTTP Range
  requests with 206 Partial Content: the stand-in for Common Crawl's data host.
- `FakeWayback`: a small CDX + playback server that records when each request arrived and can
  answer 429 with Retry-After, for the politeness and resume tests (pywb never sends a 429).

Tests skip with the reason when `.venv-pywb` is absent (`make test` creates it).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
PYWB_VENV = Path(os.environ.get("WEBTEXT_PYWB_VENV", REPO / ".venv-pywb"))
HAVE_PYWB = (PYWB_VENV / "bin" / "wayback").exists()
requires_pywb = pytest.mark.skipif(
    not HAVE_PYWB, reason=f"pywb's environment {PYWB_VENV} is missing: run `make pywb-env` (make test creates it)"
)


def write_captures(path: Path, captures) -> Path:
    """A WARC of response records: each capture is (url, ISO date, status line, [(header, value)], body)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, date, status, headers, body in captures:
            http = StatusAndHeaders(status, list(headers) + [("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                                warc_headers_dict={"WARC-Date": date}))
    return path


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


class Pywb:
    """`wayback` on 127.0.0.1 serving the collections under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def _manager(self, *args: str) -> None:
        subprocess.run([str(PYWB_VENV / "bin" / "wb-manager"), *args], cwd=self.root, check=True,
                       capture_output=True, timeout=120)

    def add_collection(self, name: str, warcs) -> None:
        if not (self.root / "collections" / name).exists():
            self._manager("init", name)
        self._manager("add", name, *map(str, warcs))

    def url(self, coll: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{coll}".rstrip("/")

    def __enter__(self) -> "Pywb":
        self.log = open(self.root / "wayback.log", "wb")
        self.proc = subprocess.Popen(
            [str(PYWB_VENV / "bin" / "wayback"), "-p", str(self.port), "-b", "127.0.0.1", "-d", str(self.root)],
            cwd=self.root, stdout=self.log, stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "pywb")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RangeServer:
    """Twisted's static file server on 127.0.0.1 for `folder` (answers Range requests with 206)."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = Path(folder), free_port(), None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "RangeServer":
        twistd = Path(sys.executable).parent / "twistd"
        self.proc = subprocess.Popen(
            [str(twistd), "--nodaemon", "--pidfile=", "--logfile=-", "web", "--path", str(self.folder),
             "--listen", f"tcp:{self.port}:interface=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "twistd web")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server.fake
        with srv.lock:
            srv.hits.append((self.path, time.monotonic()))
            n429 = srv.throttle_first
            if n429:
                srv.throttle_first -= 1
        if n429:
            return self._send(429, b"slow down", "text/plain", [("Retry-After", str(srv.retry_after))])
        parts = urlsplit(self.path)
        if parts.path == "/coll/cdx":
            url = parse_qs(parts.query)["url"][0]
            if url not in srv.pages:
                return self._send(200, b"", "text/plain")
            line = json.dumps({"timestamp": srv.timestamp, "url": url, "status": "200", "mime": "text/html"})
            return self._send(200, line.encode() + b"\n", "text/x-ndjson")
        prefix = f"/coll/{srv.timestamp}id_/"
        if parts.path.startswith(prefix):
            url = self.path[len(prefix):]
            if url in srv.pages:
                time.sleep(srv.delay)
                return self._send(200, srv.pages[url], "text/html; charset=utf-8",
                                  [("Memento-Datetime", "Wed, 01 Mar 2017 10:00:00 GMT")])
        return self._send(404, b"not found", "text/plain")

    def _send(self, status, body, ctype, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeWayback:
    """CDX + `id_` playback of `pages` (url -> HTML bytes) at /coll, one capture each at `timestamp`."""

    def __init__(self, pages: dict[str, bytes], timestamp: str = "20170301100000", delay: float = 0.0):
        self.pages, self.timestamp, self.delay = pages, timestamp, delay
        self.hits: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.throttle_first, self.retry_after = 0, 1
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHandler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/coll"

    def queried(self, since: int = 0) -> list[str]:
        """The URLs whose CDX was asked for, in order (from the `since`-th request on)."""
        with self.lock:
            return [parse_qs(urlsplit(p).query)["url"][0] for p, _ in self.hits[since:] if p.startswith("/coll/cdx")]

    def __enter__(self) -> "FakeWayback":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
