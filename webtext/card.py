"""The dataset card: `README.md` with the corpus figures, tables and plots, next to the shards.

`write_card(out_dir, manifest)` reads the shards through DuckDB (a SQL scan of the Parquet files:
no need to hold the corpus in memory) and writes:

- `README.md`: a Hugging Face dataset card. Its YAML front matter (`front_matter`) names the data:
  `configs` points the `default` config's `train` split at the shards, so
  `datasets.load_dataset(OUT)` and the Hub read exactly the shards (not `manifest.json`, the stage
  folders or the plots, which would otherwise be guessed as data), plus `license`, `language`,
  `task_categories`, `size_categories` and `pretty_name`. Then what the corpus is and how it was
  built; the columns (names, types and descriptions read from the shards' Parquet schema, which
  `webtext.shards.DOCUMENT_COLUMNS` writes); documents, text bytes, estimated GPT-2 tokens,
  words, shards; the Reddit submission date range; the top domains (table and plot); the document
  length distribution (table of percentiles and a histogram); where the pages came from (share of
  documents per fetch source: live, wayback, commoncrawl, replay) and how far each capture is from
  the link's first Reddit submission (table and histogram); every stage's read/kept counts and
  each drop reason with its count (table and plot); the shard list with row counts and sha256; the
  package versions and the configuration.
- `card/lengths.png`, `card/domains.png`, `card/capture_age.png`, `card/drops.png`: matplotlib (Agg backend, no display),
  written without timestamps so a rebuild gives identical files.

Everything in the card comes from the manifest and the shards, so it cannot disagree with them.
"""


from __future__ import annotations

import os
from pathlib import Path


CARD = "README.md"
PRETTY_NAME = "WebText rebuild"
# The Hub's size buckets (size_categories), by document count.
_SIZE_BUCKETS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                 (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
                 (10**11, "10B<n<100B"), (10**12, "100B<n<1T")]
TOP_DOMAINS = 20
_LENGTH_BINS = [0, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 10**12]


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _savefig(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
    os.replace(tmp, path)


def corpus_stats(out_dir: str | os.PathLike, manifest: dict) -> dict:
    """Top domains and word-count distribution of the shards listed in the manifest (DuckDB)."""
    import duckdb

    files = [str(Path(out_dir) / s["file"]) for s in manifest["shards"]]
    con = duckdb.connect()
    try:
        con.read_parquet(files).create_view("docs")
        n = con.execute("SELECT count(*) FROM docs").fetchone()[0]
        domains = con.execute(
            "SELECT coalesce(domain, '(none)') AS d, count(*) AS n, sum(octet_length(encode(coalesce(text, '')))) AS b "
            "FROM docs GROUP BY d ORDER BY n DESC, d LIMIT ?",
            [TOP_DOMAINS],
        ).fetchall()
        n_domains = con.execute("SELECT count(DISTINCT domain) FROM docs").fetchone()[0]
        columns = {r[0] for r in con.execute("DESCRIBE docs").fetchall()}
        languages = con.execute(  # the clean stage's language labels (webtext.langid)
            "SELECT coalesce(language, '(not identified)') AS l, count(*) AS n, avg(language_score) AS s "
            "FROM docs GROUP BY l ORDER BY n DESC, l"
        ).fetchall() if "language" in columns else []
        # Words as the shards count them (whitespace-separated), so the card matches n_words.
        words = [r[0] for r in con.execute("SELECT len(string_split_regex(trim(coalesce(text, '')), '\\s+')) FROM docs").fetchall()]
        quantiles = {}
        if n:
            qs = con.execute(
                "SELECT quantile_disc(n_chars, [0.0, 0.1, 0.5, 0.9, 0.99, 1.0]) FROM "
                "(SELECT length(coalesce(text, '')) AS n_chars FROM docs)"
            ).fetchone()[0]
            quantiles = dict(zip(["min", "p10", "median", "p90", "p99", "max"], qs))
        names = {d[0] for d in con.execute("SELECT * FROM docs LIMIT 0").description}
        sources, ages = [], []
        if "source" in names:  # shards written before the fetch source was recorded have no such column
            sources = con.execute(
                "SELECT coalesce(source, '(unknown)') AS s, count(*) FROM docs GROUP BY s ORDER BY count(*) DESC, s"
            ).fetchall()
            ages = con.execute(
                "SELECT coalesce(source, '(unknown)'), (epoch(capture_time) - epoch(first_created_utc)) / 86400.0 FROM docs "
                "WHERE capture_time IS NOT NULL AND first_created_utc IS NOT NULL ORDER BY 1, 2"
            ).fetchall()
    finally:
        con.close()
    return {"documents": n, "domains": domains, "n_domains": n_domains, "words": words, "char_quantiles": quantiles,
            "sources": sources, "capture_ages": ages,
            "languages": languages}


def _plots(folder: Path, stats: dict, manifest: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    out = {}

    fig, ax = plt.subplots(figsize=(7, 3.5))
    words = np.asarray(stats["words"], dtype=float)
    if len(words):
        bins = np.logspace(np.log10(max(words.min(), 1)), np.log10(max(words.max(), 10)), 40)
        ax.hist(np.maximum(words, 1), bins=bins, color="#4a78b5")
        ax.set_xscale("log")
    ax.set_xlabel("words per document (log scale)")
    ax.set_ylabel("documents")
    ax.set_title("Document length")
    out["lengths"] = _finish(plt, fig, folder, "lengths.png")

    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(stats["domains"]) + 1)))
    names = [d for d, _, _ in stats["domains"]][::-1]
    ax.barh(names, [n for _, n, _ in stats["domains"]][::-1], color="#4a78b5")
    ax.set_xlabel("documents")
    ax.set_title(f"Top {len(names)} domains")
    out["domains"] = _finish(plt, fig, folder, "domains.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    by_source: dict[str, list[float]] = {}
    for source, days in stats["capture_ages"]:
        by_source.setdefault(source, []).append(days)
    if by_source:
        lo = min(min(v) for v in by_source.values())
        hi = max(max(v) for v in by_source.values())
        bins = np.linspace(min(lo, -1.0), max(hi, 1.0), 40)
        for source, days in sorted(by_source.items()):
            ax.hist(days, bins=bins, alpha=0.6, label=f"{source} ({len(days)})")
        ax.legend()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("capture time - first Reddit submission (days)")
    ax.set_ylabel("documents")
    ax.set_title("Capture age against submission time")
    out["capture_age"] = _finish(plt, fig, folder, "capture_age.png")

    drops = [(f"{stage}: {reason}", n) for stage, reasons in manifest.get("drop_reasons", {}).items() for reason, n in reasons.items()]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(drops) + 1)))
    if drops:
        ax.barh([d for d, _ in drops][::-1], [n for _, n in drops][::-1], color="#c2553a")
    ax.set_xlabel("documents / records dropped")
    ax.set_title("Drop reasons by stage")
    out["drops"] = _finish(plt, fig, folder, "drops.png")
    return out


