"""Airflow 3 DAG `webtext`: the corpus build, the tokenizer and (optionally) GPT-2, as CLI calls.

    harvest -> fetch -> build_shards -> train_tokenizer -> tokenize -> train_gpt2 (skipped unless enabled)

Every task runs the `webtext` command of the project's main environment (a bash task), so this file
imports nothing but Airflow and the standard library: Airflow lives in its own environment
(`.venv-airflow`, see scripts/install-airflow.sh) whose pins clash with Beam's. The CLI is
`$WEBTEXT_CLI`, else the `webtext_cli` param, else `<repo>/.venv/bin/webtext`.

The first three tasks are one `webtext build` cut at stage boundaries with `--stop-after`: each
call passes the same inputs, so the build's completion markers make the later call reuse what the
earlier one finished (a retried or re-run task resumes rather than redoes). Then the tokenizer is
trained on the shards, the shards are tokenized into `train.bin`/`val.bin`, and GPT-2 is trained
when `train_gpt2` is true (otherwise the task exits 99, which Airflow records as skipped).

Operations:

- **Retries with backoff.** Every task is retried (`RETRIES`, first after `RETRY_DELAY`, doubling up
  to `MAX_RETRY_DELAY`): the build resumes from its completion markers, the fetch from its log, and
  GPT-2 training from its checkpoint, so a retry continues rather than redoes.
- **Execution timeouts** per task (`TIMEOUTS`): a hung crawl or a stuck worker fails the try (and
  is retried) instead of holding the run forever. Sized for a full WebText build on one machine;
  change them here for other scales.
- **A pool for the fetch task** (`FETCH_POOL`, one slot): two DAG runs never crawl at the same time,
  so per-site politeness holds across runs. Create it once:
  `airflow pools set webtext_fetch 1 "webtext: one crawl at a time"`.
- **Assets** (Airflow 3's datasets): `build_shards` updates `SHARDS_ASSET` and `tokenize` updates
  `TOKENS_ASSET`, with the folder as the event's `extra["path"]`, so downstream DAGs can run on
  them: `schedule=[Asset("webtext_shards", uri="webtext://shards")]`.

Params (trigger with `airflow dags trigger webtext --conf '{"until": "2017-12", ...}'`):

| param | meaning |
|---|---|
| `until` | last month of submissions, YYYY-MM |
| `inputs` | Pushshift dump files/folders; empty = the embedded sample |
| `replay` | WARC files/folders to replay as the fetch source (the sample's own archive when empty) |
| `live_fetch` | crawl the real web instead of replaying |
| `source` | fetch source: `live`, `wayback`, `commoncrawl[:CRAWL,...]`, `archive-then-live` ('' = replay / `live_fetch`); docs/fetch.md |
| `archive_endpoint` | with an archive source: a pywb collection or CDX server instead of the public archive ('' = the public one) |
| `output` | the build folder (shards/, manifest.json, README.md; tokenizer/, tokens/, gpt2/ are added) |
| `workers` | local Beam workers (0 = one per CPU) |
| `decontaminate`, `decontaminate_threshold`, `decontaminate_ngram` | evaluation files whose n-grams the clean stage removes from the corpus (`webtext build --decontaminate`, docs/checks.md) |
| `vocab_size` | BPE vocabulary size including `<|endoftext|>` |
| `val_permille` | documents per 1000 held out in `val.bin` |
| `train_gpt2`, `gpt2_model`, `gpt2_max_steps`, `gpt2_args` | the optional training task (resumes from its checkpoint when retried) |
| `webtext_cli` | path of the `webtext` command (overridden by `$WEBTEXT_CLI`) |
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Asset, Param, get_current_context, task

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLI = str(REPO / ".venv" / "bin" / "webtext")

RETRIES = 3
RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(minutes=30)
TIMEOUTS = {
    "harvest": timedelta(hours=6),
    "fetch": timedelta(hours=72),
    "build_shards": timedelta(hours=24),
    "train_tokenizer": timedelta(hours=12),
    "tokenize": timedelta(hours=12),
    "train_gpt2": timedelta(days=7),  # a retry resumes from the last checkpoint
}
FETCH_POOL = "webtext_fetch"
SHARDS_ASSET = Asset(name="webtext_shards", uri="webtext://shards")
TOKENS_ASSET = Asset(name="webtext_tokens", uri="webtext://tokens")


def _cli(params: dict) -> str:
    return os.environ.get("WEBTEXT_CLI") or params.get("webtext_cli") or DEFAULT_CLI


def _out(params: dict) -> Path:
    return Path(params["output"]).expanduser()


def build_command(params: dict, stop_after: str | None = None) -> str:
    """The `webtext build` command line for these params (identical across tasks but --stop-after)."""
    args = [_cli(params), "build", "--until", str(params["until"]), "--out", str(_out(params))]
    if params.get("inputs"):
        args += ["--dumps", *map(str, params["inputs"])]
    if params.get("source"):
        args += ["--source", str(params["source"])]
        if params.get("archive_endpoint"):
            args += ["--archive-endpoint", str(params["archive_endpoint"])]
    elif params.get("live_fetch"):
        args.append("--live-fetch")
    elif params.get("replay"):
        args += ["--replay", *map(str, params["replay"])]
    if params.get("workers"):
        args += ["--workers", str(int(params["workers"]))]
    if params.get("decontaminate"):
        args += ["--decontaminate", *map(str, params["decontaminate"])]
        args += ["--decontaminate-threshold", str(int(params.get("decontaminate_threshold") or 0))]
        args += ["--decontaminate-ngram", str(int(params.get("decontaminate_ngram") or 8))]
    if stop_after:
        args += ["--stop-after", stop_after]
    return shlex.join(args)


def _params() -> dict:
    return get_current_context()["params"]


def _announce(asset: Asset, path: Path) -> None:
    """Put the folder into the asset event this task emits when it succeeds."""
    get_current_context()["outlet_events"][asset].extra = {"path": str(path)}


with DAG(
    dag_id="webtext",
    description="Rebuild WebText: Reddit links -> fetch -> extract/clean/dedup -> shards -> BPE -> tokens -> GPT-2",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["webtext"],
    doc_md=__doc__,
    default_args={
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": MAX_RETRY_DELAY,
    },
    params={
        "until": Param("2017-12", type="string", pattern=r"^\d{4}-\d{2}$", description="last month of submissions (YYYY-MM)"),
        "inputs": Param([], type="array", items={"type": "string"}, description="Pushshift dumps; empty = the embedded sample"),
        "replay": Param([], type="array", items={"type": "string"}, description="WARC archives to replay as the fetch source"),
        "live_fetch": Param(False, type="boolean", description="crawl the real web"),
        "source": Param("", type="string", pattern=r"^(|live|wayback|archive-then-live|commoncrawl(:[A-Z0-9,-]+)?)$",
                        description="fetch source: live, wayback, commoncrawl[:CRAWL,...], archive-then-live ('' = replay)"),
        "archive_endpoint": Param("", type="string", description="archive URL for an archive source ('' = the public archive)"),
        "output": Param(str(REPO / "webtext-out"), type="string", description="the build folder"),
        "workers": Param(0, type="integer", minimum=0, description="local Beam workers (0 = one per CPU)"),
        "decontaminate": Param([], type="array", items={"type": "string"},
                               description="evaluation files: drop corpus documents sharing their n-grams (empty = none)"),
        "decontaminate_threshold": Param(0, type="integer", minimum=0, description="shared n-grams a document may have"),
        "decontaminate_ngram": Param(8, type="integer", minimum=1, description="n-gram length for decontamination"),
        "vocab_size": Param(50257, type="integer", minimum=257, description="BPE vocabulary size"),
        "train_gpt2": Param(False, type="boolean", description="run the GPT-2 training task"),
        "gpt2_model": Param("gpt2-124m", type="string", description="model size for train_gpt2"),
        "gpt2_max_steps": Param(10000, type="integer", minimum=1, description="optimizer steps for train_gpt2"),
        "gpt2_args": Param("", type="string", description="more `webtext train` flags, e.g. '--block-size 256 --batch-size 8'"),
        "val_permille": Param(5, type="integer", minimum=0, maximum=1000, description="documents per 1000 sent to val.bin"),
        "webtext_cli": Param("", type="string", description="path of the webtext command ('' = default)"),
    },
) as dag:

    @task.bash(execution_timeout=TIMEOUTS["harvest"])
    def harvest() -> str:
        return build_command(_params(), stop_after="harvest")

    @task.bash(execution_timeout=TIMEOUTS["fetch"], pool=FETCH_POOL, pool_slots=1)
    def fetch() -> str:
        return build_command(_params(), stop_after="fetch")

    @task.bash(execution_timeout=TIMEOUTS["build_shards"], outlets=[SHARDS_ASSET])
    def build_shards() -> str:
        _announce(SHARDS_ASSET, _out(_params()) / "shards")
        return build_command(_params())

    @task.bash(execution_timeout=TIMEOUTS["train_tokenizer"])
    def train_tokenizer() -> str:
        params = _params()
        out = _out(params)
        return shlex.join([
            _cli(params), "tokenizer", "train", "--shards", str(out / "shards"), "--out", str(out / "tokenizer"),
            "--vocab-size", str(int(params["vocab_size"])),
        ])

    @task.bash(execution_timeout=TIMEOUTS["tokenize"], outlets=[TOKENS_ASSET])
    def tokenize() -> str:
        params = _params()
        out = _out(params)
        _announce(TOKENS_ASSET, out / "tokens")
        return shlex.join([
            _cli(params), "tokenize", "--shards", str(out / "shards"), "--tokenizer", str(out / "tokenizer"),
            "--out", str(out / "tokens"), "--val-permille", str(int(params["val_permille"])),
        ])

    @task.bash(skip_on_exit_code=99, execution_timeout=TIMEOUTS["train_gpt2"])
    def train_gpt2() -> str:
        params = _params()
        if not params.get("train_gpt2"):
            return "echo 'train_gpt2 is false: skipping GPT-2 training'; exit 99"
        out = _out(params)
        command = shlex.join([
            _cli(params), "train", "--data", str(out / "tokens"), "--out", str(out / "gpt2"),
            "--model", str(params["gpt2_model"]), "--max-steps", str(int(params["gpt2_max_steps"])),
            *shlex.split(params.get("gpt2_args") or ""),
        ])
        # A retried task continues from its checkpoint instead of starting over.
        ckpt = shlex.quote(str(out / "gpt2" / "ckpt.pt"))
        return f"{command} $( [ -f {ckpt} ] && echo --resume )"

    harvest() >> fetch() >> build_shards() >> train_tokenizer() >> tokenize() >> train_gpt2()
