#!/usr/bin/env python
"""The whole build at scale: a synthetic Pushshift dump and WARC of N pages, `webtext build` with replay.

    .venv/bin/python benchmarks/build_scale.py --pages 10000 [--pages 30000 ...] [--workers 2]
        [--keep DIR] [--json results.json] [--reuse [--rerun-from STAGE] [--stop-after STAGE]]

For each N:

1. **Input**, generated in a work folder (seeded, so a size is the same input every time):
   - `RS_2017-12.zst`: about 1.5 N Pushshift-format submissions (the 2016-2017 field layout;
     `created_utc` as int, numeric string or float, as Pushshift's eras spell it) that harvest to
     N unique links, plus what the harvest must drop: low karma, self posts, NSFW, image hosts,
     links into Reddit and Wikipedia, posts after `--until`, reposts of one URL, malformed lines.
   - `pages-NNN.warc.gz`: the responses for those links. Article pages are made from the real
     page templates of `../shared/data/extraction` (each page's boilerplate kept, its article
     paragraphs replaced) filled with paragraphs of sentences drawn from the benchmark's gold
     article texts, so every page is different text in a real page layout; a site (domain) keeps
     one template, as real sites do. Planted: exact duplicates (the same article on a mirror
     site), near duplicates (an article with a paragraph cut and one added, on another site),
     http:// spellings that redirect to an article already linked (`duplicate_url`), mirror links
     that redirect to Wikipedia (dropped by clean), stub pages (too short), 404s, links absent from
     the archive (`not_in_archive`), and non-HTML (PDF, JPEG served without a file extension).
   The shared pages are read at run time only; nothing of them is written into the repository.
2. **The build**: `webtext build --until 2017-12 --dumps DUMP --replay WARC... --workers W --out OUT`
   in a child process, watched from here: each stage's start and end from its progress lines on
   stderr; every 0.5 s the process tree (launcher, Beam SDK workers, crawler subprocesses) is
   read from /proc. The resident high-water mark of every process is reset at each stage start
   (`/proc/PID/clear_refs` 5), so each stage's peaks are its own.
3. **Per stage**, printed: wall seconds, elements read and kept, documents/s per core by wall time
   (read / (wall x W)) and by the CPU seconds the process tree used, peak RSS of the launcher and of
   the largest other process in the tree (its command named), bytes written under the stage's
   output folder. Then the planted cases against what the manifest counted.

Figures only; nothing here asserts on time. Sizes run one after the other; `--json` appends each
result as it finishes, so a long run that is stopped keeps the sizes already done.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WEBTEXT_SHARED", REPO.parent / "shared"))
STAGES = ("harvest", "fetch", "extract", "clean", "dedup", "shards")
PAGES_PER_WARC = 2_000
START_UTC, UNTIL_END = 1451606400, 1514764800  # 2016-01-01 .. 2018-01-01 (--until 2017-12)

# The link mix, as fractions of N (the links the harvest keeps). Articles are the rest.
MIX = {
    "exact_dup": 0.03,  # the same article (same text) on a mirror site
    "near_dup": 0.04,  # an article with a paragraph cut and one added, on another site
    "http_dup": 0.01,  # http:// spelling of an article URL, 301 to the https one (duplicate_url)
    "to_wikipedia": 0.005,  # a mirror link that redirects to Wikipedia (clean: wikipedia)
    "stub": 0.025,  # a page with a few sentences only (clean: too_few_words / too_short)
    "http_404": 0.04,
    "not_in_archive": 0.03,
    "pdf": 0.01,
    "jpeg": 0.01,
}
# Submissions the harvest drops, as fractions of N.
HARVEST_DROPS = {
    "low_karma": 0.30,
    "self_post": 0.05,
    "nsfw": 0.03,
    "wikipedia": 0.03,
    "blocked_domain": 0.03,
    "reddit_link": 0.02,
    "after_until": 0.02,
    "malformed_json": 0.002,
}
REPOST = 0.10  # links submitted a second time (merged into one row by the harvest)


# --------------------------------------------------------------------------------------------- input


@dataclass
class Template:
    head: str  # HTML up to the article paragraphs (title marker inside)
    tail: str


_TITLE = "WEBTEXTTITLEMARKER"
_BODY = "WEBTEXTBODYMARKER"


def load_templates() -> tuple[list[Template], list[str]]:
    """Page templates (real pages, article paragraphs cut out) and the sentence pool (gold texts)."""
    import lxml.html

    truth = json.loads((SHARED / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    sentences = []
    for v in truth.values():
        for s in re.split(r"(?<=[.!?])\s+", v["articleBody"].replace("\n", " ")):
            if 30 <= len(s) <= 400:
                sentences.append(s.strip())
    templates = []
    for pid in sorted(truth):
        raw = gzip.decompress((SHARED / f"data/extraction/html/{pid}.html.gz").read_bytes())
        if len(raw) > 400_000:  # a few pages are 1.5 MB of scripts; keep the benchmark's disk use sane
            continue
        try:
            doc = lxml.html.fromstring(raw)
        except Exception:
            continue
        # The article container: the element whose direct <p> children hold the most text.
        best, best_len = None, 0
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            n = sum(len(c.text_content()) for c in el if c.tag == "p")
            if n > best_len:
                best, best_len = el, n
        if best is None or best_len < 500:
            continue
        ps = [c for c in best if c.tag == "p"]
        marker = lxml.html.Element("p")
        marker.text = _BODY
        best.insert(best.index(ps[0]), marker)
        for c in ps:
            best.remove(c)
        title = doc.find(".//title")
        if title is not None:
            title.text = _TITLE
        html = lxml.html.tostring(doc, encoding="unicode")
        if html.count(_BODY) != 1:
            continue
        head, _, tail = html.partition(f"<p>{_BODY}</p>")
        templates.append(Template(head, tail))
    return templates, sentences


def _paragraphs(rng: random.Random, sentences: list[str], n_min: int = 5, n_max: int = 14) -> list[str]:
    return [" ".join(rng.choice(sentences) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(n_min, n_max))]


def _page(t: Template, title: str, paragraphs: list[str]) -> bytes:
    from html import escape

    body = "".join(f"<p>{escape(p, quote=False)}</p>\n" for p in paragraphs)
    return (t.head.replace(_TITLE, escape(title, quote=False)) + body + t.tail).encode("utf-8")


@dataclass
class Plan:
    """What was planted, for comparing with the build's counts."""

    links: int = 0
    submissions: int = 0
    planted: dict = field(default_factory=dict)
    dump_bytes: int = 0
    warc_bytes: int = 0
    warcs: list = field(default_factory=list)


