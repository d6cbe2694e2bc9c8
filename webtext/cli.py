"""The `webtext` command line.

Each stage owns its subcommands: the modules in `COMMAND_MODULES` each define
`add_commands(subparsers)`, which adds argparse parsers whose `func` default runs the command.
Those modules import nothing heavy at import time, so `webtext --help` stays fast; the work
happens inside the command functions.

Every command and subcommand also gets, from here, `--quiet` / `--verbose` (progress and log output;
`webtext.progress.set_verbosity`, inherited by the processes a command starts) and `--config FILE`
where the command declares config-file support (see `webtext.config.load_config_file`).

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
    "webtext.clean.cli",
    "webtext.dedup.cli",
    "webtext.shard_cli",
    "webtext.tokenizer.cli",
    "webtext.gpt2.cli",
    "webtext.publish",
    "webtext.checks.cli",
)


EPILOG = """examples:
  webtext build --until 2017-12                  # the whole build on the embedded sample -> ./webtext-out
  webtext build --config build.toml --workers 8  # options from a TOML file; flags override it
  webtext tokenize --help                        # each command explains itself, with examples
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webtext",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description=(
            "Rebuild OpenAI's WebText corpus end to end and train GPT-2 on it. "
            "`webtext build --until 2017-12` runs the whole build on the embedded sample, offline; "
            "each stage also runs on its own."
        ),
    )
    parser.add_argument("--version", action="version", version=f"webtext {__version__}")
    _add_verbosity(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a stage not installed in this build: leave its commands out
                continue
            raise
        module.add_commands(sub)
    for command in _all_parsers(sub):
        _add_verbosity(command, default=argparse.SUPPRESS)  # given after the command, overrides the one before
        defaults = issubclass(command.formatter_class, argparse.ArgumentDefaultsHelpFormatter)
        command.formatter_class = DefaultsHelpFormatter if defaults else HelpFormatter
    return parser


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal but keeps indented blocks (examples) and
    `examples:` paragraphs as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out = []
        for para in textwrap.dedent(text).strip("\n").split("\n\n"):
            if para.startswith((" ", "examples:")) or "\n  " in para:
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


class DefaultsHelpFormatter(HelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _add_verbosity(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_argument_group("output").add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress display or progress lines; errors and results only")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="also show debug lines and the INFO logs of Beam, Scrapy and the other libraries")


def _all_parsers(sub) -> list[argparse.ArgumentParser]:
    """Every command's parser, nested ones included (`webtext tokenizer train`)."""
    out = []
    for parser in dict.fromkeys(sub.choices.values()):  # aliases map to the same parser
        out.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.extend(_all_parsers(action))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose cannot be combined")
    if args.quiet or args.verbose:
        from webtext.progress import QUIET, VERBOSE, set_verbosity

        set_verbosity(QUIET if args.quiet else VERBOSE)
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
