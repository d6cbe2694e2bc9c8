"""`webtext build` as Beam pipelines: one pipeline per stage, resumable, counted, then the shards.

    harvest -> fetch -> extract -> clean -> dedup      (each a Beam pipeline; transforms.py)
        -> shards                                       (the library's writer, on the driver)
        -> manifest.json (with the Beam-counted drop reasons) + README.md

Why one pipeline per stage rather than one fused graph: each stage's output is materialised under
`OUT/stages/<stage>/` with a completion marker (store.py), so a killed build restarts at the first
unfinished stage, and the fetch stage - the one that takes days on real data - resumes inside
itself (`fetch_urls` skips URLs already logged). The per-stage pipelines are also the units the
Airflow DAG schedules (`--stop-after`). The cost is one pipeline start per stage (about two seconds
locally; a few minutes of worker start-up on Dataflow, negligible next to the fetch).

Counts: each stage's report (read, kept, every drop reason) is read from Beam metrics after its
pipeline finishes and checked (`read == kept + sum(dropped)`) before the marker is written; the
drop rows written next to the data give the examples. The manifest carries these reports.

The shards step runs on the driver with `webtext.shards.write_shards` (one sorted writer: the
shard order is a global sort by URL hash, and a byte-identical rerun needs one writer). At WebText
scale that is ~40 GB of text through one process, about 10 minutes (docs/pipeline.md).
"""

from __future__ import annotations

import json
import os
import re
import time

from pipelines import store
from webtext.config import STAGES, BuildConfig
from webtext.errors import InputError, WebtextError
from webtext.progress import log
from webtext.report import StageReport

STAGE_INPUT = {"fetch": "harvest", "extract": "fetch", "clean": "extract", "dedup": "clean", "shards": "dedup"}


def run_build(config: BuildConfig) -> dict:
    """Run (or resume) the build described by `config`; returns the manifest (or, with
    `stop_after` before the shards, a summary of the stages run)."""
    from pipelines.runner import quiet_beam_logs

    config.validate()
    if not config.is_remote:
        config.out = os.path.abspath(config.out)
    quiet_beam_logs()
    started = time.monotonic()
    reports: dict[str, StageReport] = {}
    timings: dict[str, dict] = {}
    stale = False  # once one stage reruns, every later stage must rerun too
    manifest = None
    todo = config.stages_to_run()
    for i, stage in enumerate(todo, 1):
        fingerprint = config.fingerprint(stage)
        marker = store.read_marker(config.out, stage)
        if marker and marker.get("fingerprint") == fingerprint and not stale:
            reports[stage] = StageReport.from_dict(marker["report"])
            timings[stage] = {"seconds": marker.get("seconds"), "reused": True}
            log("build", f"[{i}/{len(todo)}] {stage}: finished earlier, reusing {store.stage_dir(config.out, stage)}")
            continue
        stale = True
        log("build", f"[{i}/{len(todo)}] {stage}: running")
        t0 = time.monotonic()
        if stage == "shards":
            report, extra = _run_shards(config, reports)
            manifest = extra.pop("manifest")
        else:
            report, extra = _run_stage_pipeline(config, stage)
        seconds = time.monotonic() - t0
        report.check()
        store.write_marker(config.out, stage, fingerprint, report, seconds, extra)
        reports[stage] = report
        timings[stage] = {"seconds": round(seconds, 3), "reused": False}
        dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.dropped.items())) or "none"
        log("build", f"[{i}/{len(todo)}] {stage}: read {report.read:,}, kept {report.kept:,}, dropped: {dropped} ({seconds:.1f} s)")
    total = time.monotonic() - started
    if "shards" in todo:
        if manifest is None:  # the shards stage was reused: its manifest is on disk
            manifest = json.loads(store.read_bytes(store.join(config.out, "manifest.json")))
        log("build", f"done in {total:.1f} s: {config.out}/manifest.json, {config.out}/README.md")
        return manifest
    log("build", f"stopped after {todo[-1]} ({total:.1f} s)")
    return {"stages": [reports[s].to_dict() for s in todo], "timings": timings}


