"""Reading a tokenizer folder: the one loader every command uses, keyed by content, never by path.

A tokenizer folder holds GPT-2's `encoder.json` + `vocab.bpe` (OpenAI's files, or the ones
`webtext tokenizer train` writes), and/or `tokenizer.tiktoken` (tiktoken's ranks format), and maybe
`tokenizer.json` (Hugging Face). `read_tokenizer(folder)` reads those files itself, every time it is
called, and returns a `Tokenizer`:

* `ranks` (token bytes -> id), `eot` (the `<|endoftext|>` id), `n_vocab`;
* `sha256`: the tokenizer's **content hash**, sha256 of the canonical ranks text (one
  `base64(token bytes) id` line per token in id order, then `<|endoftext|> id`). It changes whenever
  any id would change and is the same for every copy and format of one tokenizer (OpenAI's folder,
  its re-export, the copy `webtext train` keeps beside a checkpoint);
* `files`: the bytes of the files it read (a copy is written from these, so the copy is exactly
  what was hashed, even if the folder changes meanwhile);
* `encoding()`: a `tiktoken.Encoding` built from those ranks (offline; never `get_encoding`).

Why not tiktoken's own loaders: `tiktoken.load.data_gym_to_mergeable_bpe_ranks` and
`load_tiktoken_bpe` cache what they read under `<tmp>/data-gym-cache/sha1(path string)`, so after a
tokenizer is retrained into the same folder (or another checkout has the same relative path) they
hand back the stale ranks: wrong ids, or a crash. Nothing here caches.

The files must agree with each other, or the folder is refused with a line naming the file:
`tokenizer.tiktoken` must hold the same ranks as `encoder.json`; each merge of `vocab.bpe` must make
a token of `encoder.json`, with ids rising in merge order (GPT-2's rule: merge k makes the token
ranked after merge k-1's), one merge per multi-byte token; `tokenizer.json`'s vocabulary must equal
`encoder.json`'s.

`open_tokenizer(folder, expected_sha256, made_with)` also checks the hash against the one a tokens
folder or a checkpoint recorded (`meta.json`'s `tokenizer_sha256`), and refuses another tokenizer
with one line (`TokenizerMismatch`, exit status 2 in the CLI): ids made with one tokenizer read
with another are silently wrong text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from webtext.errors import ConfigError, InputError
from webtext.tokenizer.encoder import ENDOFTEXT, GPT2_PATTERN, unicode_to_bytes

TIKTOKEN_FILE = "tokenizer.tiktoken"
# Files a tokenizer folder may hold, in the order they are read; a copy keeps all that are present.
FILE_NAMES = ("encoder.json", "vocab.bpe", TIKTOKEN_FILE, "tokenizer.json")


class TokenizerMismatch(ConfigError):
    """A tokenizer whose content hash differs from the one the data or the model was made with."""


@dataclass(frozen=True)
class Tokenizer:
    folder: Path  # absolute
    ranks: dict[bytes, int] = field(repr=False)
    eot: int
    sha256: str
    files: dict[str, bytes] = field(repr=False)  # name -> the bytes read (and hashed)

    @property
    def n_vocab(self) -> int:
        return max(max(self.ranks.values(), default=-1), self.eot) + 1

    def encoding(self, name: str | None = None):
        """A `tiktoken.Encoding` of these ranks (GPT-2's pre-tokenizer, `<|endoftext|>` special)."""
        import tiktoken

        return tiktoken.Encoding(
            name=name or f"webtext-{self.sha256[:16]}",
            pat_str=GPT2_PATTERN,
            mergeable_ranks=self.ranks,
            special_tokens={ENDOFTEXT: self.eot},
            explicit_n_vocab=self.n_vocab,
        )

    def copy_to(self, dst: str | Path) -> Path:
        """Write the files that were read into `dst` (a fresh folder, swapped in by rename)."""
        dst = Path(dst)
        tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (tmp / name).write_bytes(data)
        if dst.exists():  # a copy an earlier, crashed run of ours left; replaced whole
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dst)
        return dst.resolve()


def is_tokenizer_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "encoder.json").is_file() or (folder / TIKTOKEN_FILE).is_file()


def content_sha256(ranks: dict[bytes, int], eot: int) -> str:
    h = hashlib.sha256()
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        h.update(base64.b64encode(token) + b" %d\n" % rank)
    h.update(f"{ENDOFTEXT} {eot}\n".encode())
    return h.hexdigest()


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if not data.strip():
        raise InputError("file is empty", path=str(path))
    return data


def _json(path: Path, data: bytes):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a readable JSON file ({type(exc).__name__}: {str(exc)[:120]})", path=str(path)) from None


def _parse_encoder_json(path: Path, data: bytes) -> tuple[dict[bytes, int], int | None]:
    obj = _json(path, data)
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and type(v) is int for k, v in obj.items()):
        raise InputError("expected a JSON object mapping token strings to integer ids (GPT-2's encoder.json)", path=str(path))
    eot = obj.pop(ENDOFTEXT, None)
    obj.pop("<|startoftext|>", None)
    u2b = unicode_to_bytes()
    ranks: dict[bytes, int] = {}
    for token, rank in obj.items():
        try:
            ranks[bytes(u2b[c] for c in token)] = rank
        except KeyError:
            raise InputError(f"token {token!r} has a character outside GPT-2's byte alphabet", path=str(path)) from None
    if len(ranks) != len(obj):
        raise InputError("two tokens spell the same bytes", path=str(path))
    return ranks, eot


