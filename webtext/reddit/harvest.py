"""The harvest: submissions in, one Parquet row per qualifying URL out, every record accounted for.

    records (dumps or live API) -> classify (filters, a reason per drop) -> LinkAggregator (by URL)
        -> karma rule per URL -> out/links/links-*.parquet (sorted by URL) + out/report.json

Accounting (`HarvestReport`, a `StageReport`): `read` counts every record seen (plus one per
damaged file skipped with `on_error="skip"`), `kept` the submissions that end up in a written
link row, and `dropped` every other record under its reason, so `read == kept + sum(dropped)`
always (checked before the report is written). `links` is the number of unique URLs written.

Idempotent: the links folder and the report are each replaced atomically. A rerun with the same
inputs (paths, sizes, modification times) and options finds the finished report and returns it
without reading anything; anything else reruns the whole harvest (a crashed run leaves only
temporary folders, which the next run removes).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from webtext.errors import ConfigError, InputError
from webtext.progress import Progress, log
from webtext.reddit.dumps import ON_ERROR, KeyedRun, iter_records, plan_dump_files
from webtext.reddit.links import (
    HarvestOptions,
    LinkAggregator,
    LinksWriter,
    RecordFields,
    RecordKeys,
    ROWS_PER_GROUP,
    aggregate_values,
    classify,
    drop_early,
    drop_early_keys,
    qualifies,
)
from webtext.report import SAMPLES_PER_REASON, StageReport

STAGE = "harvest"


@dataclass
class HarvestReport(StageReport):
    """A StageReport with what else a harvest tells: unique links written, the files, the options."""

    links: int = 0
    files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # (path, size, mtime_ns): the rerun fingerprint

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(
            links=self.links,
            files=self.files,
            skipped_files=self.skipped_files,
            options=self.options,
            inputs=self.inputs,
        )
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HarvestReport":
        base = StageReport.from_dict(d)
        return cls(
            base.stage, base.read, base.kept, base.dropped, base.samples,
            links=d.get("links", 0), files=d.get("files", []), skipped_files=d.get("skipped_files", []),
            options=d.get("options", {}), inputs=d.get("inputs", []),
        )  # fmt: skip


def _example(record) -> str:
    rid = record.get("id", "?")
    url = record.get("url")
    text = f"{rid} {url}" if isinstance(url, str) else str(rid)
    if not text.isascii():  # a lone surrogate (`bad_field`) is written escaped, as `\ud800`
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:300]


def harvest_records(
    records: Iterable,
    opts: HarvestOptions,
    out: str | os.PathLike,
    report: HarvestReport,
    *,
    batched: bool = False,
    max_urls_in_memory: int = 200_000,
    progress_unit: str = "records",
) -> HarvestReport:
    """The core shared by dumps and the live API: filter, aggregate, write, account.

    `records`: decoded records (dicts or `RecordFields`), or with `batched=True` lists of them
    and `dumps.KeyedRun`s (`dumps.iter_records(..., keys=RecordKeys, batches=True)`): the first
    checks then run a batch at a time."""
    batches = records if batched else _batched(records)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob(".harvest-spill-*"), *out.glob(".links.tmp-*"), *out.glob(".links.old-*")):
        shutil.rmtree(stale, ignore_errors=True)  # left by a run that crashed
    spill = out / f".harvest-spill-{os.getpid()}"
    # The cyclic garbage collector is paused while the table is built and written: reading dumps
    # and aggregating make no reference cycles, and the collector would otherwise walk the whole
    # growing table (hundreds of thousands of tuples and lists) again and again, ~1 CPU-s of a
    # million-record harvest. Objects are still freed by reference counting as usual (a few cycles
    # from the live API's HTTP client wait for the end); the collector resumes when it is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        agg = LinkAggregator(spill, max_urls_in_memory)
        # Drops are counted here and added to the report once at the end; the first few records
        # of each reason are kept as examples. (The hot loop does no more than it must.)
        dropped: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        add = agg.add
        with Progress(STAGE, unit=progress_unit) as progress:
            for batch in batches:
                # The date cap and the karma bar take most records out, a batch at a time; a
                # KeyedRun is decided on its keys, and only the records left are decoded in full.
                keyed = type(batch) is KeyedRun
                rest, after_until, low_karma = drop_early_keys(batch.keys, opts) if keyed else drop_early(batch, opts)
                if (after_until and len(examples.get("after_until", ())) < SAMPLES_PER_REASON) or (
                    low_karma and len(examples.get("low_karma", ())) < SAMPLES_PER_REASON
                ):  # examples still wanted: this batch one record at a time, so they are the first in order
                    rest, after_until, low_karma = (range(len(batch)) if keyed else batch), 0, 0
                if keyed:
                    rest = batch.complete(rest)
                if after_until:
                    dropped["after_until"] = dropped.get("after_until", 0) + after_until
                if low_karma:
                    dropped["low_karma"] = dropped.get("low_karma", 0) + low_karma
                for record in rest:
                    sub, reason = classify(record, opts)
                    if sub is None:
                        n = dropped.get(reason, 0)
                        dropped[reason] = n + 1
                        if n < SAMPLES_PER_REASON:
                            examples.setdefault(reason, []).append(_example(record))
                    else:
                        add(sub)
                progress.update(len(batch), links=len(agg.table))
        for reason, n in dropped.items():
            report.drop(reason, n=n - len(examples.get(reason, ())))
            for example in examples.get(reason, ()):
                report.drop(reason, example=example)
        if agg.runs:
            log(STAGE, f"merging {len(agg.runs) + 1} sorted runs spilled to disk")

        # One row per URL, in URL order, handed to the writer as value tuples (no dict per row).
        kept = links = 0
        rows: list[tuple] = []
        with LinksWriter(out / "links") as writer:
            for url, entries in agg.groups():
                row, repeats = aggregate_values(url, entries)
                if repeats:
                    report.drop("duplicate_submission", example=url, n=repeats)
                if qualifies(row, opts):
                    kept += row[7]
                    links += 1
                    rows.append(row)
                    if len(rows) >= ROWS_PER_GROUP:
                        writer.extend_rows(rows)
                        rows = []
                else:
                    report.drop("low_karma", example=url, n=row[7])
            writer.extend_rows(rows)
        report.keep(kept)
        report.links += links
    finally:
        if collecting:
            gc.enable()
        shutil.rmtree(spill, ignore_errors=True)
    report.check()
    report.write(out / "report.json")
    log(STAGE, f"read {report.read:,}, kept {report.kept:,} submissions -> {report.links:,} links in {out / 'links'}")
    return report


def _batched(records: Iterable, size: int = 1024) -> Iterator[list]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def _fingerprint(files: list[Path]) -> list:
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _finished(out: Path, inputs: list, options: dict) -> HarvestReport | None:
    """The report of a finished harvest of exactly these inputs and options, if there is one."""
    path = out / "report.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if d.get("stage") != STAGE or d.get("inputs") != inputs or d.get("options") != options:
        return None
    if not any((out / "links").glob("links-*.parquet")):
        return None
    return HarvestReport.from_dict(d)


def harvest(
    dumps: list[str | os.PathLike],
    until: str,
    out: str | os.PathLike,
    *,
    min_karma: int = 3,
    keep_nsfw: bool = False,
    on_error: str = "fail",
    karma_rule: str = "max",
    max_urls_in_memory: int = 200_000,
) -> HarvestReport:
    """Harvest Pushshift submission dumps (files or folders) into `out/links/*.parquet` and `out/report.json`."""
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    if isinstance(dumps, (str, os.PathLike)):
        dumps = [dumps]
    if not dumps:
        raise ConfigError("no dumps given")
    opts = HarvestOptions(until, min_karma=min_karma, keep_nsfw=keep_nsfw, karma_rule=karma_rule)
    plan = plan_dump_files(dumps, until)
    out = Path(out)
    options = {**opts.to_dict(), "on_error": on_error, "source": "dumps"}
    inputs = _fingerprint(plan.selected)
    done = _finished(out, inputs, options)
    if done is not None:
        log(STAGE, f"already harvested these inputs with these options: {out / 'report.json'}")
        return done
    if on_error == "fail":  # an empty file is an error before anything is read (skip counts it when reached)
        for f in plan.selected:
            if f.stat().st_size == 0:
                raise InputError("empty file (0 bytes): not a dump; rerun with --on-error skip to count it and go on", path=str(f))
    for f in plan.skipped:
        log(STAGE, f"skipping {f}: its month is after {until}")
    report = HarvestReport(
        STAGE,
        files=[str(f) for f in plan.selected],
        skipped_files=[str(f) for f in plan.skipped],
        options=options,
        inputs=inputs,
    )

    def batches() -> Iterator[list]:
        for f in plan.selected:
            log(STAGE, f"reading {f}")
            yield from iter_records(f, on_error=on_error, report=report, fields=RecordFields, keys=RecordKeys, batches=True)

    return harvest_records(batches(), opts, out, report, batched=True, max_urls_in_memory=max_urls_in_memory)
