"""Common Crawl: which crawls bracket a submission, and the columnar URL index joined in bulk.

**Crawls.** A crawl is named `CC-MAIN-YYYY-WW` (since 2013): the ISO year and week in which it
was run. `crawl_date(name)` is that week's Monday, `bracketing_crawls(crawls, t)` the last crawl
that started at or before `t` and the first that started after it: the two captures of the web
closest to the moment a link was posted, from which cdx.py's rule then chooses.

**Columnar index** (`cc-index-table`: Parquet, one row per capture, partitioned
`crawl=CC-MAIN-.../subset=warc/`; on S3 at `s3://commoncrawl/cc-index/table/cc-main/warc/`). At
WebText scale (tens of millions of links) one index-server query per link is far beyond what the
server's politeness limit allows (1 request/s: a year for 30 M links). `lookup_captures` instead
joins the links against the table in DuckDB: `url = url` with `crawl IN (...)`, `subset = 'warc'`
and the links' host names as filters that DuckDB pushes into the Parquet scan (hive partitions
prune crawls; row-group statistics on `url_host_name` skip the rest), so only the record
locations come back and the fetch makes only range requests. 3xx captures are followed through
`fetch_redirect`, in rounds, up to the redirect limit, so redirect targets are resolved in bulk too.
URLs are matched as spelled (the links table holds normalised URLs; Common Crawl stores the URL it
fetched): a link captured only under another spelling (http vs https, `www.`) is an
`archive_miss` here, where the CDX server, which matches on a canonical key, would find it.

`write_index_table(warcs, out, crawl)` writes such a table (the schema's columns that matter here,
with Common Crawl's names and types) from WARC files: the tests and the benchmark build their
index this way.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from webtext.errors import ConfigError, InputError
from webtext.fetch.cdx import Capture

_CRAWL = re.compile(r"^CC-MAIN-(\d{4})-(\d{2})$")


def crawl_date(name: str) -> float:
    """Unix time of the Monday of the crawl's ISO week (`CC-MAIN-2017-51` -> 2017-12-18)."""
    m = _CRAWL.match(name)
    if not m:
        raise ConfigError(f"not a Common Crawl crawl name (CC-MAIN-YYYY-WW): {name!r}")
    try:
        d = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ConfigError(f"no such ISO week in crawl name {name!r}") from None
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def bracketing_crawls(crawls, t: float) -> list[str]:
    """The last crawl started at or before `t` and the first started after it (those that exist)."""
    dated = sorted((crawl_date(c), c) for c in set(crawls))
    before = [c for d, c in dated if d <= t]
    after = [c for d, c in dated if d > t]
    return ([before[-1]] if before else []) + ([after[0]] if after else [])


# ---------------------------------------------------------------------------------- the table

INDEX_COLUMNS = (
    "url_surtkey", "url", "url_host_name", "url_host_tld", "url_host_registered_domain", "url_protocol", "url_port",
    "url_path", "url_query", "fetch_time", "fetch_status", "fetch_redirect", "content_digest", "content_mime_type",
    "content_mime_detected", "content_charset", "content_languages", "content_truncated", "warc_filename",
    "warc_record_offset", "warc_record_length", "warc_segment",
)


def index_schema():
    import pyarrow as pa

    s, i16, i32 = pa.string(), pa.int16(), pa.int32()
    types = {"url_port": i32, "fetch_time": pa.timestamp("us", tz="UTC"), "fetch_status": i16,
             "warc_record_offset": i32, "warc_record_length": i32}
    return pa.schema([(c, types.get(c, s)) for c in INDEX_COLUMNS])


def _source(index: str) -> str:
    """A read_parquet() path for an index folder, glob or file (local, s3:// or https://)."""
    if "://" not in index and not any(ch in index for ch in "*?["):
        p = Path(index)
        if p.is_dir():
            return str(p / "**" / "*.parquet")
        if not p.exists():
            raise InputError("no such columnar index (Parquet folder or file)", path=index)
    return index


