"""Which responses are HTML, and which character encoding their bytes are in.

`is_html(content_type, body)`: the fetch stage keeps `text/html` and `application/xhtml+xml`. A
response without a Content-Type counts as HTML when its first bytes look like an HTML document.

`detect_charset(body, content_type)` returns `(codec, source)` where source says which rule won,
tried in this order (the order browsers use, plus a guard against declarations that lie):

1. `bom`: a byte-order mark.
2. `header`: the charset of the Content-Type header, if Python knows the codec and the body
   decodes with it without error.
3. `meta`: `<meta charset>` / `<meta http-equiv>` in the first bytes, with the same checks.
4. `detected`: valid UTF-8, else charset-normalizer's best guess, except that windows-1252 (the
   web's legacy default) wins over another Latin code page that reads the bytes about as well,
   when what it reads are the letters of Western European text; else cp1252 (which decodes any byte string, so decoding never fails).

A declared single-byte charset (latin-1, cp1252, ...) decodes anything, so a page declared latin-1
whose bytes are valid UTF-8 with non-ASCII characters is taken as UTF-8 (`detected`): multi-byte
UTF-8 sequences practically never occur by chance in real latin-1 text, and this is the most
common wrong declaration on the web.
"""

from __future__ import annotations

import codecs
import re

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title)\b", re.I | re.S)
_SINGLE_BYTE = frozenset({"cp1252", "latin_1", "iso8859_1", "iso8859_15", "ascii"})
# Latin-script single-byte code pages (charset-normalizer's names), among which cp1252 wins a tie.
CP1252_MARGIN = 0.05
_LATIN_SINGLE_BYTE = frozenset({
    "cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "latin_1", "iso8859_2", "iso8859_3", "iso8859_4",
    "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15", "iso8859_16", "mac_roman",
    "mac_latin2", "mac_iceland", "cp775", "cp850", "cp852", "hp_roman8",
})


def mime_type(content_type: str | None) -> str:
    """`text/html; charset=x` -> `text/html` (lowercased); '' when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_html(content_type: str | None, body: bytes = b"") -> bool:
    mime = mime_type(content_type)
    if mime:
        return mime in HTML_TYPES
    return bool(_HTML_START.match(body[:1024].lstrip(codecs.BOM_UTF8)))


# The non-ASCII characters of Western European text in cp1252: accented letters of the languages
# cp1252 was made for, and the typographic punctuation of the 0x80-0x9F range.
_WESTERN = frozenset(
    "àâäáãåæçèéêëìíîïñòóôöõøùúûüýÿœšžßÀÂÄÁÃÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÖÕØÙÚÛÜÝŸŒŠŽ"
    "‘’‚“”„–—…€•†‡™©®°«»·¿¡§£¢¥ºª\u00a0"
)


def _western(text: str) -> bool:
    return all(ch in _WESTERN for ch in set(text) if ord(ch) > 127)


# Languages written in windows-1252 (its letters cover their alphabets).
_CP1252_LANGUAGES = frozenset({"en", "fr", "de", "es", "it", "pt", "nl", "da", "sv", "nb", "nn", "no", "fi", "is",
                               "ca", "gl", "eu", "ga", "af", "id", "ms", "sw", "lb", "fo", "oc"})


def _prefer_cp1252(body: bytes, best, matches) -> bool:
    """Prefer windows-1252, the web's legacy default (WHATWG), over the Latin code page that
    charset-normalizer ranked first, when cp1252 reads the bytes about as cleanly (mess within
    CP1252_MARGIN), what it reads are the letters of Western European text, and that text is in a
    language cp1252 is written in (or too short to tell). On Western text cp1250/cp1257/iso8859-x
    often score level or a hair better by chance ("crčme, naļve"); Polish, Czech or Lithuanian read
    in cp1252 keep their own language (or show letters Western text never uses: ³, ¹, ð, þ) and
    keep their code page."""
    if not any(m.chaos <= best.chaos + CP1252_MARGIN and "cp1252" in m.could_be_from_charset for m in matches):
        return False
    text = body[:65536].decode("cp1252", errors="replace")
    if not _western(text):
        return False
    try:
        from webtext.langid import UNDETERMINED, identify
    except ImportError:  # pragma: no cover - pycld2 is a dependency
        return True
    import re

    language = identify(re.sub(r"<[^>]*>", " ", text))[0]
    return language in _CP1252_LANGUAGES or language == UNDETERMINED


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
        return True
    except (UnicodeDecodeError, LookupError):
        return False


def _utf8_with_non_ascii(body: bytes) -> bool:
    return not body.isascii() and _decodes(body, "utf-8")


def detect_charset(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(codec name, source) for an HTML body; rules in the module docstring."""
    bom, _ = read_bom(body)
    if bom:
        return _codec(bom) or bom, "bom"
    for source, name in (
        ("header", http_content_type_encoding(content_type or "")),
        ("meta", html_body_declared_encoding(body[:4096])),
    ):
        codec = _codec(name)
        if codec and _decodes(body, codec):
            if codec in _SINGLE_BYTE and _utf8_with_non_ascii(body):
                return "utf-8", "detected"
            return codec, source
    if _decodes(body, "utf-8"):
        return "utf-8", "detected"
    try:
        from charset_normalizer import from_bytes

        matches = from_bytes(body[:65536])
        best = matches.best()
        if best is not None and best.encoding in _LATIN_SINGLE_BYTE and best.encoding != "cp1252":
            if _prefer_cp1252(body, best, matches):
                return "cp1252", "detected"
        codec = _codec(best.encoding) if best else None
        if codec:
            return codec, "detected"
    except ImportError:  # pragma: no cover - charset-normalizer comes with requests
        pass
    return "cp1252", "detected"


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str, str]:
    """(text, codec, source). Undecodable bytes (possible only for a guessed codec) become U+FFFD."""
    codec, source = detect_charset(body, content_type)
    text = body.decode(codec, errors="replace")
    return text.lstrip("\ufeff"), codec, source
