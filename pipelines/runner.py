"""Which Beam runner executes the build, and with which options.

Local (the default, `--runner FnApiRunner`): Beam's portable FnApiRunner, named explicitly, in
`multi_processing` mode with `--workers` SDK worker processes (one per CPU by default). It is what
`DirectRunner` ends up using for batch pipelines, minus DirectRunner's first attempt: in Beam 2.77
`DirectRunner` tries the Prism runner first, which downloads a Go binary from GitHub; offline that
fails (slowly) before falling back. `--runner DirectRunner` is still accepted and passes the same
worker options. `--workers 1` runs everything in this process (`in_memory`), handy under a debugger.
The FnApiRunner shuffles (GroupByKey, multi-input Flatten) through this process's memory, so the
build's groupings of growing data go through spill files under the stage's folder on this runner
(pipelines/shuffle.py); it is still a single-machine runner.

Dask (`--runner DaskRunner`, or Beam's full name `apache_beam.runners.dask.dask_runner.DaskRunner`;
extra `apache-beam[dask]`): the stages run as task graphs on a `dask.distributed` cluster, either
the scheduler named by `--dask-address tcp://HOST:8786` or a `LocalCluster` of `--workers`
single-threaded worker processes started for the build and closed after it (`runner_session`). The
workers share nothing with the launcher but storage. Beam's Dask runner has no metrics, which is
why the build counts from its outputs (store.report_from_outputs).

Dataflow (`--runner DataflowRunner`; extra `apache-beam[gcp]`, checked before anything starts):
every `--beam-option` is passed through; the workers run the custom container built from the
repository's Dockerfile (`--sdk_container_image`, target `worker`; docs/pipeline.md has the exact
commands). Dragnet cannot be pip-installed by a plain resolve (see DEVELOPERS.md), so neither a
`--setup_file` nor a `--requirements_file` can ship the project: the container is the one way.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys

from webtext.config import BuildConfig
from webtext.errors import ConfigError
from webtext.progress import log


def quiet_beam_logs() -> None:
    """Beam logs every worker start and bundle at INFO; keep the console to our progress lines
    (unless --verbose asked for the libraries' logs)."""
    from webtext.progress import VERBOSE, verbosity

    if verbosity() == VERBOSE:
        return
    for name in ("apache_beam", "root", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def pipeline_options(config: BuildConfig, job_name: str, session_args: list[str] | None = None):
    """PipelineOptions for one stage's pipeline: the local worker settings or the pass-through ones."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = list(config.beam_args) + list(session_args or [])
    if config.runner_kind == "local":
        # The worker processes themselves are chosen in make_runner; this sets how many.
        args += [f"--direct_num_workers={config.effective_workers()}"]
    elif config.runner_kind == "dask":
        # One Dask partition per element of each Create (the files, the units of work): the units
        # spread over the workers (Beam's default packs 128 elements into one partition).
        if not any(a.startswith(("--dask_partition_size", "--dask_npartitions")) for a in args):
            args += ["--dask_partition_size=1"]
    else:
        args += [f"--job_name={job_name}"]
    return PipelineOptions(args, save_main_session=False, pipeline_type_check=True)


def make_runner(config: BuildConfig, options):
    """The runner object (local, Dask) or name (anything else Beam knows, e.g. DataflowRunner).

    Locally: FnApiRunner with `--workers` subprocess SDK workers (`python -m pipelines.worker`,
    Beam's worker main with quiet start-up logging), given the pipeline options the way
    DirectRunner gives them, so options reach the workers. One worker runs in this process."""
    if config.runner_kind == "local":
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle
        from apache_beam.transforms import environments

        provision = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(
                pipeline_options=JobServiceHandle.encode_pipeline_options(options.get_all_options())
            )
        )
        if config.effective_workers() == 1:
            return fn_runner.FnApiRunner(provision_info=provision)
        env = environments.SubprocessSDKEnvironment.from_command_string(f"{sys.executable} -m pipelines.worker")
        return fn_runner.FnApiRunner(default_environment=env, provision_info=provision)
    if config.runner_kind == "dask":
        from apache_beam.runners.dask.dask_runner import DaskRunner

        return DaskRunner()
    if config.runner in ("PrismRunner",):
        raise ConfigError("PrismRunner downloads a binary at start; use FnApiRunner (local), DaskRunner or DataflowRunner")
    return config.runner


def check_runner_installed(config: BuildConfig) -> None:
    """One clear line (ConfigError, exit 2) when the runner's Beam extra is missing, before any work."""
    import importlib.util

    def missing(*modules: str) -> bool:
        for m in modules:
            try:
                if importlib.util.find_spec(m) is None:
                    return True
            except (ImportError, ValueError):
                return True
        return False

    if config.runner_kind == "dataflow" and missing("apitools", "google.cloud.storage"):
        raise ConfigError(
            "--runner DataflowRunner needs apache-beam[gcp], which is not installed: "
            "pip install -e '.[dataflow]' (a Docker image: docker build --build-arg WEBTEXT_EXTRAS=dev,dataflow ...)"
        )
    if config.runner_kind == "dask" and missing("dask", "distributed"):
        raise ConfigError("--runner DaskRunner needs apache-beam[dask], which is not installed: pip install 'apache-beam[dask]'")


class RunnerSession:
    """What the stages of one build share on a runner: extra pipeline options and clean-up."""

    def __init__(self, args: list[str] | None = None):
        self.args = list(args or [])

    def after_run(self, result) -> None:
        client = getattr(result, "client", None)  # DaskRunnerResult: its own client per pipeline
        if client is not None:
            client.close()


@contextlib.contextmanager
def runner_session(config: BuildConfig):
    """For Dask without `--dask-address`: a LocalCluster of `--workers` processes for this build."""
    check_runner_installed(config)
    if config.runner_kind != "dask":
        yield RunnerSession()
        return
    if config.dask_address:
        yield RunnerSession([f"--dask_client_address={config.dask_address}"])
        return
    import dask
    from distributed import LocalCluster

    dask.config.set({"distributed.worker.daemon": False})  # workers may start processes (the Scrapy crawls)
    # The worker processes start with SIGINT ignored (an ignored signal stays ignored in a child):
    # Ctrl-C is the launcher's to handle; it closes the cluster, which ends them, without a
    # traceback from each.
    import threading

    in_main = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        cluster = LocalCluster(
            n_workers=config.effective_workers(), threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.ERROR,
        )
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    try:
        log("build", f"Dask: local cluster of {config.effective_workers()} worker processes at {cluster.scheduler_address}")
        yield RunnerSession([f"--dask_client_address={cluster.scheduler_address}"])
    finally:
        cluster.close()
