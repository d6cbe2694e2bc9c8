"""One page, parsed once: the tree both extractors read, cleaned of what a reader never sees.

`parse_html(text)` builds the lxml tree (an `<?xml ... encoding=...?>` declaration is dropped
first: lxml refuses a decoded string that declares an encoding, although the page is fine).
`prepare(root)` then, on that one tree:

1. **Harvests what the page declares as its article** before scripts go: the `articleBody` of
   its JSON-LD objects (`<script type="application/ld+json">`, `@graph`s and lists included), and
   the markup hidden in `<noscript>` and `<script type="text/template">` (also `text/x-template`,
   `text/html`). These are used only when the visible extraction is empty or tiny
   (documents.py): they are what a browser with scripts shows, or what the publisher says the
   article is.
2. **Removes what is never read as part of the page**: scripts, styles, templates, `<noscript>`
   (its content is kept aside, see 1), forms' controls, and elements that are hidden
   (`hidden`, `aria-hidden="true"`, inline `display:none` / `visibility:hidden`) or that are
   pop-ups by name (a class or id token such as `tooltip`, `popover`, `hovercard`, `modal`,
   `popup`). Pop-up cards of linked names are what glued "Ilhan OmarIlhan Omar..." into
   sentences: their text is inside the link, so a text extractor reads it inline.

Dragnet reads the cleaned tree serialised once (its blockifier parses a string); Newspaper reads
the tree itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_POPUP_TOKEN = re.compile(r"(?:^|[\s_-])(tooltip|popover|popup|pop-up|hovercard|hover-card|modal)(?:$|[\s_-])", re.I)
POPUP_MAX_WORDS = 60  # a pop-up is a card, not a page: a "modal-wrapper" around the article is not one
_TEMPLATE_TYPES = {"text/template", "text/x-template", "text/html", "text/x-handlebars-template"}
_DROP_TAGS = ("script", "style", "template", "noscript", "button", "select", "textarea", "input", "svg", "iframe", "object")


_MAYBE_HIDDEN = None  # set on first use: XPath of the body's descendants that have a hiding attribute


@dataclass
class Declared:
    """What the page declares as its article, beside its visible markup."""

    article_bodies: list[str] = field(default_factory=list)  # JSON-LD articleBody texts
    hidden_markup: list[str] = field(default_factory=list)  # <noscript> / template contents


_PARSER = None


def _parser():
    """lxml.html's parser with its element classes picked in C. lxml.html's own parser asks a
    Python method for the class of every element object Python touches (hundreds of thousands
    of calls per 40 pages, a pass over the tree each time the extractors walk it); this one gives
    every element `HtmlElement` (lxml.html's form classes, which add form-field helpers nothing
    here uses, are not used), comments `HtmlComment`, and so on. Same tree, same text."""
    global _PARSER
    if _PARSER is None:
        import lxml.etree
        import lxml.html

        parser = lxml.html.HTMLParser()
        parser.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(
            element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment,
            pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))
        _PARSER = parser
    return _PARSER


def parse_html(text: str):
    """The page's lxml tree; raises ValueError / lxml.etree.ParserError when there is none."""
    import lxml.html

    text = _XML_DECL.sub("", text, count=1)
    return lxml.html.document_fromstring(text, parser=_parser())


def _json_bodies(obj, out: list[str], depth: int = 0) -> None:
    if depth > 8:
        return
    if isinstance(obj, list):
        for item in obj:
            _json_bodies(item, out, depth + 1)
    elif isinstance(obj, dict):
        body = obj.get("articleBody")
        if isinstance(body, str) and body.strip():
            out.append(body.strip())
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "hasPart"):
            if key in obj:
                _json_bodies(obj[key], out, depth + 1)


def _is_hidden(el) -> bool:
    get = el.get
    if get("hidden") is not None or (get("aria-hidden") or "").lower() == "true":
        return True
    style = get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    names = f"{get('class') or ''} {get('id') or ''}"
    if not names.strip() or not _POPUP_TOKEN.search(names):
        return False
    words = 0
    for t in el.itertext():
        words += len(t.split())
        if words > POPUP_MAX_WORDS:
            return False
    return True


def prepare(root) -> Declared:
    """Harvest the declared article, then remove unseen elements from `root` (in place)."""
    global _MAYBE_HIDDEN
    if _MAYBE_HIDDEN is None:
        import lxml.etree

        _MAYBE_HIDDEN = lxml.etree.XPath(".//*[@hidden or @aria-hidden or @style or @class or @id]")
    declared = Declared()
    for el in root.iter("script", "noscript", "template"):
        if el.tag == "script":
            kind = (el.get("type") or "").strip().lower()
            if kind == "application/ld+json":
                try:
                    _json_bodies(json.loads(el.text or ""), declared.article_bodies)
                except ValueError:
                    pass
            elif kind in _TEMPLATE_TYPES and (el.text or "").strip():
                declared.hidden_markup.append(el.text)
        elif el.tag == "noscript":
            import lxml.html

            inner = (el.text or "") + "".join(lxml.html.tostring(c, encoding="unicode") for c in el)
            if inner.strip():
                declared.hidden_markup.append(inner)
        elif el.tag == "template" and len(el):
            import lxml.html

            declared.hidden_markup.append("".join(lxml.html.tostring(c, encoding="unicode") for c in el))
    doomed = [el for el in root.iter(*_DROP_TAGS)]
    body = root.find("body")
    if body is not None:
        # only an element with one of these attributes can be hidden (`_is_hidden`)
        doomed.extend(el for el in _MAYBE_HIDDEN(body) if _is_hidden(el))
    for el in doomed:
        _drop(el)
    return declared


def _drop(el) -> None:
    """Remove `el` and its subtree, keeping its tail text (which belongs to the parent)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def to_html(root) -> str:
    import lxml.html

    return lxml.html.tostring(root, encoding="unicode")


def visible_words(root, enough: int | None = None) -> int:
    """Words of text in the (cleaned) body: a page with almost none cannot be an article.
    With `enough`, counting stops once that many are found (the answer is then `>= enough`)."""
    body = root.find("body")
    node = body if body is not None else root
    words = 0
    for t in node.itertext():
        words += len(t.split())
        if enough is not None and words >= enough:
            break
    return words