def lookup_captures(index: str, urls, submitted: dict, crawls, redirect_limit: int = 10) -> dict[str, list]:
    """{url: [(crawl, Capture), ...]} for `urls` and the targets of their archived redirects.

    `crawls` limits the join to those crawls (all crawls in the table when empty); `submitted`
    is unused by the join itself (the choice is made per URL by cdx.py) but kept for symmetry."""
    import duckdb
    import pyarrow as pa

    import gc

    src = _source(index)
    con = duckdb.connect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small tuples and captures, none cyclic: the collector's passes cost 5x the join
    try:
        con.execute("SET enable_progress_bar = false")
        crawl_filter = ""
        if crawls:
            crawl_filter = "AND i.crawl IN (" + ", ".join("'" + c.replace("'", "''") + "'" for c in crawls) + ")"
        found: dict[str, list] = {}
        todo = list(dict.fromkeys(urls))
        seen: set[str] = set()
        for _round in range(redirect_limit + 1):
            todo = [u for u in todo if u not in seen]
            if not todo:
                break
            seen.update(todo)
            con.register("links", pa.table({"url": todo}))
            # A short constant host list is pushed into the Parquet scan (row groups are skipped by their
            # url_host_name statistics); for a long one the join's own filter pushdown does that work.
            hosts = sorted({urlsplit(u).hostname or "" for u in todo}) if len(todo) <= 20_000 else []
            host_filter = ""
            if 0 < len(hosts) <= 1000:
                host_filter = "AND i.url_host_name IN (" + ", ".join("'" + h.replace("'", "''") + "'" for h in hosts) + ")"
            try:
                rows = con.execute(
                    f"""SELECT i.url, strftime(make_timestamp(epoch_us(i.fetch_time)), '%Y%m%d%H%M%S'), i.fetch_status, i.fetch_redirect, i.content_mime_type,
                               i.content_digest, i.warc_filename, i.warc_record_offset, i.warc_record_length, i.crawl
                        FROM read_parquet('{src}', hive_partitioning = true) AS i
                        JOIN links AS l ON i.url = l.url
                        WHERE i.subset = 'warc' {crawl_filter} {host_filter}"""
                ).fetchall()
            except duckdb.Error as exc:
                raise InputError(f"cannot join the columnar index: {str(exc).splitlines()[0]}", path=index) from None
            con.unregister("links")
            targets = []
            for url, t, status, redirect, mime, digest, fname, offset, length, crawl in rows:
                cap = Capture(
                    timestamp=t,
                    url=url, status=int(status) if status is not None else None, mime=mime or "", digest=digest or "",
                    filename=fname, offset=offset, length=length,
                )
                found.setdefault(url, []).append((crawl, cap))
                if redirect and cap.status is not None and 300 <= cap.status < 400:
                    targets.append(redirect)
            todo = targets
        return found
    finally:
        con.close()
        if gc_was_enabled:
            gc.enable()


def write_index_table(warcs, out_dir: str | os.PathLike, crawl: str, filename_prefix: str = "") -> Path:
    """Write `out_dir/crawl=CRAWL/subset=warc/part-00000.parquet` indexing the response records of
    `warcs` (Common Crawl's column names and types). `warc_filename` is `filename_prefix` + the
    file's name: the path the data host serves it under."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from warcio.archiveiterator import ArchiveIterator

    from urllib.parse import urljoin

    rows = []
    for path in warcs:
        path = Path(path)
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh)
            for record in it:
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                when = datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00"))
                status = int(record.http_headers.get_statuscode())
                ctype = record.http_headers.get_header("Content-Type") or ""
                location = record.http_headers.get_header("Location")
                digest = record.rec_headers.get_header("WARC-Payload-Digest")
                it.read_to_end(record)
                target = urljoin(url, location) if location and 300 <= status < 400 else None
                rows.append((url, when, status, target, ctype, digest, it.get_record_offset(), it.get_record_length(),
                             filename_prefix + path.name))
    table_rows = []
    for url, when, status, location, ctype, digest, offset, length, fname in rows:
        p = urlsplit(url)
        host = p.hostname or ""
        table_rows.append({
            "url_surtkey": None, "url": url, "url_host_name": host, "url_host_tld": host.rsplit(".", 1)[-1],
            "url_host_registered_domain": ".".join(host.split(".")[-2:]), "url_protocol": p.scheme,
            "url_port": p.port, "url_path": p.path, "url_query": p.query or None, "fetch_time": when,
            "fetch_status": status, "fetch_redirect": location,
            "content_digest": (digest or "").replace("sha1:", "") or None,
            "content_mime_type": ctype.split(";")[0].strip() or None, "content_mime_detected": None,
            "content_charset": None, "content_languages": None, "content_truncated": None, "warc_filename": fname,
            "warc_record_offset": offset, "warc_record_length": length, "warc_segment": None,
        })
    folder = Path(out_dir) / f"crawl={crawl}" / "subset=warc"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "part-00000.parquet"
    table_rows.sort(key=lambda r: (r["url_host_name"], r["url"]))
    pq.write_table(pa.Table.from_pylist(table_rows, schema=index_schema()), out, compression="zstd")
    return out
