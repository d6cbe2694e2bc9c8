"""GPT-2's byte-level BPE encoder, readable and exact.

How GPT-2 turns text into ids (and what this module reproduces id for id):

1. **Pre-tokenization.** The text is cut into pre-tokens with GPT-2's regex (`GPT2_PATTERN`, the
   same one tiktoken calls r50k): contractions (`'s 't 're 've 'm 'll 'd`), a run of letters, a
   run of digits or a run of other symbols, each optionally led by one space, and whitespace runs
   (a run of spaces gives all but its last space to its own token, so the last space can lead the
   next word). BPE never merges across two pre-tokens.
2. **Bytes to symbols.** Each pre-token is encoded as UTF-8 and every byte becomes one printable
   unicode character (`bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68
   bytes to U+0100 onwards, so a space is `Ġ` and a newline `Ċ`). This is why `encoder.json` and
   `vocab.bpe` are plain text.
3. **Merges by rank.** The symbols of a pre-token are merged pairwise: repeatedly, the adjacent
   pair with the lowest rank in `vocab.bpe` (its line number) is merged everywhere in the
   pre-token, left to right, until no adjacent pair has a rank. Each final symbol is looked up in
   `encoder.json`. Results are cached per pre-token (text repeats its words).
4. **Special tokens.** `<|endoftext|>` is not text: like tiktoken, `encode` raises if the text
   contains it, unless it is passed in `allowed_special` (then it becomes its one id), or
   `disallowed_special=()` (then it is encoded as ordinary text). `encode_ordinary` never looks
   for it.

`load(path)` reads a folder with `encoder.json` and `vocab.bpe` (OpenAI's own files or the ones
`webtext tokenizer train` writes) and returns an `Encoder`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import AbstractSet, Collection, Iterable, Literal

import regex

from webtext.errors import InputError

# GPT-2's pre-tokenization pattern (tiktoken's r50k_base / gpt2 `pat_str`).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"
_CACHE_LIMIT = 500_000  # pre-tokens cached per encoder before the cache is cleared


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (identical to OpenAI's encoder.py).

    Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the remaining 68
    bytes (control characters, space, soft hyphen...) are assigned U+0100, U+0101, ... in byte order.
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """The inverse map (do not mutate: it is cached)."""
    return {c: b for b, c in bytes_to_unicode().items()}


def token_to_bytes(token: str) -> bytes:
    """`'Ġhello'` -> `b' hello'`: a vocabulary entry back to the bytes it stands for."""
    u2b = unicode_to_bytes()
    return bytes(u2b[c] for c in token)


def bytes_to_token(data: bytes) -> str:
    b2u = bytes_to_unicode()
    return "".join(b2u[b] for b in data)


class Encoder:
    """Byte-level BPE with GPT-2's rules. `encode(str) -> list[int]`, `decode(list[int]) -> str`."""

    def __init__(
        self,
        encoder: dict[str, int],
        merges: list[tuple[str, str]],
        special_tokens: dict[str, int] | None = None,
        pattern: str = GPT2_PATTERN,
    ):
        if special_tokens is None:
            special_tokens = {ENDOFTEXT: encoder[ENDOFTEXT]} if ENDOFTEXT in encoder else {}
        self.special_tokens = dict(special_tokens)
        self.encoder = {k: v for k, v in encoder.items() if k not in self.special_tokens}
        self.merges = list(merges)
        self.bpe_ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.pattern = pattern
        self._pat = regex.compile(pattern)
        b2u = bytes_to_unicode()
        # str.translate table: Latin-1 code point (= byte value) -> GPT-2 symbol.
        self._byte_table = {b: c for b, c in b2u.items()}
        u2b = unicode_to_bytes()
        self._decoder_bytes: dict[int, bytes] = {v: bytes(u2b[c] for c in k) for k, v in self.encoder.items()}
        for tok, i in self.special_tokens.items():
            self._decoder_bytes[i] = tok.encode("utf-8")
        self._special_re = (
            regex.compile("|".join(regex.escape(s) for s in sorted(self.special_tokens, key=len, reverse=True)))
            if self.special_tokens
            else None
        )
        self._piece_cache: dict[str, list[int]] = {}  # pre-token text -> ids

    # ---------------------------------------------------------------- properties
    @property
    def n_vocab(self) -> int:
        return max(self._decoder_bytes) + 1

    @property
    def eot_token(self) -> int:
        return self.special_tokens[ENDOFTEXT]

    # ---------------------------------------------------------------- BPE core
    def _bpe(self, symbols: str) -> list[int]:
        """Merge the GPT-2 symbols of one pre-token by rank; return their ids (callers cache)."""
        word = list(symbols)
        ranks = self.bpe_ranks
        while len(word) > 1:
            # The adjacent pair with the lowest rank; merge all its occurrences left to right.
            best = None
            best_rank = None
            for pair in zip(word, word[1:]):
                r = ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            first, second = best
            merged = first + second
            out: list[str] = []
            i, n = 0, len(word)
            while i < n:
                if i < n - 1 and word[i] == first and word[i + 1] == second:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        try:
            ids = [self.encoder[s] for s in word]
        except KeyError as exc:  # a symbol the vocabulary lacks: the files are inconsistent
            raise InputError(f"symbol {exc.args[0]!r} produced by the merges is not in encoder.json") from None
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token strings as ordinary text."""
        out: list[int] = []
        table = self._byte_table
        bpe = self._bpe
        cache = self._piece_cache  # pre-token text -> ids: a hit skips the byte mapping too
        for piece in self._pat.findall(text):
            ids = cache.get(piece)
            if ids is None:
                ids = bpe(piece.encode("utf-8").decode("latin-1").translate(table))
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[piece] = ids
            out.extend(ids)
        return out

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Encode text like tiktoken's `Encoding.encode`.

        A special token in `allowed_special` becomes its id; one in `disallowed_special` (by default
        every special token not allowed) raises `ValueError`; any other is encoded as plain text.
        """
        if allowed_special == "all":
            allowed_special = set(self.special_tokens)
        if disallowed_special == "all":
            disallowed_special = set(self.special_tokens) - set(allowed_special)
        if disallowed_special:
            for tok in disallowed_special:
                if tok in text:
                    raise ValueError(
                        f"Encountered text corresponding to disallowed special token {tok!r}.\n"
                        f"Pass it in allowed_special to encode it as a special token, or "
                        f"disallowed_special=() to encode it as normal text."
                    )
        if not allowed_special or self._special_re is None:
            return self.encode_ordinary(text)
        out: list[int] = []
        start = 0
        for m in self._special_re.finditer(text):
            if m.group() not in allowed_special:
                continue
            out.extend(self.encode_ordinary(text[start : m.start()]))
            out.append(self.special_tokens[m.group()])
            start = m.end()
        out.extend(self.encode_ordinary(text[start:]))
        return out

    def encode_batch(self, texts: Iterable[str], **kwargs) -> list[list[int]]:
        return [self.encode(t, **kwargs) for t in texts]

    # ---------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        try:
            return b"".join(self._decoder_bytes[i] for i in ids)
        except KeyError as exc:
            raise ValueError(f"token id {exc.args[0]} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Ids back to text; a cut multi-byte character becomes U+FFFD (tiktoken's default)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_bytes(self) -> dict[bytes, int]:
        """Every mergeable token as bytes -> id (what tiktoken calls mergeable ranks)."""
        special_ids = set(self.special_tokens.values())
        return {b: i for i, b in sorted(self._decoder_bytes.items()) if i not in special_ids}


def read_vocab_bpe(path: str | Path) -> list[tuple[str, str]]:
    """`vocab.bpe`: a `#version` line, then one merge per line (`left right`, GPT-2 symbols)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read merges: {exc}", path=str(path)) from None
    merges: list[tuple[str, str]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise InputError("expected 'left right' (two symbols separated by one space)", path=str(path), position=f"line {lineno}")
        merges.append((parts[0], parts[1]))
    return merges


def read_encoder_json(path: str | Path) -> dict[str, int]:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            enc = json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read vocabulary: {exc}", path=str(path)) from None
    if not isinstance(enc, dict) or not all(isinstance(v, int) for v in enc.values()):
        raise InputError("expected a JSON object mapping token strings to integer ids", path=str(path))
    return enc


def load(path: str | Path) -> Encoder:
    """Load a GPT-2-format tokenizer folder (`encoder.json` + `vocab.bpe`) as an `Encoder`."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("tokenizer folder not found (expected encoder.json and vocab.bpe inside)", path=str(path))
    encoder = read_encoder_json(path / "encoder.json")
    merges = read_vocab_bpe(path / "vocab.bpe")
    u2b = unicode_to_bytes()
    for tok in encoder:
        if tok != ENDOFTEXT and any(c not in u2b for c in tok):
            raise InputError(f"token {tok!r} is not in GPT-2's byte-to-unicode alphabet", path=str(path / "encoder.json"))
    return Encoder(encoder, merges)