def _parse_tiktoken(path: Path, data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError:
            raise InputError("expected 'base64-token rank'", path=str(path), position=f"line {lineno}") from None
    return ranks


def _check_merges(path: Path, data: bytes, ranks: dict[bytes, int]) -> None:
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path)) from None
    u2b = unicode_to_bytes()
    last = -1
    n_merges = 0
    for lineno, line in enumerate(lines, 1):
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise InputError("expected 'left right' (two symbols separated by one space)", path=str(path), position=f"line {lineno}")
        try:
            merged = bytes(u2b[c] for c in parts[0] + parts[1])
        except KeyError:
            raise InputError("symbol outside GPT-2's byte alphabet", path=str(path), position=f"line {lineno}") from None
        rank = ranks.get(merged)
        if rank is None or rank <= last:
            raise InputError("merge does not match encoder.json (are the two files from different tokenizers?)",
                             path=str(path), position=f"line {lineno}")
        last = rank
        n_merges += 1
    made = sum(1 for token in ranks if len(token) > 1)  # every longer token is made by one merge
    if n_merges != made:
        raise InputError(f"{n_merges:,} merges for the {made:,} multi-byte tokens of encoder.json (truncated, "
                         "or from another tokenizer?)", path=str(path))


def read_tokenizer(folder: str | Path) -> Tokenizer:
    """Read and check a tokenizer folder (see the module docstring); InputError names the bad file."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise InputError("tokenizer folder not found (expected encoder.json + vocab.bpe, or tokenizer.tiktoken)", path=str(folder))
    files = {name: _read(folder / name) for name in FILE_NAMES if (folder / name).is_file()}
    if "encoder.json" not in files and TIKTOKEN_FILE not in files:
        raise InputError(f"no {TIKTOKEN_FILE} or encoder.json in the tokenizer folder", path=str(folder))
    eot = None
    if "encoder.json" in files:
        ranks, eot = _parse_encoder_json(folder / "encoder.json", files["encoder.json"])
        if TIKTOKEN_FILE in files and _parse_tiktoken(folder / TIKTOKEN_FILE, files[TIKTOKEN_FILE]) != ranks:
            raise InputError("ranks differ from encoder.json's (are the two files from different tokenizers?)",
                             path=str(folder / TIKTOKEN_FILE))
        if "vocab.bpe" in files:
            _check_merges(folder / "vocab.bpe", files["vocab.bpe"], ranks)
        if "tokenizer.json" in files:
            _check_hf_vocab(folder / "tokenizer.json", files["tokenizer.json"], files["encoder.json"])
    else:
        ranks = _parse_tiktoken(folder / TIKTOKEN_FILE, files[TIKTOKEN_FILE])
    if not ranks:
        raise InputError("the tokenizer has no tokens", path=str(folder))
    if eot is None:
        eot = max(ranks.values()) + 1
    return Tokenizer(folder=folder, ranks=ranks, eot=eot, sha256=content_sha256(ranks, eot), files=files)


def _check_hf_vocab(path: Path, data: bytes, encoder_json: bytes) -> None:
    obj = _json(path, data)
    vocab = obj.get("model", {}).get("vocab") if isinstance(obj, dict) else None
    if not isinstance(vocab, dict):
        raise InputError("no model.vocab (not a Hugging Face tokenizer.json)", path=str(path))
    ours = json.loads(encoder_json.decode("utf-8"))
    vocab = {k: v for k, v in vocab.items() if k != ENDOFTEXT}
    ours.pop(ENDOFTEXT, None)
    if vocab != ours:
        raise InputError("vocabulary differs from encoder.json's (are the two files from different tokenizers?)", path=str(path))


def check_tokenizer(tok: Tokenizer, expected_sha256: str | None, made_with: str) -> None:
    """Refuse `tok` unless its content hash is `expected_sha256` (None: nothing recorded, accept)."""
    if expected_sha256 and tok.sha256 != expected_sha256:
        raise TokenizerMismatch(
            f"tokenizer {tok.folder} (sha256 {tok.sha256[:16]}) is not the one {made_with} was made with "
            f"(sha256 {expected_sha256[:16]}): tokenize again with this tokenizer, or use the original one"
        )


def open_tokenizer(folder: str | Path, expected_sha256: str | None = None, made_with: str = "the data") -> Tokenizer:
    """`read_tokenizer(folder)`, refused unless its hash is `expected_sha256` (when one is given)."""
    tok = read_tokenizer(folder)
    check_tokenizer(tok, expected_sha256, made_with)
    return tok


def tiktoken_encoding(folder: str | Path, name: str | None = None):
    """A `tiktoken.Encoding` from a local tokenizer folder, read now; never downloads."""
    return read_tokenizer(folder).encoding(name)


def tokenizer_sha256(folder: str | Path) -> str:
    return read_tokenizer(folder).sha256
