"""Cleaning: each filter answers keep or drop-with-a-reason; repairs rewrite the text.

`clean_document(doc, opts)` runs these steps on one documents-table row, in this order, and stops
at the first drop (the reason is a short snake_case string counted in the stage report):

1. `wikipedia` - `filter_wikipedia`: the document's *final* URL (after redirects; the submitted
   `url` when the fetch recorded none) is on Wikipedia: any language (`en.`, `de.`, ...), the
   mobile sites (`en.m.wikipedia.org`), the bare domains `wikipedia.org` / `wikipedia.com`
   (`webtext.urls.is_wikipedia`). The submitted URL is checked too, so a Wikipedia link that
   redirected to a mirror is also dropped. GPT-2 left Wikipedia out because it is in so many
   evaluation sets; a corpus that leaked it back in would be a different corpus.
2. `empty` - `filter_empty`: no text at all, or only whitespace.
3. `undecodable` - `filter_undecodable`: the text is bytes that are not UTF-8, or not text at all,
   or holds unpaired surrogates (they cannot be written as UTF-8), or more than
   `max_replacement_ratio` of its characters are U+FFFD (the trace of a lossy decode upstream).
4. repair - `repair_text`: ftfy fixes mojibake ("CafÃ©" -> "Café"), HTML entities left in plain
   text, C1 controls and terminal escapes, then NFC. Curly quotes, full-width characters and
   ligatures are left as they are: they are content, not damage.
5. whitespace - `normalize_whitespace`: CRLF/CR -> LF; zero-width and BOM characters removed; runs of
   spaces, tabs and other Unicode spaces -> one space; spaces at line ends removed; three or more
   newlines -> one blank line (paragraphs stay); the text is stripped.
6. `empty` again, if nothing is left after repair.
7. `too_short` - `filter_length`: fewer than `min_chars` characters, or `too_few_words`: fewer than
   `min_words` whitespace-separated words. The default, 100 words (about 130 GPT-2 tokens), follows
   OpenWebText, which dropped documents under 128 tokens: shorter pages are mostly stubs, error
   pages and link lists.
8. `non_english` - `filter_language`: the GPT-2 paper removed non-English pages. Every document
   that reaches this step is labelled with its language (`language`, ISO 639-1, or `und`) and the
   share of the text in that language (`language_score`, 0..1) by `webtext.langid` (CLD2, whose
   model ships in the pycld2 PyPI package); it is dropped when its language is not in `languages` (default `("en",)`;
   the reason is `non_english` when English is the only language kept, else `other_language`).
   `languages=()` keeps every language (still labelled). It runs last because it is the costliest
   check and because the length floor leaves it texts long enough to be identified reliably.

The returned row is a copy with the repaired `text` and recomputed `text_sha1` (SHA-1 hex of the
UTF-8 text), `n_chars` and `n_words`, plus `language` and `language_score`; every other column is
carried unchanged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from webtext.report import StageReport
from webtext.urls import is_wikipedia


@dataclass(frozen=True)
class CleanOptions:
    min_chars: int = 200
    min_words: int = 100
    max_replacement_ratio: float = 0.01
    drop_wikipedia: bool = True
    fix_text: bool = True
    languages: tuple[str, ...] = ("en",)  # ISO 639-1 codes to keep; () keeps every language

    def __post_init__(self):
        langs = self.languages
        if isinstance(langs, str):  # "en,de" from a flag or a TOML file
            from webtext.langid import parse_languages

            langs = parse_languages(langs)
        object.__setattr__(self, "languages", tuple(str(x).lower() for x in langs))

    def to_dict(self) -> dict:
        return asdict(self)


# --- filters: (doc, opts) -> drop reason or None -------------------------------------------------


def filter_wikipedia(doc: dict, opts: CleanOptions) -> str | None:
    if not opts.drop_wikipedia:
        return None
    final = doc.get("final_url") or doc.get("url") or ""
    if is_wikipedia(final) or is_wikipedia(doc.get("url") or ""):
        return "wikipedia"
    return None


def filter_empty(doc: dict, opts: CleanOptions) -> str | None:
    text = doc.get("text")
    if text is None or (isinstance(text, (str, bytes)) and not text.strip()):
        return "empty"
    return None


def decode_text(text) -> str | None:
    """The text as str, or None when it cannot be text (non-UTF-8 bytes, other types, surrogates)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: Parquet (and every tokenizer) would reject them
        return None
    return text


def filter_undecodable(doc: dict, opts: CleanOptions) -> str | None:
    text = decode_text(doc.get("text"))
    if text is None:
        return "undecodable"
    if text.count("\ufffd") > opts.max_replacement_ratio * max(len(text), 1):
        return "undecodable"
    return None


def filter_length(doc: dict, opts: CleanOptions) -> str | None:
    if doc["n_chars"] < opts.min_chars:
        return "too_short"
    if doc["n_words"] < opts.min_words:
        return "too_few_words"
    return None


def filter_language(doc: dict, opts: CleanOptions) -> str | None:
    """Needs `doc["language"]` (set by clean_document)."""
    if not opts.languages or doc.get("language") in opts.languages:
        return None
    return "non_english" if opts.languages == ("en",) else "other_language"


# --- repairs: str -> str -------------------------------------------------------------------------

_FTFY_CONFIG = None


def repair_text(text: str) -> str:
    """ftfy's mojibake and escape repairs, leaving quotes, widths and ligatures alone."""
    global _FTFY_CONFIG
    import ftfy

    if _FTFY_CONFIG is None:
        _FTFY_CONFIG = ftfy.TextFixerConfig(
            uncurl_quotes=False, fix_character_width=False, fix_latin_ligatures=False, explain=False
        )
    return ftfy.fix_text(text, _FTFY_CONFIG)


_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_LINE_END_SPACE = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text)
    text = _SPACES.sub(" ", text)  # \s covers tabs, NBSP and the other Unicode spaces
    text = _LINE_END_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def text_stats(text: str) -> dict:
    """The documents-table columns derived from the text."""
    return {
        "text_sha1": hashlib.sha1(text.encode("utf-8")).hexdigest(),
        "n_chars": len(text),
        "n_words": len(text.split()),
    }


# --- the step ------------------------------------------------------------------------------------


def clean_document(doc: dict, opts: CleanOptions | None = None) -> tuple[dict | None, str | None]:
    """`(cleaned row, None)` or `(None, drop reason)`; see the module docstring for the order."""
    opts = opts or CleanOptions()
    for check in (filter_wikipedia, filter_empty, filter_undecodable):
        reason = check(doc, opts)
        if reason:
            return None, reason
    text = decode_text(doc["text"])
    if opts.fix_text:
        text = repair_text(text)
    text = normalize_whitespace(text)
    if not text:
        return None, "empty"
    out = {**doc, "text": text, **text_stats(text)}
    reason = filter_length(out, opts)
    if reason:
        return None, reason
    from webtext.langid import identify

    out["language"], out["language_score"] = identify(text)
    reason = filter_language(out, opts)
    if reason:
        return None, reason
    return out, None


def clean_documents(docs, opts: CleanOptions | None = None) -> tuple[list[dict], StageReport]:
    """Clean every row; returns the kept rows (input order) and the stage report."""
    opts = opts or CleanOptions()
    report = StageReport("clean")
    kept = []
    for doc in docs:
        out, reason = clean_document(doc, opts)
        if out is None:
            report.drop(reason, doc.get("final_url") or doc.get("url"))
        else:
            kept.append(out)
            report.keep()
    report.check()
    return kept, report
