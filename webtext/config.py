"""One `BuildConfig`: what the whole build reads, how it fetches, and where it writes.

The CLI (`webtext build`), the Beam pipeline (`pipelines/`) and the Airflow DAG (`dags/`) all build
this one dataclass, so a build started from any of them means the same thing, and the manifest
records it (`to_dict()`).

Inputs, in order of precedence:
- `live=True`: submissions come from Reddit's API (`subreddits`), not from dumps.
- `dumps`: Pushshift dump files or folders.
- neither: the embedded sample (`webtext/sample/`): its dump, and its WARC archive replayed as the
  fetch stage's source, so the build runs offline.

Fetching: `live_fetch=True` (or `source="live"`) crawls the real web (Scrapy);
`source="wayback"`, `"commoncrawl[:CRAWL,...]"` or `"archive-then-live"` fetches each link's
capture closest to its first submission from a web archive (webtext/fetch/archive.py;
`archive_endpoint` points at another pywb / CDX archive); otherwise the fetch stage replays WARC
archives (`replay`; the sample's archive when the sample is the input). Real dumps with no fetch
source are a configuration error rather than a silent crawl of the web.

Resumability: each stage's output carries the fingerprint of the settings it depends on
(`stage_settings(stage)`); a rerun reuses a finished stage only when its fingerprint matches, so
changing `until` or a filter threshold recomputes that stage and every stage after it.

This module imports nothing heavy: the CLI builds a config before anything is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from webtext.errors import ConfigError

# The stages of `webtext build`, in order. Each writes OUT/stages/<stage>/ with a completion marker.
STAGES = ("harvest", "fetch", "extract", "clean", "dedup", "shards")

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_DUMP = SAMPLE_DIR / "RS_sample.zst"
SAMPLE_WARC = SAMPLE_DIR / "sample.warc.gz"

# Both run in this machine's processes; "FnApiRunner" is the default (see pipelines/runner.py).
LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner")
DASK_RUNNERS = ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner")
DATAFLOW_RUNNERS = ("DataflowRunner", "apache_beam.runners.dataflow.dataflow_runner.DataflowRunner")


@dataclass
class BuildConfig:
    until: str = "2017-12"
    dumps: list[str] = field(default_factory=list)
    live: bool = False
    subreddits: list[str] = field(default_factory=list)
    live_limit: int | None = None            # submissions per subreddit from the live API (None: all it gives)
    live_fetch: bool = False
    replay: list[str] = field(default_factory=list)
    source: str | None = None                 # fetch source; None: live_fetch / replay decide; else live|wayback|commoncrawl[:..]|archive-then-live
    archive_endpoint: str | None = None       # the archive's URL (FetchOptions.archive_endpoint)
    out: str = "webtext-out"
    # Beam
    runner: str = "FnApiRunner"
    workers: int = 0                          # local (or local Dask) worker processes; 0 = one per CPU
    dask_address: str | None = None           # DaskRunner: a running scheduler (None: a local cluster)
    beam_args: list[str] = field(default_factory=list)
    # harvest
    min_karma: int = 3
    keep_nsfw: bool = False
    karma_rule: str = "max"
    on_error: str = "fail"
    # fetch: URLs are grouped by domain into `fetch_buckets` buckets; each bucket is crawled by one
    # Scrapy process at a time, `fetch_batch_size` URLs per call, so per-domain politeness holds.
    fetch_buckets: int = 0                    # 0 = one per worker
    fetch_batch_size: int = 2000
    fetch_options: dict = field(default_factory=dict)   # webtext.fetch.FetchOptions fields
    clean_options: dict = field(default_factory=dict)   # webtext.filters.CleanOptions fields
    dedup_options: dict = field(default_factory=dict)   # webtext.dedup.DedupOptions fields
    # decontamination (docs/checks.md): the clean stage also drops, as `contaminated`, every document
    # sharing more than `decontaminate_threshold` n-grams (of `decontaminate_ngram` normalised words)
    # with these evaluation files (plain text, JSON lines or Parquet; the text in `decontaminate_field`)
    decontaminate: list[str] = field(default_factory=list)
    decontaminate_ngram: int = 8
    decontaminate_threshold: int = 0
    decontaminate_format: str = "auto"        # auto (from the extension) | text | jsonl | parquet
    decontaminate_field: str = "text"
    shard_target_bytes: int | None = None     # None: webtext.shards' default
    stop_after: str | None = None             # run the stages up to this one (the DAG's tasks use it)

    # Not a setting (no annotation: not a dataclass field, not in the manifest). How fingerprints
    # describe an input at a URL (gs://...): path -> what identifies its content (sizes, times).
    # The library reads local files only; the build sets one that lists through Beam
    # (`pipelines.store.describe_tree`). Without it, only the path counts.
    describe_remote = None

    # ------------------------------------------------------------------ derived values

    @property
    def uses_sample(self) -> bool:
        return not self.live and not self.dumps

    @property
    def is_remote(self) -> bool:
        return "://" in self.out

    @property
    def runner_kind(self) -> str:
        """local (FnApiRunner/DirectRunner), dask, dataflow, or other (a Beam runner passed through)."""
        if self.runner in LOCAL_RUNNERS:
            return "local"
        if self.runner in DASK_RUNNERS:
            return "dask"
        if self.runner in DATAFLOW_RUNNERS:
            return "dataflow"
        return "other"

    def output_parts(self, input_bytes: int = 0) -> int:
        """Files per kind of output of the shuffled stages (harvest, fetch, dedup): two per worker,
        and at least one per 128 MB of input text, so that no part (one GroupByKey group, which
        some runners hold whole) grows with the corpus."""
        return max(2 * self.effective_workers(), -(-int(input_bytes) // (128 * 2**20)))

    def effective_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    def effective_buckets(self) -> int:
        return self.fetch_buckets if self.fetch_buckets > 0 else self.effective_workers()

    def input_dumps(self) -> list[str]:
        return [str(SAMPLE_DUMP)] if self.uses_sample else list(self.dumps)

    def effective_source(self) -> str:
        """Where the fetch stage gets pages: `replay`, `live`, or a web archive source (archive.py)."""
        if self.source:
            return self.source
        return "live" if self.live_fetch else "replay"

    def replay_archives(self) -> list[str] | None:
        """WARC files the fetch stage replays, or None for a live crawl or a web archive source."""
        if self.live_fetch or self.source:
            return None
        if self.replay:
            return list(self.replay)
        return [str(SAMPLE_WARC)]

    def stages_to_run(self) -> tuple[str, ...]:
        end = STAGES.index(self.stop_after) + 1 if self.stop_after else len(STAGES)
        return STAGES[:end]

    # ------------------------------------------------------------------ checks

    def validate(self) -> "BuildConfig":
        """Raise ConfigError for an impossible combination; returns self."""
        from webtext.reddit.dumps import parse_month  # light: stdlib only

        parse_month(self.until)
        if self.live and self.dumps:
            raise ConfigError("--live reads Reddit's API; it cannot be combined with --dumps")
        if self.live and not self.subreddits:
            raise ConfigError("--live needs at least one --subreddit")
        if self.live_fetch and self.replay:
            raise ConfigError("--live-fetch crawls the web; it cannot be combined with --replay")
        if self.source:
            from webtext.fetch.archive import check_endpoint, parse_source  # light: stdlib only until used

            parse_source(self.source)
            check_endpoint(self.archive_endpoint, "--archive-endpoint")
            if self.replay or (self.live_fetch and self.source != "live"):
                raise ConfigError(f"--source {self.source} cannot be combined with --replay or --live-fetch")
        if self.archive_endpoint and self.effective_source() in ("live", "replay"):
            raise ConfigError("--archive-endpoint needs an archive source (--source wayback, commoncrawl or archive-then-live)")
        if not self.uses_sample and not self.live_fetch and not self.replay and not self.source:
            raise ConfigError(
                "real inputs need a fetch source: --live-fetch (or --source live) to crawl the web, --source wayback|"
                "commoncrawl for web archives, or --replay WARC... to replay archives (only the embedded sample has its own)"
            )
        for path in self.dumps + self.replay:
            if "://" not in path and not Path(path).exists():
                raise ConfigError(f"no such file or folder: {path}")
        remote_replay = [p for p in (self.replay_archives() or []) if "://" in p]
        if remote_replay:  # (dumps on gs:// are read through Beam's FileSystems; WARC replay is not)
            raise ConfigError(
                f"--replay {remote_replay[0]}: archives are replayed from local files only; replay on this "
                "machine (the local or Dask runner), or fetch with --live-fetch or --source on Dataflow"
            )
        if self.decontaminate:
            self._validate_decontaminate()
        if self.stop_after is not None and self.stop_after not in STAGES:
            raise ConfigError(f"--stop-after must be one of {', '.join(STAGES)}, not {self.stop_after!r}")
        if self.min_karma < 0:
            raise ConfigError(f"--min-karma must be >= 0, not {self.min_karma}")
        if self.workers < 0 or self.fetch_buckets < 0 or self.fetch_batch_size < 1:
            raise ConfigError("--workers, fetch buckets and the fetch batch size must be positive")
        if self.is_remote and not self.out.startswith("gs://"):
            raise ConfigError(f"unsupported output location {self.out!r}: use a local folder or gs://bucket/path")
        if self.dask_address and self.runner_kind != "dask":
            raise ConfigError("--dask-address needs --runner DaskRunner")
        if self.runner_kind == "dataflow":
            self._validate_dataflow()
        return self

    def _validate_decontaminate(self) -> None:
        """The evaluation files are read on the launcher (only their n-grams go to the workers)."""
        for path in self.decontaminate:
            if "://" in path:
                raise ConfigError(f"--decontaminate {path}: the evaluation files are read on this machine; give a local path")
            if not Path(path).is_file():
                raise ConfigError(f"--decontaminate: no such file: {path}")
        if self.decontaminate_ngram < 1:
            raise ConfigError(f"--decontaminate-ngram must be >= 1, not {self.decontaminate_ngram}")
        if self.decontaminate_threshold < 0:
            raise ConfigError(f"--decontaminate-threshold must be >= 0, not {self.decontaminate_threshold}")
        if self.decontaminate_format not in ("auto", "text", "jsonl", "parquet"):
            raise ConfigError(f"--decontaminate-format must be auto, text, jsonl or parquet, not {self.decontaminate_format!r}")
        from webtext.checks.evalsets import read_examples  # light (pyarrow only for Parquet)

        for path in self.decontaminate:  # read now: a bad file stops the build before days of fetching, not at clean
            read_examples(path, self.decontaminate_format, self.decontaminate_field)

    def _validate_dataflow(self) -> None:
        """Dataflow workers see only Cloud Storage: output, temp/staging and every input on gs://."""
        if not self.out.startswith("gs://"):
            raise ConfigError(f"--runner DataflowRunner writes to Cloud Storage: --out must be gs://bucket/path, not {self.out!r}")
        for arg in self.beam_args:
            name, _, value = arg.lstrip("-").partition("=")
            if name in ("temp_location", "staging_location", "gcp_temp_location") and not value.startswith("gs://"):
                raise ConfigError(f"--beam-option={arg}: Dataflow needs a gs:// location, not {value!r}")
        if not any(a.lstrip("-").startswith(("temp_location=", "gcp_temp_location=")) for a in self.beam_args):
            raise ConfigError("--runner DataflowRunner needs --beam-option=--temp_location=gs://BUCKET/tmp")
        local = [p for p in self.input_dumps() + (self.replay_archives() or []) if not p.startswith("gs://")]
        if local:
            raise ConfigError(
                f"--runner DataflowRunner: the workers cannot read {local[0]}; copy the inputs (dumps, "
                "archives; the embedded sample too) to gs:// and name them there"
            )

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """Every setting, JSON-ready, for the manifest (and for `from_dict`)."""
        d = asdict(self)
        d["input"] = "live" if self.live else "dumps" if self.dumps else "sample"
        d["fetch_source"] = self.effective_source()
        return d

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **overrides) -> "BuildConfig":
        """A config from a TOML file with `BuildConfig`'s field names as top-level keys, then
        `overrides` (the command-line flags the user gave) on top. Relative paths in `dumps`,
        `replay`, `decontaminate` and `out` are relative to the file's folder. Unknown keys and wrong types are
        errors naming the file."""
        import tomllib

        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; the settings are BuildConfig's: "
                              f"{', '.join(known)}")
        defaults = cls()
        for name, value in data.items():
            want = _FIELD_TYPES.get(name) or type(getattr(defaults, name))
            if isinstance(value, bool) and want is not bool or not isinstance(value, want):
                raise ConfigError(f"{path}: {name} = {value!r} should be {_type_name(want)}")
        base = path.resolve().parent
        for name in ("dumps", "replay", "decontaminate"):
            if name in data:
                data[name] = [_relative_to(base, p) for p in data[name]]
        if "out" in data:
            data["out"] = _relative_to(base, data["out"])
        for name, value in overrides.items():  # a flag's NAME=VALUE options add to the file's table
            data[name] = {**data[name], **value} if isinstance(value, dict) and name in data else value
        return cls(**data)

    @classmethod
    def from_dict(cls, d: dict) -> "BuildConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def stage_settings(self, stage: str) -> dict:
        """The settings a stage's output depends on (a changed value invalidates that stage)."""
        if stage == "harvest":
            inputs = (
                {"live": True, "subreddits": sorted(self.subreddits), "live_limit": self.live_limit}
                if self.live
                else {"dumps": [_describe_input(p, self.describe_remote) for p in self.input_dumps()]}
            )
            return {
                **inputs, "until": self.until, "min_karma": self.min_karma, "keep_nsfw": self.keep_nsfw,
                "karma_rule": self.karma_rule, "on_error": self.on_error,
            }
        if stage == "fetch":
            archives = self.replay_archives()
            # Buckets and batch size only decide how the work is split, not what it gives: they are
            # left out, so a rerun with another --workers reuses a finished fetch.
            settings = {
                "source": "live" if archives is None else [_describe_input(p) for p in archives],
                "options": self.fetch_options,
            }
            if self.source:  # (only when set, so the fingerprint of a build without it is unchanged)
                settings["source"] = self.source
                settings["archive_endpoint"] = self.archive_endpoint
            return settings
        if stage == "extract":
            return {}
        if stage == "clean":
            settings = {"options": self.clean_options}
            if self.decontaminate:  # (only when set, so the fingerprint of a build without it is unchanged)
                settings["decontaminate"] = {
                    "files": [_describe_input(p) for p in self.decontaminate], "ngram": self.decontaminate_ngram,
                    "threshold": self.decontaminate_threshold, "format": self.decontaminate_format,
                    "field": self.decontaminate_field,
                }
            return settings
        if stage == "dedup":
            return {"options": self.dedup_options}
        if stage == "shards":
            return {"target_bytes": self.shard_target_bytes}
        raise ValueError(f"unknown stage {stage!r}")

    def fingerprint(self, stage: str) -> str:
        """SHA-256 of this stage's settings and every earlier stage's: a stage is stale when any input changed."""
        upto = STAGES[: STAGES.index(stage) + 1]
        blob = json.dumps({s: self.stage_settings(s) for s in upto}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


# Types of the fields whose default is None (the others take their default's type).
_FIELD_TYPES = {"live_limit": int, "shard_target_bytes": int, "stop_after": str, "dask_address": str}


def _type_name(t) -> str:
    return {list: "a list", dict: "a table", bool: "true or false", int: "an integer", str: "a string"}.get(t, t.__name__)


def _relative_to(base: Path, path: str) -> str:
    return path if "://" in path or Path(path).is_absolute() else str(base / path)


def _describe_input(path: str, describe_remote=None) -> dict:
    """A file's identity for fingerprints: its path, size and modification time (cheap; no hashing
    of GBs); for a folder, its files' count and bytes. A URL: what `describe_remote` says of it."""
    p = Path(path)
    if "://" in path:
        return {"path": path, **(describe_remote(path) if describe_remote is not None else {})}
    if not p.exists():
        return {"path": path}
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        return {"path": str(p.resolve()), "files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    st = p.stat()
    return {"path": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