def _finish(plt, fig, folder: Path, name: str) -> str:
    """Lay out, save and close a figure; its path relative to the card."""
    fig.tight_layout()
    _savefig(fig, folder / name)
    plt.close(fig)
    return f"card/{name}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def size_category(documents: int) -> str:
    for limit, name in _SIZE_BUCKETS:
        if documents < limit:
            return name
    return "n>1T"


def shards_glob(manifest: dict) -> str:
    """The data_files pattern of the shards, relative to the card: `shards/webtext-*.parquet` for a
    build, `webtext-*.parquet` when the shards sit beside the card (`webtext shard`)."""
    folders = {os.path.dirname(s["file"]) for s in manifest["shards"]} or {""}
    if len(folders) != 1:
        raise ValueError(f"shards in several folders: {sorted(folders)}")
    folder = folders.pop()
    return f"{folder}/webtext-*.parquet" if folder else "webtext-*.parquet"


def front_matter(manifest: dict) -> str:
    """The card's YAML metadata block (between `---` lines), as the Hub and `datasets` read it.

    Written by hand, each value JSON-quoted (JSON scalars are valid YAML), so no YAML library is needed."""
    import json

    q = json.dumps
    languages = manifest.get("languages") or ["en"]
    lines = [
        "---",
        f"pretty_name: {q(PRETTY_NAME)}",
        # Page text belongs to its publishers: no single licence covers the corpus.
        "license: other",
        f"license_name: {q('webtext-mixed')}",
        f"license_details: {q('Text of public web pages linked from Reddit; each page keeps its publisher copyright. For research use.')}",
        "language:", *[f"- {q(lang)}" for lang in languages],
        "task_categories:", "- text-generation",
        "task_ids:", "- language-modeling",
        "size_categories:", f"- {q(size_category(manifest['totals']['documents']))}",
        "tags:", "- webtext", "- gpt2", "- reddit",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {q(shards_glob(manifest))}",
        "---",
    ]
    return "\n".join(lines) + "\n"


def _column_rows(out: Path, manifest: dict) -> list[list[str]]:
    """The columns table from the first shard's Parquet schema (field metadata `description`)."""
    import pyarrow.parquet as pq

    from webtext.shards import column_descriptions, document_schema

    schema = pq.read_schema(out / manifest["shards"][0]["file"]) if manifest["shards"] else document_schema()
    return [[f"`{name}`", f"`{typ}`", desc or "-"] for name, typ, desc in column_descriptions(schema)]