# ----------------------------------------------------------------------------------- one stage


def _clear_stage(out: str, stage: str) -> None:
    """Remove a stage's earlier (unfinished or stale) output before it runs again.

    The fetch buckets' folders stay when the fetch settings are unchanged: `fetch_urls` resumes
    in them. Its data/drops files and the stage's dead letters always go."""
    sdir = store.stage_dir(out, stage)
    if stage == "fetch" and "://" not in out and os.path.isdir(sdir):
        for name in os.listdir(sdir):
            if not name.startswith("part-"):
                path = os.path.join(sdir, name)
                if os.path.isdir(path):
                    store.delete_tree(path)
                else:
                    os.unlink(path)
    else:
        store.delete_tree(sdir)
    dead = store.glob(store.dead_letter_prefix(out, stage) + "-*")
    if dead:
        store.fs().delete(dead)


def _stage_transform(config: BuildConfig, stage: str):
    from pipelines import transforms as t

    if stage == "fetch":
        from webtext.fetch import FetchOptions

        opts = FetchOptions.from_dict(config.fetch_options).to_dict()
        opts["replay"] = config.replay_archives()
        if opts["replay"]:
            opts["replay"] = [os.path.abspath(p) if "://" not in p else p for p in opts["replay"]]
        return t.Fetch(store.stage_dir(config.out, "fetch"), opts, config.effective_buckets(), config.fetch_batch_size)
    if stage == "extract":
        return t.Extract()
    if stage == "clean":
        from webtext.filters import CleanOptions

        return t.Clean(CleanOptions(**config.clean_options))
    if stage == "dedup":
        from webtext.dedup import DedupOptions

        return t.Dedup(DedupOptions(**config.dedup_options))
    raise ValueError(stage)


def _harvest_input(config: BuildConfig, p):
    """The harvest transform applied to its source: dump files, or live API records."""
    from pipelines import transforms as t
    from webtext.reddit.links import HarvestOptions

    opts = HarvestOptions(config.until, min_karma=config.min_karma, keep_nsfw=config.keep_nsfw, karma_rule=config.karma_rule)
    if config.live:
        import apache_beam as beam

        # The API is paged and rate-limited: one reader, on the driver; the records then fan out.
        records = list(_live_records(config))
        log("harvest", f"{len(records):,} submissions from the Reddit API")
        return p | "LiveRecords" >> beam.Create(records) | "Harvest" >> t.Harvest(None, opts)
    from webtext.reddit.dumps import plan_dump_files

    plan = plan_dump_files(config.input_dumps(), config.until)
    for f in plan.skipped:
        log("harvest", f"skipping {f}: its month is after {config.until}")
    if not plan.selected:
        raise InputError(f"no dump file has a month up to {config.until}", path=", ".join(config.input_dumps()))
    return p | "Harvest" >> t.Harvest([str(f) for f in plan.selected], opts, config.on_error)


def _live_records(config: BuildConfig):
    from webtext.reddit import api

    return api.iter_live_records(api.connect(), config.subreddits, limit=config.live_limit)


