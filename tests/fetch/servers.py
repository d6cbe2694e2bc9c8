"""Hostile little HTTP servers on 127.0.0.x that the fetch tests start themselves.

`Site(host)` is a threaded HTTP/1.1 server bound to an ephemeral port on `host` (any address of
127.0.0.0/8 routes locally on Linux, and each address is a separate host for Scrapy's per-host
slots). Routes map a path to a function `(handler) -> None` that writes the whole response, so a
route can misbehave in any way a real server can: drip bytes, hang, reset the connection. Every
request is recorded as (path, monotonic time) in `site.hits`.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server writes the headers and the body in separate send()s. On a keep-alive
    # connection, Nagle's algorithm then holds the body until the client ACKs the headers, which
    # the client delays by up to 40 ms: every request after a connection's first few would take
    # 40 ms more. Real servers set TCP_NODELAY on keep-alive connections; so does this one.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        site = self.server.site
        path = self.path
        with site.lock:
            site.hits.append((path, time.monotonic()))
        route = site.routes.get(path.split("?", 1)[0])
        if route is None:
            send(self, 404, b"<html><body>not found</body></html>")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass


def send(h, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8", headers=()):
    h.send_response(status)
    if ctype:
        h.send_header("Content-Type", ctype)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def page(title: str, text: str = "") -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body><p>{text or title}</p></body></html>".encode()


def html(body: bytes, ctype="text/html; charset=utf-8", status=200, headers=()):
    return lambda h: send(h, status, body, ctype, headers)


def redirect(location: str, status: int = 302):
    return lambda h: send(h, status, b"", "text/html", [("Location", location)])


def status(code: int, headers=()):
    return lambda h: send(h, code, page(f"status {code}"), "text/html; charset=utf-8", headers)


def hang(seconds: float = 20.0):
    def route(h):
        time.sleep(seconds)

    return route


def drip(total: int = 1000, every: float = 0.25):
    """Declares `total` bytes, then sends one byte every `every` seconds."""

    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        for _ in range(total):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(every)

    return route


def big(size: int, declare_length: bool = True):
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        if declare_length:
            h.send_header("Content-Length", str(size))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        chunk = b"<p>" + b"a" * 65530 + b"</p>"
        sent = 0
        while sent < size:
            h.wfile.write(chunk)
            sent += len(chunk)
        h.close_connection = True

    return route


def gzip_bomb(decompressed: int):
    body = gzip.compress(b"<html>" + b"\0" * decompressed, compresslevel=9)

    def route(h):
        send(h, 200, body, "text/html", [("Content-Encoding", "gzip")])

    return route, len(body)


def reset_mid_body(declared: int = 10000, sent: int = 100):
    """Declares a body, sends part of it, then resets the connection (RST, not FIN)."""

    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(declared))
        h.end_headers()
        h.wfile.write(b"<html>" + b"a" * sent)
        h.wfile.flush()
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True

    return route


class Site:
    def __init__(self, host: str = "127.0.0.1", routes: dict | None = None):
        self.routes = dict(routes or {})
        self.hits: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, client_address: None  # clients hang up (kills, caps): quiet
        self.httpd.site = self
        self.host, self.port = host, self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [p for p, _ in self.hits]

    def times(self, path: str) -> list[float]:
        with self.lock:
            return [t for p, t in self.hits if p == path]

    def __enter__(self) -> "Site":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that nothing listens on (for connection-refused cases)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port
