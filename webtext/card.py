"""The dataset card: `README.md` with the corpus figures, tables and plots, next to the shards.

`write_card(out_dir, manifest, shard_stats)` makes the card from small per-shard statistics
(`shard_stats`: taken by whoever writes a shard, as `webtext.shards.write_shard` does, so in the
Beam build by the shard workers; `merge_stats` adds them up), never from the corpus text; without
them it reads the shards back one at a time (`corpus_stats`). It writes:

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

Everything in the card comes from the manifest and the shards' statistics, so it cannot disagree
with them; a test checks those statistics against SQL (DuckDB) over the shards.
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


AGE_BIN_SECONDS = 3600  # capture-age histogram resolution: one hour


def shard_stats(docs, columns=None) -> dict:
    """The card's statistics of one shard's documents, computed by whoever writes the shard (the
    build's shard workers, `webtext.shards.write_shard`), so the card is made from these small
    summaries and nobody reads the corpus text again. `merge_stats` adds shards up.

    Exact counts keyed by value, so they are bounded by the range of the values, not by the number
    of documents: documents and text bytes per domain, documents and summed confidence per
    language, documents per word count and per character count (the length histogram and the
    character percentiles come out exactly), documents per fetch source, and per source the capture
    age against the first Reddit submission (a histogram in hours; exact counts of "within 30 days"
    and "captured before posting"; exact minimum and maximum). `columns`: the shard's columns
    (default: the documents schema's); a table without `language` or `source` has no such section."""
    from collections import Counter

    from webtext.shards import DOCUMENT_COLUMNS

    columns = set(columns if columns is not None else (c for c, _, _ in DOCUMENT_COLUMNS))
    domains: dict = {}
    languages: dict = {}
    words: Counter = Counter()
    chars: Counter = Counter()
    sources: Counter = Counter()
    ages: dict = {}
    n = 0
    for d in docs:
        n += 1
        text = d.get("text") or ""
        dom = domains.setdefault(d.get("domain"), [0, 0])
        dom[0] += 1
        dom[1] += len(text.encode("utf-8"))
        words[len(text.split())] += 1  # as the shards' n_words counts them
        chars[len(text)] += 1
        if "language" in columns:
            lang = languages.setdefault(d.get("language") or "(not identified)", [0, 0.0, 0])
            lang[0] += 1
            if d.get("language_score") is not None:
                lang[1] += float(d["language_score"])
                lang[2] += 1
        if "source" in columns:
            source = d.get("source") or "(unknown)"
            sources[source] += 1
            captured, created = d.get("capture_time"), d.get("first_created_utc")
            if captured is not None and created is not None:
                seconds = _epoch(captured) - _epoch(created)
                age = ages.get(source) or ages.setdefault(source, _new_age())
                days = seconds / 86400.0
                age["hours"][-int(-seconds // AGE_BIN_SECONDS)] += 1  # ceil: hour bin <= 0 iff captured before posting
                age["n"] += 1
                age["within_30_days"] += abs(days) <= 30
                age["before_posting"] += days <= 0
                age["min_days"] = days if age["min_days"] is None else min(age["min_days"], days)
                age["max_days"] = days if age["max_days"] is None else max(age["max_days"], days)
    return {
        "documents": n,
        "domains": sorted([k, v[0], v[1]] for k, v in domains.items() if k is not None) + (
            [[None, *domains[None]]] if None in domains else []),
        "languages": sorted([k, *v] for k, v in languages.items()) if "language" in columns else None,
        "words": sorted(words.items()),
        "chars": sorted(chars.items()),
        "sources": sorted(sources.items()) if "source" in columns else None,
        "capture_ages": {s: {**a, "hours": sorted(a["hours"].items())} for s, a in sorted(ages.items())},
    }


def _new_age() -> dict:
    from collections import Counter

    return {"hours": Counter(), "n": 0, "within_30_days": 0, "before_posting": 0, "min_days": None, "max_days": None}


def _epoch(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def merge_stats(parts: list[dict]) -> dict:
    """The shards' `shard_stats` added up (JSON round-tripped or not), in the shape the card uses."""
    from collections import Counter

    domains: dict = {}
    languages: dict = {}
    words: Counter = Counter()
    chars: Counter = Counter()
    sources: Counter = Counter()
    ages: dict = {}
    has_language = has_source = False
    n = 0
    for part in parts:
        n += part["documents"]
        for dom, docs, nbytes in part["domains"]:
            d = domains.setdefault(dom, [0, 0])
            d[0] += docs
            d[1] += nbytes
        if part["languages"] is not None:
            has_language = True
            for lang, docs, total, scored in part["languages"]:
                entry = languages.setdefault(lang, [0, 0.0, 0])
                entry[0] += docs
                entry[1] += total
                entry[2] += scored
        words.update({int(k): v for k, v in part["words"]})
        chars.update({int(k): v for k, v in part["chars"]})
        if part["sources"] is not None:
            has_source = True
            sources.update(dict(part["sources"]))
        for source, a in part["capture_ages"].items():
            age = ages.get(source) or ages.setdefault(source, _new_age())
            age["hours"].update({int(k): v for k, v in a["hours"]})
            for k in ("n", "within_30_days", "before_posting"):
                age[k] += a[k]
            age["min_days"] = a["min_days"] if age["min_days"] is None else min(age["min_days"], a["min_days"])
            age["max_days"] = a["max_days"] if age["max_days"] is None else max(age["max_days"], a["max_days"])
    top = sorted(((dom if dom is not None else "(none)", v[0], v[1]) for dom, v in domains.items()),
                 key=lambda r: (-r[1], r[0]))[:TOP_DOMAINS]
    quantiles = {}
    if n:
        quantiles = dict(zip(["min", "p10", "median", "p90", "p99", "max"], _quantiles_disc(chars, [0.0, 0.1, 0.5, 0.9, 0.99, 1.0])))
    return {
        "documents": n,
        "domains": top,
        "n_domains": sum(1 for dom in domains if dom is not None),
        "words": sorted(words.items()),  # (word count, documents)
        "char_quantiles": quantiles,
        "languages": sorted(((lang, v[0], v[1] / v[2] if v[2] else None) for lang, v in languages.items()),
                            key=lambda r: (-r[1], r[0])) if has_language else [],
        "sources": sorted(sources.items(), key=lambda r: (-r[1], r[0])) if has_source else [],
        "capture_ages": {s: {**a, "hours": sorted(a["hours"].items())} for s, a in sorted(ages.items())},
    }


def _quantiles_disc(counts, qs: list[float]) -> list[int]:
    """Discrete quantiles (the element at rank ceil(q * n), as DuckDB's `quantile_disc`) of the
    values counted in `counts` (value -> how many)."""
    import math

    items = sorted(counts.items())
    n = sum(c for _, c in items)
    out = []
    for q in qs:
        rank = max(math.ceil(q * n) - 1, 0)  # 0-based index into the sorted values
        seen = 0
        for value, c in items:
            seen += c
            if seen > rank:
                out.append(value)
                break
    return out


def corpus_stats(out_dir: str | os.PathLike, manifest: dict) -> dict:
    """The card's statistics from the shards themselves, one shard in memory at a time: for shards
    written without their statistics at hand (the build and `webtext shard` pass them instead)."""
    import pyarrow.parquet as pq

    from webtext.shards import timestamps_to_epoch

    parts = []
    for s in manifest["shards"]:
        table = pq.read_table(Path(out_dir) / s["file"])
        parts.append(shard_stats(timestamps_to_epoch(table).to_pylist(), table.column_names))
        del table
    return merge_stats(parts)


def _age_median_days(hours: list) -> float:
    """The median capture age (days) from the hour histogram: the middle value(s) at their bin's centre."""
    import numpy as np

    values = np.asarray([h for h, _ in hours], dtype=float)
    counts = np.asarray([c for _, c in hours], dtype=np.int64)
    n = int(counts.sum())
    cum = np.cumsum(counts)
    middle = [values[np.searchsorted(cum, k, side="right")] for k in ({(n - 1) // 2, n // 2})]
    return (float(np.mean(middle)) * AGE_BIN_SECONDS - AGE_BIN_SECONDS / 2) / 86400.0


def _plots(folder: Path, stats: dict, manifest: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    out = {}

    fig, ax = plt.subplots(figsize=(7, 3.5))
    words = np.asarray([w for w, _ in stats["words"]], dtype=float)  # distinct word counts, with
    docs = np.asarray([c for _, c in stats["words"]], dtype=float)  # how many documents have each
    if len(words):
        bins = np.logspace(np.log10(max(words.min(), 1)), np.log10(max(words.max(), 10)), 40)
        ax.hist(np.maximum(words, 1), bins=bins, weights=docs, color="#4a78b5")
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
    ages = stats["capture_ages"]
    if ages:
        lo = min(a["min_days"] for a in ages.values())
        hi = max(a["max_days"] for a in ages.values())
        bins = np.linspace(min(lo, -1.0), max(hi, 1.0), 40)
        for source, a in sorted(ages.items()):
            days = np.asarray([(h * AGE_BIN_SECONDS - AGE_BIN_SECONDS / 2) / 86400.0 for h, _ in a["hours"]])
            ax.hist(np.clip(days, lo, hi), bins=bins, weights=[c for _, c in a["hours"]], alpha=0.6, label=f"{source} ({a['n']})")
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


def _column_rows(out: Path, manifest: dict, schema=None) -> list[list[str]]:
    """The columns table from the shards' Parquet schema (field metadata `description`)."""
    import pyarrow.parquet as pq

    from webtext.shards import column_descriptions, document_schema

    if schema is None:
        schema = pq.read_schema(out / manifest["shards"][0]["file"]) if manifest["shards"] else document_schema()
    return [[f"`{name}`", f"`{typ}`", desc or "-"] for name, typ, desc in column_descriptions(schema)]


def write_card(out_dir: str | os.PathLike, manifest: dict, shard_stats: list[dict] | None = None, schema=None) -> Path:
    """Write `out_dir/README.md` and its plots under `out_dir/card/`; returns the README.md path.

    `shard_stats`: each shard's `shard_stats` (the `card` entry of what `shards.write_shard`
    returns); without them the shards are read again, one at a time. `schema`: the shards' Arrow
    schema for the columns table (default: read from the first shard's footer)."""
    import numpy as np

    out = Path(out_dir)
    stats = merge_stats(shard_stats) if shard_stats is not None else corpus_stats(out, manifest)
    plots = _plots(out / "card", stats, manifest)
    t = manifest["totals"]
    words = np.asarray([w for w, _ in stats["words"]], dtype=np.int64)
    weights = np.asarray([c for _, c in stats["words"]], dtype=np.int64)
    hist = np.histogram(words, bins=_LENGTH_BINS, weights=weights)[0].astype(np.int64) if len(words) else [0] * (len(_LENGTH_BINS) - 1)
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
    for source, a in sorted(stats["capture_ages"].items()):
        age_rows.append([source, _n(a["n"]), f"{_age_median_days(a['hours']):+.1f}", f"{a['within_30_days'] / a['n'] * 100:.0f}%",
                         f"{a['before_posting'] / a['n'] * 100:.0f}%"])
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

{_table(["column", "type", "description"], _column_rows(out, manifest, schema))}

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
