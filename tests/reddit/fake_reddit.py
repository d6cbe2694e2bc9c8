"""A Reddit-shaped HTTP server on 127.0.0.1, for praw to talk to in tests.

It speaks the parts of Reddit's API a read-only harvest uses, the way Reddit does:

- `POST /api/v1/access_token` with HTTP basic auth (client id and secret) and
  `grant_type=client_credentials` -> `{"access_token", "token_type", "expires_in", "scope"}`;
  wrong credentials -> 401.
- `GET /r/<name>/<new|hot|top>` with `Authorization: bearer <token>` -> a Listing of `t3`
  children, `limit` capped at `page_size` (Reddit caps at 100), paged with `after=t3_<id>`;
  `after` in the answer is null on the last page. A missing or wrong token -> 401; an unknown
  subreddit -> 404.
- Every API answer carries `x-ratelimit-remaining/used/reset`. `throttle_next = n` makes the next
  n listing requests answer 429 with `Retry-After` and `x-ratelimit-remaining: 0`.

Every request is logged in `requests` as (method, path, query dict, status, authorization header
present) so tests can see paging, retries and the token flow.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeReddit:
    def __init__(
        self,
        subreddits: dict[str, list[dict]],
        *,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        page_size: int = 10,
        reset_seconds: int = 1,
    ):
        # Listings are newest first, as Reddit serves /new.
        self.subreddits = {
            name.lower(): sorted(items, key=lambda d: (-float(d["created_utc"]), d["id"]))
            for name, items in subreddits.items()
        }
        self.client_id, self.client_secret = client_id, client_secret
        self.page_size = page_size
        self.reset_seconds = reset_seconds
        self.token = "fake-token-0123456789"
        self.throttle_next = 0
        self.requests: list[tuple] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeReddit":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def statuses(self, path_prefix: str) -> list[int]:
        return [r[3] for r in self.requests if r[1].startswith(path_prefix)]

    # -----------------------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.requests.append(
                        (self.command, parts.path, parse_qs(parts.query), status, "Authorization" in self.headers)
                    )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if urlsplit(self.path).path != "/api/v1/access_token":
                    return self._send(404, {"message": "Not Found", "error": 404})
                auth = self.headers.get("Authorization", "")
                expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                if auth != f"Basic {expected}":
                    return self._send(401, {"message": "Unauthorized", "error": 401})
                if form.get("grant_type") != ["client_credentials"]:
                    return self._send(200, {"error": "unsupported_grant_type"})
                self._send(200, {"access_token": fake.token, "token_type": "bearer", "expires_in": 86400, "scope": "*"})

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if self.headers.get("Authorization") != f"bearer {fake.token}":
                    return self._send(401, {"message": "Unauthorized", "error": 401})
                segments = [s for s in parts.path.split("/") if s]
                if len(segments) != 3 or segments[0] != "r" or segments[2] not in ("new", "hot", "top"):
                    return self._send(404, {"message": "Not Found", "error": 404})
                with fake._lock:
                    throttled = fake.throttle_next > 0
                    if throttled:
                        fake.throttle_next -= 1
                if throttled:
                    return self._send(
                        429,
                        {"message": "Too Many Requests", "error": 429},
                        {
                            "Retry-After": str(fake.reset_seconds),
                            "x-ratelimit-remaining": "0",
                            "x-ratelimit-used": "100",
                            "x-ratelimit-reset": str(fake.reset_seconds),
                        },
                    )
                items = fake.subreddits.get(segments[1].lower())
                if items is None:
                    return self._send(404, {"message": "Not Found", "error": 404})
                start = 0
                if query.get("after"):
                    ids = [f"t3_{d['id']}" for d in items]
                    start = ids.index(query["after"]) + 1 if query["after"] in ids else len(items)
                limit = min(int(query.get("limit", 25)), fake.page_size, 100)
                page = items[start : start + limit]
                more = start + limit < len(items)
                body = {
                    "kind": "Listing",
                    "data": {
                        "after": f"t3_{page[-1]['id']}" if page and more else None,
                        "before": None,
                        "dist": len(page),
                        "modhash": None,
                        "children": [{"kind": "t3", "data": {"name": f"t3_{d['id']}", **d}} for d in page],
                    },
                }
                self._send(
                    200,
                    body,
                    {"x-ratelimit-remaining": "99", "x-ratelimit-used": "1", "x-ratelimit-reset": str(fake.reset_seconds)},
                )

        return Handler