class _WarcOut:
    """Responses streamed into WARC files of PAGES_PER_WARC responses each (request + response)."""

    def __init__(self, folder: Path):
        self.folder, self.n, self.f, self.writer, self.paths = folder, 0, None, None, []

    def add(self, url: str, status: int, reason: str, ctype: str, body: bytes, extra=()) -> None:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter

        if self.n % PAGES_PER_WARC == 0:
            self.close()
            path = self.folder / f"pages-{len(self.paths):03d}.warc.gz"
            self.paths.append(path)
            self.f = open(path, "wb")
            self.writer = WARCWriter(self.f, gzip=True)
        self.n += 1
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Server", "nginx"), *extra]
        rec = self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body),
            http_headers=StatusAndHeaders(f"{status} {reason}", headers, protocol="HTTP/1.1"),
        )  # fmt: skip
        self.writer.write_record(rec)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def generate(work: Path, n: int, seed: int = 13) -> Plan:
    """The dump and the archive for N links (see the module docstring)."""
    import zstandard

    rng = random.Random(seed)
    templates, sentences = load_templates()
    plan = Plan()
    n_sites = max(20, n // 25)
    sites = [f"www.{rng.choice(['daily', 'the', 'metro', 'global', 'tech', 'city'])}{i}-"
             f"{rng.choice(['news', 'times', 'post', 'review', 'journal', 'blog'])}.com" for i in range(n_sites)]  # fmt: skip
    site_template = {s: rng.randrange(len(templates)) for s in sites}
    mirrors = [f"mirror{i}.example.org" for i in range(max(5, n_sites // 10))]
    for m in mirrors:
        site_template[m] = rng.randrange(len(templates))
    warc = _WarcOut(work)
    links: list[tuple[str, str]] = []  # (url as submitted, kind)
    articles: list[tuple[str, str, list[str], str]] = []  # (url, title, paragraphs, site) of real articles
    counts = {k: round(v * n) for k, v in MIX.items()}
    n_articles = n - sum(counts.values())
    plan.planted = {"articles": n_articles, **counts}

    def new_article(i: int) -> tuple[str, str, list[str], str]:
        site = rng.choice(sites)
        paras = _paragraphs(rng, sentences)
        title = paras[0].split(". ")[0][:90]
        year, month = rng.choice((2016, 2017)), rng.randint(1, 12)
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "story"
        return f"https://{site}/{year}/{month:02d}/{slug}-{i}", title, paras, site

    for i in range(n_articles):
        url, title, paras, site = new_article(i)
        warc.add(url, 200, "OK", "text/html; charset=utf-8", _page(templates[site_template[site]], title, paras))
        articles.append((url, title, paras, site))
        links.append((url, "article"))
    for i in range(counts["exact_dup"]):
        url, title, paras, site = rng.choice(articles)
        m = rng.choice(mirrors)
        copy = f"https://{m}/syndicated/{i}"
        # The mirror serves the article in the original site's layout: the same extracted text.
        warc.add(copy, 200, "OK", "text/html; charset=utf-8", _page(templates[site_template[site]], title, paras))
        links.append((copy, "exact_dup"))
    for i in range(counts["near_dup"]):
        url, title, paras, site = rng.choice(articles)
        edited = list(paras)
        edited.pop(rng.randrange(len(edited)))
        edited.insert(rng.randrange(len(edited) + 1), "Editor's note: this story was updated with more details.")
        other = rng.choice(sites)
        copy = f"https://{other}/repost/{i}"
        warc.add(copy, 200, "OK", "text/html; charset=utf-8", _page(templates[site_template[other]], title, edited))
        links.append((copy, "near_dup"))
    for i in range(counts["http_dup"]):
        url = articles[i % len(articles)][0]
        http = "http://" + url[len("https://"):] + f"?from=rss{i}"
        warc.add(http, 301, "Moved Permanently", "text/html", b"", extra=[("Location", url)])
        links.append((http, "http_dup"))
    wiki_body = _page(templates[0], "Article - Wikipedia", _paragraphs(rng, sentences))
    for i in range(counts["to_wikipedia"]):
        src, dst = f"https://{rng.choice(mirrors)}/w/{i}", f"https://en.wikipedia.org/wiki/Topic_{i}"
        warc.add(src, 301, "Moved Permanently", "text/html", b"", extra=[("Location", dst)])
        warc.add(dst, 200, "OK", "text/html; charset=utf-8", wiki_body)
        links.append((src, "to_wikipedia"))
    for i in range(counts["stub"]):
        site = rng.choice(sites)
        url = f"https://{site}/brief/{i}"
        warc.add(url, 200, "OK", "text/html; charset=utf-8", _page(templates[site_template[site]], "Brief", [rng.choice(sentences)]))
        links.append((url, "stub"))
    gone = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    for i in range(counts["http_404"]):
        url = f"https://{rng.choice(sites)}/removed/{i}"
        warc.add(url, 404, "Not Found", "text/html", gone)
        links.append((url, "http_404"))
    for i in range(counts["not_in_archive"]):
        links.append((f"https://{rng.choice(sites)}/never-archived/{i}", "not_in_archive"))
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(rng.randrange(256) for _ in range(2000))
    for i in range(counts["pdf"]):
        url = f"https://{rng.choice(sites)}/download?doc={i}"
        warc.add(url, 200, "OK", "application/pdf", pdf)
        links.append((url, "pdf"))
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(rng.randrange(256) for _ in range(3000)) + b"\xff\xd9"
    for i in range(counts["jpeg"]):
        url = f"https://{rng.choice(sites)}/photo/{i}"
        warc.add(url, 200, "OK", "image/jpeg", jpeg)
        links.append((url, "jpeg"))
    warc.close()
    plan.warcs = [str(p) for p in warc.paths]
    plan.warc_bytes = sum(p.stat().st_size for p in warc.paths)
    plan.links = len(links)

    # The dump: one qualifying submission per link (some twice), plus the records the harvest drops.
    subs = []
    rid = 10**9

    def record(url: str, score: int, created, *, is_self=False, over_18=False, sub=None) -> dict:
        nonlocal rid
        rid += 1
        sub = sub or f"sub{rng.randrange(500)}"
        host = url.split("/")[2] if "://" in url else ""
        return {
            "archived": False, "author": f"user{rng.randrange(10**5)}", "created_utc": created,
            "domain": f"self.{sub}" if is_self else (host[4:] if host.startswith("www.") else host),
            "gilded": 0, "hidden": False, "id": f"{rid:x}", "is_self": is_self, "link_flair_text": None,
            "locked": False, "num_comments": rng.randrange(40), "over_18": over_18,
            "permalink": f"/r/{sub}/comments/{rid:x}/a_post/", "retrieved_on": UNTIL_END + 86400,
            "score": score, "selftext": "", "stickied": False, "subreddit": sub,
            "thumbnail": "default", "title": "A headline", "url": url,
        }  # fmt: skip

    def when() -> object:
        t = rng.randrange(START_UTC, UNTIL_END)
        r = rng.random()
        return str(t) if r < 0.05 else float(t) + 0.0 if r < 0.10 else t  # Pushshift's eras: int, string, float

    for url, _ in links:
        subs.append(record(url, 3 + int(rng.paretovariate(1.2)), when()))
        if rng.random() < REPOST:
            subs.append(record(url, rng.randrange(3, 50), when()))
    drops = {k: round(v * n) for k, v in HARVEST_DROPS.items()}
    for i in range(drops["low_karma"]):
        subs.append(record(f"https://{rng.choice(sites)}/low/{i}", rng.randrange(-5, 3), when()))
    for i in range(drops["self_post"]):
        s = f"sub{i % 500}"
        subs.append(record(f"https://www.reddit.com/r/{s}/comments/{i:x}/post/", 10, when(), is_self=True, sub=s))
    for i in range(drops["nsfw"]):
        subs.append(record(f"https://{rng.choice(sites)}/nsfw/{i}", 10, when(), over_18=True))
    for i in range(drops["wikipedia"]):
        subs.append(record(f"https://en.wikipedia.org/wiki/Subject_{i}", 10, when()))
    for i in range(drops["blocked_domain"]):
        subs.append(record(f"https://imgur.com/gallery/{i:x}", 10, when()))
    for i in range(drops["reddit_link"]):
        subs.append(record(f"https://www.reddit.com/r/pics/comments/{i:x}/", 10, when()))
    for i in range(drops["after_until"]):
        subs.append(record(f"https://{rng.choice(sites)}/future/{i}", 10, UNTIL_END + rng.randrange(10**6)))
    rng.shuffle(subs)
    lines = [json.dumps(s, separators=(",", ":")) for s in subs]
    for _ in range(drops["malformed_json"]):
        lines.insert(rng.randrange(len(lines)), '{"id": "cut", "url": "https://cut.example/')
    plan.submissions = len(lines)
    plan.planted["harvest_drops"] = drops
    dump = work / "RS_2017-12.zst"
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
    with open(dump, "wb") as f, cctx.stream_writer(f) as w:
        for start in range(0, len(lines), 10_000):
            w.write(("\n".join(lines[start : start + 10_000]) + "\n").encode("utf-8"))
    plan.dump_bytes = dump.stat().st_size
    return plan


# --------------------------------------------------------------------------------------------- watch


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


_TICK = os.sysconf("SC_CLK_TCK")


def _proc(pid: int) -> dict | None:
    """VmHWM (KiB), CPU seconds (self + reaped children), command of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        hwm = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (OSError, IndexError, ValueError):
        return None
    cpu = sum(int(x) for x in fields[11:15]) / _TICK  # utime stime cutime cstime
    return {"hwm_kib": hwm, "cpu": cpu, "cmd": cmd}


def _reset_hwm(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _kind(cmd: str) -> str:
    if "pipelines.worker" in cmd:
        return "Beam SDK worker"
    if "webtext.fetch" in cmd or "scrapy" in cmd or "crawl" in cmd:
        return "crawler subprocess"
    return cmd[:60]


class Watch:
    """Samples the build's process tree; stage boundaries come from its stderr lines."""

    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc, self.root = proc, proc.pid
        self.lock = threading.Lock()
        self.stage: str | None = None
        self.stats: dict[str, dict] = {}
        self.cpu_seen: dict[int, float] = {}
        self.log_path = log_path
        self.stop = False

    def tree_cpu(self) -> float:
        """CPU seconds the whole tree used so far (live processes, including what they reaped)."""
        total = 0.0
        for pid in _tree(self.root):
            p = _proc(pid)
            if p:
                total += p["cpu"]
        return total

    def begin(self, stage: str) -> None:
        with self.lock:
            for pid in _tree(self.root):
                _reset_hwm(pid)
            self.stage = stage
            self.stats[stage] = {"t0": time.monotonic(), "cpu0": self.tree_cpu(), "launcher_kib": 0, "worker_kib": 0, "worker": "",
                                 "load": [os.getloadavg()[0]]}

    def end(self, stage: str, line: str) -> None:
        with self.lock:
            self.sample_locked()
            s = self.stats.setdefault(stage, {"t0": time.monotonic(), "cpu0": 0.0, "launcher_kib": 0, "worker_kib": 0, "worker": ""})
            s["wall"] = time.monotonic() - s["t0"]
            s["cpu"] = self.tree_cpu() - s["cpu0"]
            s["line"] = line
            self.stage = None
        # Each stage's figures as soon as it ends, so a run stopped early keeps the stages done.
        row = {"stage": stage, "wall_s": round(s["wall"], 2), "cpu_s": round(s["cpu"], 2),
               "launcher_peak_mib": round(s["launcher_kib"] / 1024, 1), "worker_peak_mib": round(s["worker_kib"] / 1024, 1),
               "worker": s["worker"], "line": line}
        with open(self.log_path.with_name("stages.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(f"  [{stage} done] {row['wall_s']:,.1f} s wall, {row['cpu_s']:,.1f} CPU s, launcher {row['launcher_peak_mib']:,.0f} MiB, "
              f"largest worker {row['worker_peak_mib']:,.0f} MiB: {line}", flush=True)

    def sample_locked(self) -> None:
        if self.stage is None:
            return
        s = self.stats[self.stage]
        s.setdefault("load", []).append(os.getloadavg()[0])
        for pid in _tree(self.root):
            p = _proc(pid)
            if not p:
                continue
            if pid == self.root:
                s["launcher_kib"] = max(s["launcher_kib"], p["hwm_kib"])
            elif p["hwm_kib"] > s["worker_kib"]:
                s["worker_kib"], s["worker"] = p["hwm_kib"], _kind(p["cmd"])

    def sampler(self) -> None:
        while not self.stop:
            with self.lock:
                self.sample_locked()
            time.sleep(0.5)

    def reader(self) -> None:
        start = re.compile(r"^\[build\] \[\d+/\d+\] (\w+): running")
        done = re.compile(r"^\[build\] \[\d+/\d+\] (\w+): read ")
        with open(self.log_path, "w", encoding="utf-8") as logf:
            for line in self.proc.stderr:
                logf.write(line)
                logf.flush()
                if m := start.match(line):
                    self.begin(m.group(1))
                elif m := done.match(line):
                    self.end(m.group(1), line.strip())


def _bytes_under(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def stage_bytes(out: Path, stage: str) -> int:
    if stage == "shards":
        return sum(_bytes_under(out / p) for p in ("shards", "stages/shards", "manifest.json", "README.md", "CARD.md", "card"))
    return _bytes_under(out / "stages" / stage)


def run_build(work: Path, plan: Plan, workers: int, stop_after: str | None = None) -> dict:
    out = work / "out"
    cmd = [
        sys.executable, "-m", "webtext.cli", "build", "--until", "2017-12", "--dumps", str(work / "RS_2017-12.zst"),
        "--replay", *plan.warcs, "--workers", str(workers), "--out", str(out),
    ]  # fmt: skip
    if stop_after:
        cmd += ["--stop-after", stop_after]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("WEBTEXT_QUIET", None)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch = Watch(proc, work / "build.log")
    threads = [threading.Thread(target=watch.sampler, daemon=True), threading.Thread(target=watch.reader, daemon=True)]
    for t in threads:
        t.start()
    rc = proc.wait()
    threads[1].join()
    watch.stop = True
    threads[0].join()
    total = time.monotonic() - t0
    if rc != 0:
        tail = (work / "build.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        raise SystemExit(f"build failed (exit {rc}); log {work / 'build.log'}:\n{tail}")
    # the stages' reports from their completion markers (a build stopped early writes no manifest)
    markers = {s: out / "stages" / s / "_SUCCESS.json" for s in STAGES}
    reports = {s: json.loads(m.read_text(encoding="utf-8"))["report"] for s, m in markers.items() if m.is_file()}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8")) if not stop_after else None
    stages = {}
    for stage in STAGES:
        s = watch.stats.get(stage, {})
        r = reports.get(stage, {})
        stages[stage] = {
            "wall_s": round(s.get("wall", 0.0), 2),
            "cpu_s": round(s.get("cpu", 0.0), 2),
            "read": r.get("read"),
            "kept": r.get("kept"),
            "dropped": r.get("dropped", {}),
            "launcher_peak_mib": round(s.get("launcher_kib", 0) / 1024, 1),
            "worker_peak_mib": round(s.get("worker_kib", 0) / 1024, 1),
            "worker": s.get("worker", ""),
            "bytes_written": stage_bytes(out, stage),
            "reused": stage not in watch.stats,  # finished by an earlier run (--rerun-from): not measured
            "load_avg_1min": [round(min(s["load"]), 1), round(sum(s["load"]) / len(s["load"]), 1), round(max(s["load"]), 1)]
            if s.get("load") else None,  # min, mean, max of the 1-minute load average during the stage
        }
    documents = manifest["totals"]["documents"] if manifest else None
    return {"wall_s": round(total, 1), "documents": documents, "stages": stages, "cmd": " ".join(cmd)}


# --------------------------------------------------------------------------------------------- main


def print_result(n: int, plan: Plan, res: dict, workers: int, gen_s: float) -> None:
    print(f"\n== N = {n:,} links: {plan.submissions:,} submissions ({plan.dump_bytes / 2**20:,.1f} MiB .zst), "
          f"{len(plan.warcs)} WARC file(s) of {plan.warc_bytes / 2**20:,.0f} MiB; generated in {gen_s:.0f} s")
    docs = f"{res['documents']:,}" if res["documents"] is not None else "(no shards: stopped early)"
    print(f"build: {res['wall_s']:,.1f} s wall, {docs} documents in the shards; --workers {workers}")
    head = (f"{'stage':<8} {'wall s':>8} {'cpu s':>8} {'read':>8} {'kept':>8} {'docs/s/core':>11} {'per cpu-s':>9} "
            f"{'launcher MiB':>12} {'worker MiB':>10} {'written MiB':>11}  largest worker")
    print(head)
    for stage, s in res["stages"].items():
        read = s["read"] or 0
        if s.get("reused"):
            print(f"{stage:<8} (not run here: reused from the earlier run, or after --stop-after)")
            continue
        per_core = read / (s["wall_s"] * workers) if s["wall_s"] else 0.0
        per_cpu = read / s["cpu_s"] if s["cpu_s"] else 0.0
        print(f"{stage:<8} {s['wall_s']:>8,.1f} {s['cpu_s']:>8,.1f} {read:>8,} {s['kept'] or 0:>8,} {per_core:>11,.1f} "
              f"{per_cpu:>9,.1f} {s['launcher_peak_mib']:>12,.0f} {s['worker_peak_mib']:>10,.0f} "
              f"{s['bytes_written'] / 2**20:>11,.1f}  {s['worker']}; load {s.get('load_avg_1min')}")
    for stage, s in res["stages"].items():
        if s["dropped"]:
            print(f"  {stage} drops: {json.dumps(s['dropped'], sort_keys=True)}")
    print(f"  planted: {json.dumps(plan.planted, sort_keys=True)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, action="append", help="N links/pages (repeatable; default 10000 30000 100000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    ap.add_argument("--json", metavar="FILE", help="append each size's result to this JSON-lines file")
    ap.add_argument("--generate-only", action="store_true", help="write the inputs and stop (with --keep)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse the inputs a previous run generated there")
    ap.add_argument("--rerun-from", choices=STAGES, metavar="STAGE",
                    help="with --keep --reuse: keep the earlier build's output and rerun STAGE and the stages after it "
                         "(their completion markers are removed; the earlier stages are reused, not measured)")
    ap.add_argument("--stop-after", choices=STAGES, metavar="STAGE",
                    help="stop the build after STAGE (with --rerun-from: measure a few stages without the costly ones after them)")
    args = ap.parse_args()
    sizes = args.pages or [10_000, 30_000, 100_000]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"webtext-scale-{n}-") as tmp:
            work = Path(args.keep) / f"n{n}" if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            saved = work / "plan.json"
            if args.reuse and saved.is_file():  # the inputs of an earlier run of this size (same seed)
                plan = Plan(**json.loads(saved.read_text()))
                if args.rerun_from:  # the build reruns the stages whose marker is gone, reuses the others
                    for stage in STAGES[STAGES.index(args.rerun_from):]:
                        (work / "out" / "stages" / stage / "_SUCCESS.json").unlink(missing_ok=True)
                else:
                    shutil.rmtree(work / "out", ignore_errors=True)
                (work / "stages.jsonl").unlink(missing_ok=True)
            else:
                plan = generate(work, n)
                saved.write_text(json.dumps(plan.__dict__))
            gen_s = time.monotonic() - t0
            if args.generate_only:
                print(f"N={n:,}: {plan.submissions:,} submissions, {len(plan.warcs)} WARC files in {work} ({gen_s:.0f} s)")
                continue
            res = run_build(work, plan, args.workers, args.stop_after)
            print_result(n, plan, res, args.workers, gen_s)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"pages": n, "workers": args.workers, "generate_s": round(gen_s, 1),
                                        "plan": {**plan.__dict__, "warcs": len(plan.warcs)}, **res,
                                        "loadavg": os.getloadavg()}) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
