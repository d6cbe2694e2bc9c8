"""`webtext build` as Beam pipelines: one pipeline per stage, resumable, counted from its outputs.

    harvest -> fetch -> extract -> clean -> dedup -> shards     (each a Beam pipeline; transforms.py)
        -> manifest.json (the stages' reports, the shards' statistics) + README.md   (the launcher)

Why one pipeline per stage rather than one fused graph: each stage's output is materialised under
`OUT/stages/<stage>/` (Parquet, store.py) with a completion marker, so a killed build restarts at
the first unfinished stage, and the fetch stage - the one that takes days on real data - resumes
inside itself (`fetch_urls` skips URLs already logged). The per-stage pipelines are also the units
the Airflow DAG schedules (`--stop-after`). The cost is one pipeline start per stage (a few seconds
locally; a few minutes of worker start-up on Dataflow, negligible next to the fetch).

Counts: each stage's report (read, kept, every drop reason) is taken from what the stage wrote
(`store.report_from_outputs`: kept rows, drop rows, dead letters), so it holds on every runner,
including Dask, which has no metrics; it is then cross-checked with the runner's metrics where
there are some, and with the previous stage's row count (`read` must equal it). Any difference
stops the build before the stage is marked finished.

Progress (pipelines/progress.py): the workers write their running counts under each stage's
folder, the launcher sums them into a live table on a terminal, or a line per interval in logs.

The launcher holds no document text: it lists files, reads Parquet footers (row counts, the
documents' byte totals for the shard count) and the small per-shard statistics. The shards are
partitioned, sorted and written by the workers (`transforms.Shards`); only the manifest and the
card are written here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time

from pipelines import store
from webtext.config import STAGES, BuildConfig
from webtext.errors import InputError, WebtextError
from webtext.progress import debug, log
from webtext.report import StageReport

STAGE_INPUT = {"fetch": "harvest", "extract": "fetch", "clean": "extract", "dedup": "clean", "shards": "dedup"}


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build: carries the one line to show (what finished, how to resume)."""


_INTERRUPTED = threading.Event()  # set by Ctrl-C: a runner error that follows it is the interrupt


def _on_sigint(signum, frame):
    _INTERRUPTED.set()
    # the runner's gRPC threads log their broken streams as the workers go (ERROR with a
    # traceback, "Failed to read inputs in the data plane"): that is this interrupt, reported in one line
    for name in ("apache_beam", "grpc"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    raise KeyboardInterrupt


def _quiet_thread_errors_after_interrupt() -> None:
    """After Ctrl-C the runner's own threads fail as the workers go ("Worker subprocess exited
    with return code -2"): that is the interrupt, already reported in one line, not an error."""
    previous = threading.excepthook
    if getattr(previous, "_webtext", False):
        return

    def hook(args):
        if not _INTERRUPTED.is_set():
            previous(args)

    hook._webtext = True
    threading.excepthook = hook


def run_build(config: BuildConfig) -> dict:
    """Run (or resume) the build described by `config`; returns the manifest (or, with
    `stop_after` before the shards, a summary of the stages run)."""
    from pipelines.progress import BuildWatch
    from pipelines.runner import quiet_beam_logs, runner_session

    config.validate()
    if not config.is_remote:
        config.out = os.path.abspath(config.out)
    config.describe_remote = store.describe_tree  # gs:// inputs are fingerprinted by their listing too
    quiet_beam_logs()
    started = time.monotonic()
    reports: dict[str, StageReport] = {}
    timings: dict[str, dict] = {}
    stale = False  # once one stage reruns, every later stage must rerun too
    manifest = None
    todo = config.stages_to_run()
    finished: list[str] = []
    current = None
    _INTERRUPTED.clear()
    _quiet_thread_errors_after_interrupt()
    previous = signal.signal(signal.SIGINT, _on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        _remove_beam_temp(config.out)
        # the live display (or a line per interval), entered first: the workers started below inherit its settings
        with BuildWatch(config.out, todo) as watch, runner_session(config) as session:
            for i, stage in enumerate(todo, 1):
                fingerprint = config.fingerprint(stage)
                marker = store.read_marker(config.out, stage)
                if marker and marker.get("fingerprint") == fingerprint and not stale:
                    reports[stage] = StageReport.from_dict(marker["report"])
                    timings[stage] = {"seconds": marker.get("seconds"), "reused": True}
                    finished.append(stage)
                    watch.reused(stage, reports[stage].read, marker.get("seconds"))
                    log("build", f"[{i}/{len(todo)}] {stage}: finished earlier, reusing {store.stage_dir(config.out, stage)}")
                    continue
                stale = True
                current = stage
                if not watch.board.live:  # on a terminal the table says it
                    log("build", f"[{i}/{len(todo)}] {stage}: running")
                t0 = time.monotonic()
                if stage == "shards":
                    report, extra = _run_shards(config, reports, session, watch)
                    manifest = extra.pop("manifest")
                else:
                    report, extra = _run_stage_pipeline(config, stage, session, watch)
                seconds = time.monotonic() - t0
                counted = watch.finish(stage, report.read)
                if counted != report.read:  # a retried bundle counts twice live; the report is from the outputs
                    debug("build", f"{stage}: the workers counted {counted:,} for {report.read:,} read")
                report.check()
                store.write_marker(config.out, stage, fingerprint, report, seconds, extra)
                reports[stage] = report
                timings[stage] = {"seconds": round(seconds, 3), "reused": False}
                finished.append(stage)
                current = None
                dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.dropped.items())) or "none"
                log("build", f"[{i}/{len(todo)}] {stage}: read {report.read:,}, kept {report.kept:,}, dropped: {dropped} ({seconds:.1f} s)")
    except KeyboardInterrupt:
        done = ", ".join(finished) if finished else "no stage"
        where = f" during {current}" if current else ""
        raise BuildInterrupted(
            f"interrupted{where}; finished: {done} (kept under {config.out}/stages); "
            "rerun the same command to resume from the first unfinished stage"
        ) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    total = time.monotonic() - started
    if "shards" in todo:
        if manifest is None:  # the shards stage was reused: its manifest is on disk
            manifest = json.loads(store.read_bytes(store.join(config.out, "manifest.json")))
        log("build", f"done in {total:.1f} s: {config.out}/manifest.json, {config.out}/README.md")
        return manifest
    log("build", f"stopped after {todo[-1]} ({total:.1f} s)")
    return {"stages": [reports[s].to_dict() for s in todo], "timings": timings}


