"""The `webtext` command line.

Each stage owns its subcommands: the modules in `COMMAND_MODULES` each define
`add_commands(subparsers)`, which adds argparse parsers whose `func` default runs the command.
Those modules import nothing heavy at import time, so `webtext --help` stays fast; the work
happens inside the command functions.

Errors that the user can fix (`webtext.errors.WebtextError`) print as one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from webtext import __version__
from webtext.errors import WebtextError

# In pipeline order; `webtext --help` lists the commands in this order.
COMMAND_MODULES = (
    "webtext.build_cli",
    "webtext.reddit.cli",
    "webtext.fetch.cli",
    "webtext.extract.cli",
    "webtext.clean_cli",
    "webtext.tokenizer.cli",
    "webtext.gpt2.cli",
    "webtext.checks.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webtext",
        description=(
            "Rebuild OpenAI's WebText corpus end to end and train GPT-2 on it. "
            "`webtext build --until 2017-12` runs the whole build on the embedded sample, offline; "
            "each stage also runs on its own."
        ),
    )
    parser.add_argument("--version", action="version", version=f"webtext {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a stage not installed in this build: leave its commands out
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.func(args)
    except WebtextError as exc:
        print(f"webtext {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"webtext {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
