"""The local SDK worker process: Beam's own worker main, with its start-up chatter kept off the console.

`pipelines.runner.make_runner` starts `python -m pipelines.worker` for each local worker. Beam's
worker logs a dozen INFO lines per start (and a warning about optional GCP clients) straight to
stderr; here the console handler shows errors only. Everything that matters still arrives: the
stages' progress lines are written to stderr directly (webtext.progress), a failed element's
traceback travels back to the runner, and the runner raises it in the driver.
"""

import logging
import os
import signal
import sys

# Ctrl-C in the terminal reaches every process of the group: the launcher stops the build and
# prints one line; a worker leaves at once and silently (no KeyboardInterrupt traceback of its
# own). Nothing is lost: a stage's outputs are only trusted once its marker is written.
signal.signal(signal.SIGINT, lambda *_: os._exit(130))

logging.basicConfig(format="%(levelname)s:%(name)s:%(message)s")
for _handler in logging.getLogger().handlers:
    _handler.setLevel(logging.ERROR)

from apache_beam.runners.worker import sdk_worker_main  # noqa: E402 - after the logging set-up

if __name__ == "__main__":
    sdk_worker_main.main(sys.argv)