def _remove_beam_temp(out: str) -> None:
    """Remove the `beam-temp-*` folders that Beam's file sinks of a killed earlier build left in
    OUT/dead_letter/ and OUT/stages/<stage>/ (only names those sinks give: `beam-temp-<stage>-*`,
    `beam-temp-data-*`, `beam-temp-drops-*`); nothing else is touched."""
    if "://" in out:
        return
    import glob as _glob

    patterns = [os.path.join(out, "dead_letter", f"beam-temp-{s}-*") for s in STAGES]
    patterns += [os.path.join(out, "stages", s, f"beam-temp-{k}-*") for s in STAGES for k in ("data", "drops")]
    for pattern in patterns:
        for path in _glob.glob(pattern):
            if os.path.isdir(path):
                store.delete_tree(path)


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
        if config.source:  # a web archive (or --source live): the archive's rate is shared by the buckets
            from webtext.fetch.archive import share_rates

            opts.update(source=config.source, archive_endpoint=config.archive_endpoint or opts.get("archive_endpoint"))
            share_rates(opts, config.effective_buckets())
        if opts["replay"]:
            opts["replay"] = [os.path.abspath(p) if "://" not in p else p for p in opts["replay"]]
            fetch_dir = store.stage_dir(config.out, "fetch")
            if "://" not in fetch_dir:  # one URL index for every crawl of the stage (replay.ArchiveIndex)
                opts["replay_index"] = os.path.join(os.path.abspath(fetch_dir), "replay-index.sqlite")
        return t.Fetch(store.stage_dir(config.out, "fetch"), opts, config.effective_buckets(), config.fetch_batch_size,
                       shuffle_dir(config, "fetch"))
    if stage == "extract":
        return t.Extract()
    if stage == "clean":
        from webtext.filters import CleanOptions

        return t.Clean(CleanOptions(**config.clean_options))
    raise ValueError(stage)