def write_card(out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write `out_dir/README.md` and its plots under `out_dir/card/`; returns the README.md path."""
    import numpy as np

    out = Path(out_dir)
    stats = corpus_stats(out, manifest)
    plots = _plots(out / "card", stats, manifest)
    t = manifest["totals"]
    words = np.asarray(stats["words"], dtype=np.int64)
    hist = np.histogram(words, bins=_LENGTH_BINS)[0] if len(words) else [0] * (len(_LENGTH_BINS) - 1)
    length_rows = [
        [f"{_n(lo)}-{_n(hi - 1)}" if hi < 10**12 else f"{_n(lo)}+", _n(int(c))]
        for lo, hi, c in zip(_LENGTH_BINS[:-1], _LENGTH_BINS[1:], hist)
    ]
    docs = max(t["documents"], 1)
    domain_rows = [[d, _n(n), f"{100 * n / docs:.1f}%", _n(int(b or 0))] for d, n, b in stats["domains"]]
    language_rows = [[lang, _n(n), f"{100 * n / docs:.1f}%", f"{s:.3f}" if s is not None else "-"]
                     for lang, n, s in stats.get("languages", [])] or [["-", "0", "-", "-"]]
    stage_rows = [
        [s["stage"], _n(s["read"]), _n(s["kept"]), ", ".join(f"{k} {_n(v)}" for k, v in s["dropped"].items()) or "-"]
        for s in manifest["stages"]
    ]
    drop_rows = [
        [stage, reason, _n(n)] for stage, reasons in manifest["drop_reasons"].items() for reason, n in reasons.items()
    ]
    shard_rows = [[s["file"], _n(s["rows"]), _n(s["bytes"]), f"`{s['sha256']}`"] for s in manifest["shards"]]
    q = stats["char_quantiles"]
    source_rows = [[s, _n(n), f"{100 * n / docs:.1f}%"] for s, n in stats["sources"]]
    age_rows = []
    for source in sorted({s for s, _ in stats["capture_ages"]}):
        days = np.asarray([d for s, d in stats["capture_ages"] if s == source])
        age_rows.append([source, _n(len(days)), f"{np.median(days):+.1f}", f"{np.mean(np.abs(days) <= 30) * 100:.0f}%",
                         f"{np.mean(days <= 0) * 100:.0f}%"])
    package_rows = [[k, v or "-"] for k, v in manifest["packages"].items()]
    import json

    text = front_matter(manifest) + f"""
# WebText rebuild: dataset card

A rebuild of OpenAI's WebText (the GPT-2 training corpus): the text of web pages linked from Reddit
submissions with a score of at least 3, extracted with Dragnet and Newspaper, with Wikipedia removed,
cleaned, and deduplicated (exact URL, exact text, MinHash near-duplicates). Every figure below is
computed from `manifest.json` and the shards in this folder.

Load it with `datasets.load_dataset("path/to/this/folder")` (or the Hub repository's name): one
`train` split, the shards below. `manifest.json` accounts for every record; it is metadata, not data.

## Columns

{_table(["column", "type", "description"], _column_rows(out, manifest))}

## Summary

{_table(["figure", "value"], [
    ["documents", _n(t["documents"])],
    ["text (UTF-8 bytes)", _n(t["text_bytes"])],
    ["estimated GPT-2 tokens", f"{_n(t['estimated_tokens'])} (text bytes / 4.25)"],
    ["words", _n(t["words"])],
    ["distinct domains", _n(stats["n_domains"])],
    ["Reddit submissions from", t["first_created"] or "-"],
    ["Reddit submissions to", t["last_created"] or "-"],
    ["shards", f"{_n(t['shards'])} ({_n(t['shard_bytes'])} bytes, zstd Parquet)"],
])}

## Document length

Characters per document: {", ".join(f"{k} {_n(v)}" for k, v in q.items()) or "-"}.

{_table(["words", "documents"], length_rows)}

![document length histogram]({plots["lengths"]})

## Languages

The language of each document as the clean stage identified it (`language`, ISO 639-1; CLD2 via pycld2),
after its language filter (by default English only, as in the GPT-2 paper).

{_table(["language", "documents", "share", "mean confidence"], language_rows)}

## Top domains

{_table(["domain", "documents", "share", "text bytes"], domain_rows)}

![top domains]({plots["domains"]})

## Where the pages came from

Fetch source of each document (`live`: the web at build time; `wayback`, `commoncrawl`: the web
archive's capture closest to the link's first submission; `replay`: an earlier fetch's WARC files).

{_table(["source", "documents", "share"], source_rows) if source_rows else "No fetch source recorded."}

Capture time against the link's first Reddit submission, in days (negative: captured before it was posted):

{_table(["source", "documents", "median days", "within 30 days", "captured before posting"], age_rows) if age_rows else "-"}

![capture age against submission time]({plots["capture_age"]})

## What each stage kept and dropped

{_table(["stage", "read", "kept", "dropped"], stage_rows)}

{_table(["stage", "drop reason", "count"], drop_rows) if drop_rows else "Nothing was dropped."}

![drop reasons]({plots["drops"]})

## Shards

{_table(["file", "rows", "bytes", "sha256"], shard_rows)}

## How it was built

Package versions:

{_table(["package", "version"], package_rows)}

Configuration:

```json
{json.dumps(manifest.get("config", {}), indent=2, sort_keys=True, default=str)}
```
"""
    path = out / CARD
    _atomic_text(path, text)
    return path
