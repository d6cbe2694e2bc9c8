"""A Hugging Face Hub-shaped HTTP server on 127.0.0.1: the endpoints `HfApi.create_repo`,
`create_branch` and `upload_folder` (non-Xet path: preupload, LFS batch + PUT, NDJSON commit, tree
listing) call, written from the Hub's HTTP API as huggingface_hub uses it. Repositories live in a
folder, `ROOT/<type>s/<org>/<name>/<branch>/<path>`, so a test can read back what was committed.

Requests it does not implement answer 501 and are recorded in `server.unknown`, so a test fails
loudly if the library starts calling something else. The real Hub cannot be reached from here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

TOKEN = "hf_test_token"
LICENSES = {"other", "unknown", "mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "odc-by",
            "gpl-3.0", "openrail"}
TASK_CATEGORIES = {"text-generation", "text-classification", "fill-mask", "summarization", "translation",
                   "question-answering", "token-classification", "feature-extraction"}
SIZE_CATEGORIES = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
                   "10B<n<100B", "100B<n<1T", "n>1T"}


class HubServer:
    def __init__(self, root: Path):
        self.root = root
        self.unknown: list[str] = []
        self.validated: list[dict] = []
        self.commits: list[dict] = []
        self.lfs: dict[str, bytes] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def repo_dir(self, kind: str, repo: str, branch: str = "main") -> Path:
        return self.root / f"{kind}s" / repo / branch

    def files(self, kind: str, repo: str, branch: str = "main") -> dict[str, bytes]:
        base = self.repo_dir(kind, repo, branch)
        return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _json(self, code: int, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._json(401, {"error": "Invalid credentials in Authorization header"})
                return False
            return True

        def _unknown(self) -> None:
            hub.unknown.append(f"{self.command} {self.path}")
            self._json(501, {"error": f"not implemented: {self.command} {self.path}"})

        # ---- routes
        def do_POST(self):
            path = urlparse(self.path).path
            if not self._authorised():
                return
            if path == "/api/validate-yaml":
                return self._validate_yaml(json.loads(self._body()))
            if path == "/api/repos/create":
                body = json.loads(self._body())
                repo = f"{body.get('organization') or 'user'}/{body['name']}" if "/" not in body["name"] else body["name"]
                kind = body.get("type", "model")
                hub.repo_dir(kind, repo).mkdir(parents=True, exist_ok=True)
                return self._json(200, {"url": f"{hub.url}/{kind}s/{repo}", "name": repo})
            m = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)/branch/(.+)", path)
            if m:
                kind, repo, branch = m.group(1)[:-1], m.group(2), unquote(m.group(3))
                src, dst = hub.repo_dir(kind, repo), hub.repo_dir(kind, repo, branch)
                if not dst.exists():
                    shutil.copytree(src, dst)
                return self._json(200, {})
            m = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)/preupload/(.+)", path)
            if m:
                files = json.loads(self._body())["files"]
                modes = [{"path": f["path"], "uploadMode": "lfs" if f["path"].endswith((".parquet", ".png")) else "regular",
                          "shouldIgnore": False} for f in files]
                return self._json(200, {"files": modes})
            m = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
            if m:
                req = json.loads(self._body())
                objects = []
                for o in req["objects"]:
                    entry = {"oid": o["oid"], "size": o["size"]}
                    if o["oid"] not in hub.lfs:
                        entry["actions"] = {"upload": {"href": f"{hub.url}/lfs-upload/{o['oid']}"}}
                    objects.append(entry)
                return self._json(200, {"transfer": "basic", "objects": objects})
            m = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)/commit/(.+)", path)
            if m:
                kind, repo, branch = m.group(1)[:-1], m.group(2), unquote(m.group(3))
                return self._commit(kind, repo, branch)
            return self._unknown()

        def do_PUT(self):
            path = urlparse(self.path).path
            m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
            if m:
                data = self._body()
                if hashlib.sha256(data).hexdigest() != m.group(1):
                    return self._json(400, {"error": "sha256 mismatch"})
                hub.lfs[m.group(1)] = data
                return self._json(200, {})
            return self._unknown()

        def do_GET(self):
            path = urlparse(self.path).path
            m = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path)
            if m:
                kind, repo, branch = m.group(1)[:-1], m.group(2), unquote(m.group(3))
                base = hub.repo_dir(kind, repo, branch)
                if not base.exists():
                    return self._json(404, {"error": "Revision not found"})
                entries = [{"type": "file", "path": str(p.relative_to(base)), "size": p.stat().st_size,
                            "oid": hashlib.sha1(p.read_bytes()).hexdigest()}
                           for p in sorted(base.rglob("*")) if p.is_file()]
                return self._json(200, entries)
            return self._unknown()

        def _validate_yaml(self, body: dict):
            """The Hub's README metadata check, for the dataset-card fields the project writes
            (values from the Hub's documented enums)."""
            import yaml

            content = body.get("content", "")
            errors = []
            meta = {}
            if content.startswith("---\n"):
                try:
                    meta = yaml.safe_load(content.split("---\n")[1]) or {}
                except yaml.YAMLError as exc:
                    errors.append(f"invalid YAML: {exc}")
            hub.validated.append(meta)
            if body.get("repoType") == "dataset" and isinstance(meta, dict):
                if "license" in meta and meta["license"] not in LICENSES:
                    errors.append(f'"license" must be one of the Hub licences, not {meta["license"]!r}')
                if meta.get("license") == "other" and not meta.get("license_name"):
                    errors.append('"license_name" is required when "license" is "other"')
                for field, allowed in (("task_categories", TASK_CATEGORIES), ("size_categories", SIZE_CATEGORIES)):
                    for v in meta.get(field) or []:
                        if v not in allowed:
                            errors.append(f'"{field}" has an unknown value {v!r}')
                for lang in meta.get("language") or []:
                    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", lang):
                        errors.append(f'"language" has an invalid code {lang!r}')
                for cfg in meta.get("configs") or []:
                    if not isinstance(cfg, dict) or "config_name" not in cfg:
                        errors.append('"configs" entries need a "config_name"')
                        continue
                    files = cfg.get("data_files")
                    if not files or not all(isinstance(f, dict) and {"split", "path"} <= set(f) for f in files):
                        errors.append('"data_files" must be a list of {split, path}')
            elif not isinstance(meta, dict):
                errors.append("metadata must be a mapping")
            if errors:
                return self._json(400, {"errors": [{"message": e} for e in errors]})
            return self._json(200, {"warnings": []})

        def _commit(self, kind: str, repo: str, branch: str):
            base = hub.repo_dir(kind, repo, branch)
            if not base.exists():
                return self._json(404, {"error": "Revision not found"})
            header, ops = None, []
            for line in self._body().decode().splitlines():
                if line.strip():
                    item = json.loads(line)
                    if item["key"] == "header":
                        header = item["value"]
                    else:
                        ops.append(item)
            for item in ops:  # check every LFS pointer before changing anything: a commit is all or nothing
                if item["key"] == "lfsFile" and item["value"]["oid"] not in hub.lfs:
                    return self._json(422, {"error": f"LFS object {item['value']['oid']} was never uploaded"})
            for item in ops:
                v = item["value"]
                target = base / v["path"]
                if item["key"] == "file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(v["content"]))
                elif item["key"] == "lfsFile":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(hub.lfs[v["oid"]])
                elif item["key"] == "deletedFile":
                    target.unlink(missing_ok=True)
                else:
                    return self._json(400, {"error": f"unknown operation {item['key']}"})
            hub.commits.append({"repo": repo, "branch": branch, "summary": (header or {}).get("summary"),
                                "ops": [(i["key"], i["value"]["path"]) for i in ops]})
            oid = hashlib.sha1(json.dumps(hub.commits[-1]).encode()).hexdigest()
            return self._json(200, {"commitUrl": f"{hub.url}/{kind}s/{repo}/commit/{oid}", "commitOid": oid})

    return Handler