def _run_stage_pipeline(config: BuildConfig, stage: str) -> tuple[StageReport, dict]:
    import apache_beam as beam

    from pipelines import transforms as t
    from pipelines.runner import make_runner, pipeline_options

    out = config.out
    _clear_stage(out, stage)
    job = f"webtext-{stage}-{re.sub(r'[^a-z0-9]', '', config.until)}-{int(time.time())}"
    options = pipeline_options(config, job)
    p = beam.Pipeline(runner=make_runner(config, options), options=options)
    if stage == "harvest":
        res = _harvest_input(config, p)
    else:
        upstream = STAGE_INPUT[stage]
        prefix = store.data_prefix(out, upstream)
        if store.glob(prefix + "-*.jsonl.gz"):
            rows = t.read_jsonl(p, prefix, "Input")
        else:  # the previous stage kept nothing
            rows = p | "NoInput" >> beam.Create([])
        res = rows | stage.capitalize() >> _stage_transform(config, stage)
    t.write_jsonl(res[t.KEPT], store.data_prefix(out, stage), "Kept")
    t.write_jsonl(res[t.DROPPED], store.drops_prefix(out, stage), "Drops")
    (
        res[t.DEAD]
        | "DeadToJson" >> beam.Map(lambda r: __import__("json").dumps(r, ensure_ascii=False, default=str))
        | "DeadWrite" >> beam.io.WriteToText(store.dead_letter_prefix(out, stage), file_name_suffix=".jsonl", skip_if_empty=True)
    )
    try:
        result = p.run()
        result.wait_until_finish()
    except WebtextError:
        raise
    except Exception as exc:  # a worker's exception arrives wrapped; surface the user's error as one line
        raise _user_error(exc) from None
    drop_rows = store.read_jsonl(store.drops_prefix(out, stage) + "-*.jsonl.gz")
    report = store.report_from_metrics(stage, result, drop_rows)
    dead = store.glob(store.dead_letter_prefix(out, stage) + "-*")
    if dead:
        log(stage, f"{report.dropped.get('dead_letter', 0):,} element(s) failed: see {', '.join(dead)}")
    return report, {"dead_letter_files": dead}


_USER_ERROR = re.compile(r"webtext\.errors\.(\w+Error): (.+)")


def _user_error(exc: Exception) -> Exception:
    """A WebtextError raised inside a worker comes back as text in a runner exception: re-raise it as such."""
    m = _USER_ERROR.search(str(exc))
    if m:
        return WebtextError(m.group(2).strip())
    return exc


# ----------------------------------------------------------------------------------- shards


def _run_shards(config: BuildConfig, reports: dict[str, StageReport]) -> tuple[StageReport, dict]:
    """Shards, manifest and card from the dedup stage's output (the library's writers).

    The writers work on a local folder: for a `gs://` output they write to a temporary folder whose
    files are then copied up (shards first, the manifest - which marks a complete build - last)."""
    import tempfile

    from webtext.card import write_card
    from webtext.shards import DEFAULT_TARGET_BYTES, write_manifest, write_shards

    docs = store.read_jsonl(store.data_prefix(config.out, "dedup") + "-*.jsonl.gz")
    report = StageReport("shards")
    report.keep(len(docs))
    with tempfile.TemporaryDirectory(prefix="webtext-shards-", ignore_cleanup_errors=True) as staging:
        local = staging if config.is_remote else config.out
        infos = write_shards(docs, os.path.join(local, "shards"), target_bytes=config.shard_target_bytes or DEFAULT_TARGET_BYTES)
        for info in infos:
            info["file"] = f"shards/{info['file']}"
        stage_reports = [reports[s] for s in STAGES if s in reports and s != "shards"] + [report]
        manifest_config = {
            **config.to_dict(),
            "pipeline": {
                "engine": "apache_beam",
                "runner": config.runner,
                "workers": config.effective_workers() if config.is_local_runner else None,
                "counts": "Beam metrics (namespace webtext.<stage>: read, kept, drop.<reason>)",
            },
        }
        manifest = write_manifest(local, config=manifest_config, reports=stage_reports, shards=infos)
        write_card(local, manifest)
        if config.is_remote:
            from pipelines.transforms import _upload_tree

            manifest_file = os.path.join(local, "manifest.json")
            manifest_bytes = open(manifest_file, "rb").read()
            os.unlink(manifest_file)
            _upload_tree(local, config.out)  # shards and card (this removes the staging folder's files)
            store.write_bytes(store.join(config.out, "manifest.json"), manifest_bytes)
    return report, {"shards": [i["file"] for i in infos], "manifest": manifest}
