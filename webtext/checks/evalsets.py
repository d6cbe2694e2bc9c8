"""Evaluation files, read as a list of examples (strings), for `webtext overlap` and `webtext eval`.

Formats (`fmt`, or "auto" from the file name):

- `text` (any other extension): plain UTF-8 text. For the overlap check each non-blank line is one
  example (a WikiText raw file has one paragraph or one ` = Heading = ` per line); for perplexity
  the whole file is one stream (`unit="file"`), as the GPT-2 paper scores WikiText.
  WikiText-103 raw, `wiki.test.raw`:

      " = Robert Boulter = "
      " Robert Boulter is an English film , television and theatre actor . He had a guest @-@ starring ..."

- `jsonl` (`.jsonl`, `.json`): one JSON object per line, the example in `field` (default `text`).
  LAMBADA as OpenAI released it (`lambada_test.jsonl`, the file lm-evaluation-harness uses):

      {"text": "In my palm is a clear stone, and inside it is a small ivory statuette. ... said Gabriel"}

- `parquet` (`.parquet`): the `field` column of a Parquet file (e.g. a Hugging Face dataset export).

A missing file, an unreadable line or a missing field is one `InputError` naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path

from webtext.errors import ConfigError, InputError

FORMATS = ("auto", "text", "jsonl", "parquet")


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return "text"


def read_examples(path: str | Path, fmt: str = "auto", field: str = "text", unit: str = "line") -> list[str]:
    """The examples of one evaluation file (see the module docstring)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown evaluation format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError("evaluation file not found", path=str(path))
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path, columns=[field])
        except Exception as exc:  # pyarrow raises several types (missing column, damaged file)
            raise InputError(f"cannot read column {field!r} of this Parquet file: {exc}", path=str(path)) from None
        return [t if t is not None else "" for t in table.column(field).to_pylist()]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    if fmt == "text":
        if unit == "file":
            return [text]
        return [line for line in text.splitlines() if line.strip()]
    examples = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InputError(f"not a JSON line ({exc.msg})", path=str(path), position=f"line {lineno}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise InputError(f"no string field {field!r}", path=str(path), position=f"line {lineno}")
        examples.append(obj[field])
    return examples