def _harvest_input(config: BuildConfig, p):
    """The harvest transform applied to its source: dump files, or live API records."""
    from pipelines import transforms as t
    from webtext.reddit.links import HarvestOptions

    opts = HarvestOptions(config.until, min_karma=config.min_karma, keep_nsfw=config.keep_nsfw, karma_rule=config.karma_rule)
    if config.live:
        # The API is paged and rate-limited: one reader, on the launcher. Its records are streamed
        # to a file in the stage's folder (never held here, nor put in the job graph, which Dataflow
        # caps at 10 MB), kept there as the record of what the API answered, and harvested as a dump.
        path = _write_live_records(config)
        return p | "Harvest" >> t.Harvest([path], opts, "fail", store.stage_dir(config.out, "harvest"),
                                          shuffle_dir(config, "harvest"))
    from webtext.reddit.dumps import plan_dump_files

    plan = plan_dump_files(config.input_dumps(), config.until, listing=store.list_tree)  # gs:// listed through Beam
    for f in plan.skipped:
        log("harvest", f"skipping {f}: its month is after {config.until}")
    if not plan.selected:
        raise InputError(f"no dump file has a month up to {config.until}", path=", ".join(config.input_dumps()))
    return p | "Harvest" >> t.Harvest([str(f) for f in plan.selected], opts, config.on_error,
                                      store.stage_dir(config.out, "harvest"), shuffle_dir(config, "harvest"))


def _live_records(config: BuildConfig):
    from webtext.reddit import api

    return api.iter_live_records(api.connect(), config.subreddits, limit=config.live_limit)


LIVE_RECORDS = "live-records.jsonl.gz"


def _write_live_records(config: BuildConfig) -> str:
    """The live API's submission records, streamed as gzipped JSON lines (a dump `webtext
    harvest --dumps` reads too) to `OUT/stages/harvest/live-records.jsonl.gz`; its path."""
    import gzip

    path = store.join(store.stage_dir(config.out, "harvest"), LIVE_RECORDS)
    handle = store.open_write(path)
    n = 0
    try:
        with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
            for record in _live_records(config):
                gz.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                n += 1
    except BaseException:  # (an API error, Ctrl-C): no partial file is left to be read as the records
        handle.close()
        if "://" not in path:
            os.unlink(handle.name)
        else:  # closing an object-store writer publishes what it holds
            store.fs().delete([path])
        raise
    store.close_write(handle, path)
    log("harvest", f"{n:,} submissions from the Reddit API, kept in {path}")
    return path


def shuffle_dir(config: BuildConfig, stage: str) -> str | None:
    """Where the stage's groupings go through files (pipelines/shuffle.py): on the local runner,
    whose GroupByKeys are held in this process, `OUT/stages/<stage>/shuffle/` (removed when the
    stage ends); None on Dask and Dataflow, whose shuffles live in their workers."""
    return store.shuffle_dir(config.out, stage) if config.runner_kind == "local" else None


STAGE_KIND = {"harvest": "links", "fetch": "pages", "extract": "documents", "clean": "documents", "dedup": "documents"}


def build_stage_pipeline(config: BuildConfig, stage: str, session_args: list[str] | None = None):
    """The Beam pipeline of one stage (not run): the graph the build runs, and the one the Dataflow
    graph test constructs. Its last transform is the one terminal PCollection (what was written)."""
    import apache_beam as beam

    from pipelines import transforms as t
    from pipelines.runner import make_runner, pipeline_options

    out = config.out
    job = f"webtext-{stage}-{re.sub(r'[^a-z0-9]', '', config.until)}-{int(time.time())}"
    options = pipeline_options(config, job, session_args or [])
    p = beam.Pipeline(runner=make_runner(config, options), options=options)
    files = [] if stage == "harvest" else store.data_files(out, STAGE_INPUT[stage])
    kind = STAGE_KIND[stage]
    parts = config.output_parts(sum(store.file_meta(f)["row_bytes"] for f in files) if stage == "dedup" else 0)
    if stage == "harvest":
        _harvest_input(config, p) | "Write" >> t.WriteOutputs(out, stage, kind, parts, shuffle_dir(config, stage))
        return p
    if stage in ("extract", "clean"):  # per unit of work: read, process and write in one worker call
        step = t.extract_step() if stage == "extract" else t.clean_step(_clean_options(config), _decontamination(config))
        t.units(p, files, "Input") | "Process" >> beam.ParDo(t.UnitStage(out, stage, step, kind))
        return p
    if stage == "dedup":  # key records only through the shuffles; survivors re-read per unit of work
        from webtext.dedup import DedupOptions

        p | "Dedup" >> t.DedupFiles(files, out, DedupOptions(**config.dedup_options), parts, shuffle_dir(config, stage))
        return p
    rows = t.read_rows(p, files, "Input")
    rows | stage.capitalize() >> _stage_transform(config, stage) | "Write" >> t.WriteOutputs(out, stage, kind, parts,
                                                                                              shuffle_dir(config, stage))
    return p


