"""Which Beam runner executes the build, and with which options.

Local (the default, `--runner FnApiRunner`): Beam's portable FnApiRunner, named explicitly, in
`multi_processing` mode with `--workers` SDK worker processes (one per CPU by default). It is what
`DirectRunner` ends up using for batch pipelines, minus DirectRunner's first attempt: in Beam 2.77
`DirectRunner` tries the Prism runner first, which downloads a Go binary from GitHub; offline that
fails (slowly) before falling back. `--runner DirectRunner` is still accepted and passes the same
worker options. `--workers 1` runs everything in this process (`in_memory`), handy under a debugger.

Dataflow (`--runner DataflowRunner`): every other `--beam-option` is passed through untouched, e.g.

    webtext build --until 2017-12 --dumps gs://my-bucket/pushshift/ --live-fetch \\
        --out gs://my-bucket/webtext-2017-12 --runner DataflowRunner \\
        --beam-option=--project=my-project --beam-option=--region=us-central1 \\
        --beam-option=--temp_location=gs://my-bucket/tmp \\
        --beam-option=--sdk_container_image=us-docker.pkg.dev/my-project/webtext/webtext:0.1.0 \\
        --beam-option=--experiments=use_runner_v2 \\
        --beam-option=--max_num_workers=64 --beam-option=--machine_type=n2-standard-4

Workers need the `webtext` package, Dragnet (which cannot be pip-installed normally, see
DEVELOPERS.md) and its retrained model: build the repository's Dockerfile and push it as the custom
SDK container (`--sdk_container_image`; the image is `python:3.11-slim` with the package installed
by `scripts/install.sh`, so it satisfies Beam's container contract once
`apache-beam[gcp]` is added: `pip install -e '.[dataflow]'` in the image). Without a custom container,
`--setup_file=./setup.py` is not enough because Dragnet must be built without build isolation.
Reading `gs://` inputs and writing `gs://` outputs needs `apache-beam[gcp]` (the `dataflow` extra).
"""

from __future__ import annotations

import logging
import sys

from webtext.config import BuildConfig
from webtext.errors import ConfigError


def quiet_beam_logs() -> None:
    """Beam logs every worker start and bundle at INFO; keep the console to our progress lines
    (unless --verbose asked for the libraries' logs)."""
    from webtext.progress import VERBOSE, verbosity

    if verbosity() == VERBOSE:
        return
    for name in ("apache_beam", "root", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def pipeline_options(config: BuildConfig, job_name: str):
    """PipelineOptions for one stage's pipeline: the local worker settings or the pass-through ones."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = list(config.beam_args)
    if config.is_local_runner:
        # The worker processes themselves are chosen in make_runner; this sets how many.
        args += [f"--direct_num_workers={config.effective_workers()}"]
    else:
        args += [f"--job_name={job_name}"]
    return PipelineOptions(args, save_main_session=False, pipeline_type_check=True)


def make_runner(config: BuildConfig, options):
    """The runner object (local) or name (anything else Beam knows, e.g. DataflowRunner).

    Locally: FnApiRunner with `--workers` subprocess SDK workers (`python -m pipelines.worker`,
    Beam's worker main with quiet start-up logging), given the pipeline options the way
    DirectRunner gives them, so options reach the workers. One worker runs in this process."""
    if config.runner in ("FnApiRunner", "DirectRunner"):
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
    if config.runner in ("PrismRunner",):
        raise ConfigError("PrismRunner downloads a binary at start; use FnApiRunner (local) or DataflowRunner")
    return config.runner