def _clean_options(config: BuildConfig):
    from webtext.filters import CleanOptions

    return CleanOptions(**config.clean_options)


EVAL_NGRAMS_FILE = "eval-ngrams.npz"


def _decontamination(config: BuildConfig) -> tuple | None:
    """What the clean stage's workers need to decontaminate: (the evaluation n-grams file, its key,
    the threshold), or None without --decontaminate."""
    if not config.decontaminate:
        return None
    path = store.join(store.stage_dir(config.out, "clean"), EVAL_NGRAMS_FILE)
    return path, config.fingerprint("clean"), config.decontaminate_threshold


def _write_eval_ngrams(config: BuildConfig) -> dict:
    """The evaluation files' n-grams, computed once here (they are small) and written next to the
    clean stage's outputs for its workers (local or gs://: no side input, which Dask would hold whole)."""
    from webtext.checks.overlap import EvalNgrams

    index = EvalNgrams(config.decontaminate, config.decontaminate_ngram, config.decontaminate_format,
                       config.decontaminate_field)
    data = index.to_bytes()
    store.write_bytes(_decontamination(config)[0], data)
    log("clean", f"decontamination: {len(index):,} distinct {index.n}-grams from {len(index.files)} evaluation "
                 f"file(s) ({len(data):,} bytes); a document sharing more than {config.decontaminate_threshold} is dropped")
    return {"eval_ngrams": len(index), "files": index.files, "ngram": index.n, "threshold": config.decontaminate_threshold}


def _run_pipeline(p, session) -> object:
    try:
        result = p.run()
        result.wait_until_finish()
    except (WebtextError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a worker's exception arrives wrapped; surface the user's error as one line
        if _INTERRUPTED.is_set():  # the workers were stopped by the same Ctrl-C
            raise KeyboardInterrupt from None
        raise _user_error(exc) from None
    finally:
        session.after_run(locals().get("result"))
        _release_memory()
    return result


def _release_memory() -> None:
    """Give the memory a finished pipeline freed back to the system: the local runner keeps its
    buffers (GroupByKeys, Flattens: spill references and file names since pipelines/shuffle.py) in
    this process while a stage runs, and glibc keeps freed heap mapped, so without this the next
    stage's launcher starts from the previous stage's peak."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def _run_stage_pipeline(config: BuildConfig, stage: str, session, watch=None) -> tuple[StageReport, dict]:
    out = config.out
    _clear_stage(out, stage)
    decontamination = _write_eval_ngrams(config) if stage == "clean" and config.decontaminate else None
    upstream = STAGE_INPUT.get(stage)
    upstream_rows = sum(store.file_meta(f)["rows"] for f in store.data_files(out, upstream)) if upstream else None
    if watch is not None:
        watch.start(stage, upstream_rows)
    result = None
    if upstream_rows != 0:  # the previous stage kept nothing: nothing to run
        try:
            result = _run_pipeline(build_stage_pipeline(config, stage, session.args), session)
        finally:  # the spill files (and any orphan of a retried bundle): the build's own, under the stage
            store.delete_tree(store.shuffle_dir(out, stage))
    report = store.report_from_outputs(out, stage)
    problems = []
    if upstream_rows is not None and report.read != upstream_rows:
        problems.append(f"read: outputs account for {report.read:,}, the {upstream} stage kept {upstream_rows:,}")
    metrics = store.metrics_totals(stage, result) if result is not None else None
    problems += store.cross_check(report, metrics)
    if problems:
        raise WebtextError(f"{stage}: the counts do not add up ({'; '.join(problems)}); its output is left in {store.stage_dir(out, stage)}")
    dead = store.dead_letter_files(out, stage)
    if dead:
        log(stage, f"{report.dropped.get('dead_letter', 0):,} element(s) failed: see {', '.join(dead)}")
    checks = {"counts": "outputs", "metrics": "matched" if metrics is not None else "not available on this runner"}
    extra = {"dead_letter_files": dead, "checks": checks}
    if decontamination:
        extra["decontamination"] = decontamination
    return report, extra


_USER_ERROR = re.compile(r"webtext\.errors\.(\w+Error): (.+)")


def _user_error(exc: Exception) -> Exception:
    """A WebtextError raised inside a worker comes back as text in a runner exception: re-raise it as such."""
    m = _USER_ERROR.search(str(exc))
    if m:
        return WebtextError(m.group(2).strip())
    return exc


# ----------------------------------------------------------------------------------- shards


def build_shards_pipeline(config: BuildConfig, files: list[str], count: int, session_args: list[str] | None = None):
    """The shards stage's Beam pipeline (not run): `count` shards from the dedup files."""
    import apache_beam as beam

    from pipelines import transforms as t
    from pipelines.runner import make_runner, pipeline_options

    options = pipeline_options(config, f"webtext-shards-{int(time.time())}", session_args or [])
    p = beam.Pipeline(runner=make_runner(config, options), options=options)
    out = config.out
    p | "Shards" >> t.Shards(files, count, store.stage_dir(out, "shards"), store.join(out, "shards"))
    return p


def _run_shards(config: BuildConfig, reports: dict[str, StageReport], session, watch=None) -> tuple[StageReport, dict]:
    """Shards written by the workers (`transforms.Shards`), then the manifest and the card here.

    The shard count comes from the dedup files' footers (`webtext.row_bytes`); the launcher then
    reads only the per-shard statistics the workers wrote (`stages/shards/shard-NNNNN.json`: the
    manifest's figures and the card's), never a document's text."""
    import tempfile

    from webtext.card import write_card
    from webtext.shards import DEFAULT_TARGET_BYTES, SHARD_RE, shard_count, write_manifest

    out = config.out
    sdir = store.stage_dir(out, "shards")
    store.delete_tree(sdir)
    files = store.data_files(out, "dedup")
    metas = [store.file_meta(f) for f in files]
    count = shard_count(sum(m["row_bytes"] for m in metas), config.shard_target_bytes or DEFAULT_TARGET_BYTES)
    if watch is not None:
        watch.start("shards", sum(m["rows"] for m in metas))
    shards_dir = store.join(out, "shards")
    if not config.is_remote:
        os.makedirs(shards_dir, exist_ok=True)
    _run_pipeline(build_shards_pipeline(config, files, count, session.args), session)
    infos = [json.loads(store.read_bytes(f)) for f in store.glob(store.join(sdir, "shard-*.json"))]
    infos.sort(key=lambda i: i.pop("index"))
    if len(infos) != count:
        raise WebtextError(f"shards: {len(infos)} shard statistics for {count} shards in {sdir}")
    store.delete_tree(store.join(sdir, "spill"))
    current = {i["file"] for i in infos}
    stale = [f for f in store.glob(store.join(shards_dir, "webtext-*-of-*.parquet"))
             if SHARD_RE.match(f.rsplit("/", 1)[-1]) and f.rsplit("/", 1)[-1] not in current]
    if stale:  # shards of an earlier run with another shard count
        store.fs().delete(stale)
    report = StageReport("shards")
    report.keep(sum(i["rows"] for i in infos))
    expected = sum(m["rows"] for m in metas)
    if report.kept != expected:
        raise WebtextError(f"shards: {report.kept:,} rows in the shards, the dedup stage kept {expected:,}")
    for info in infos:
        info["file"] = f"shards/{info['file']}"
    stage_reports = [reports[s] for s in STAGES if s in reports and s != "shards"] + [report]
    manifest_config = {
        **config.to_dict(),
        "pipeline": {
            "engine": "apache_beam",
            "runner": config.runner,
            "workers": config.effective_workers() if config.runner_kind in ("local", "dask") else None,
            "counts": "from each stage's outputs (kept rows, drop rows, dead letters), cross-checked "
                      "with Beam metrics (namespace webtext.<stage>) where the runner has them",
        },
    }
    # The card comes from the statistics each shard's worker wrote with it (`card`): no text is read here.
    card_stats = [info.pop("card") for info in infos]
    schema = store.parquet_file(store.join(out, infos[0]["file"])).schema_arrow if infos else None  # a footer
    with tempfile.TemporaryDirectory(prefix="webtext-manifest-", ignore_cleanup_errors=True) as staging:
        local = staging if config.is_remote else out
        manifest = write_manifest(local, config=manifest_config, reports=stage_reports, shards=infos)
        write_card(local, manifest, card_stats, schema)
        if config.is_remote:
            from pipelines.transforms import _upload_tree

            manifest_file = os.path.join(local, "manifest.json")
            manifest_bytes = open(manifest_file, "rb").read()
            os.unlink(manifest_file)
            _upload_tree(local, out)  # the card (this removes the staging folder's files)
            store.write_bytes(store.join(out, "manifest.json"), manifest_bytes)
    return report, {"shards": [i["file"] for i in infos], "shard_count": count, "manifest": manifest}
