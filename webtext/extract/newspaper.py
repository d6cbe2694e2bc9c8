"""Newspaper (newspaper4k) as one of the two extractors: only its body-text parts, on a shared tree.

Newspaper finds the DOM node with the most stopword-dense paragraphs (`ArticleBodyExtractor`),
adds its relevant siblings, cleans that subtree (`DocumentCleaner`) and formats it as paragraphs
(`OutputFormatter`). `Article.parse` also computes authors, dates, images, videos, keywords and
metadata, which webtext throws away, and parses the page a second time; so webtext calls only the
three body parts (and the title extractor), on the tree the stage has already parsed and cleaned
(`webtext.extract.page`). Nothing here can touch the network: no `Article`, no download, no
image fetching, no NLP.

**Faster, same output.** newspaper's tokenizer is replaced by one that builds its tables once
(`_patch_tokenizer`).

**Deterministic.** newspaper4k 0.9.6 collects candidate nodes in Python `set`s (`nodes_to_check`
for `<div>`s, `compute_gravity_scores` for parents) and then sorts them with a *stable* sort by
level and score: ties keep the set's order, which follows memory addresses, so the same page gave
different paragraph sets across calls and processes. `_Body` returns both lists in document order
instead, so ties are broken by position on the page, the same every time.

`max_text` is raised from newspaper's 100,000 characters to `MAX_TEXT`: WebText keeps long
articles whole rather than cut in the middle of a sentence.

**Language.** The stopword language comes from `<html lang>` / `<meta>`; a few languages need an
optional tokenizer (Japanese: tinysegmenter, Chinese: jieba, Thai: pythainlp, Korean and Arabic:
nltk), which webtext does not install. When the language's stopwords cannot be loaded, English
stopwords are used (`language_fallback=True`) rather than lose the page. WebText is an English
corpus; the clean stage decides what to do with other languages.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

MAX_TEXT = 10_000_000
_TAG_ORDER = {"p": 0, "pre": 1, "td": 2, "article": 3, "div": 4}


@dataclass(frozen=True)
class NewspaperResult:
    text: str
    title: str
    language: str
    language_fallback: bool = False


def _import():
    # newspaper4k warns at import when nltk is absent; it needs nltk only for nlp(), unused here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*nltk is not installed.*")
        import newspaper
        import newspaper.parsers  # noqa: F401  (the module that warns)
    _patch_tokenizer()
    return newspaper


_TOKENIZER_PATCHED = False


def _patch_tokenizer() -> None:
    """newspaper's Latin-script tokenizer builds its punctuation table (`str.maketrans`) and its
    contraction regex on every call: about a fifth of Newspaper's time here. The same tokenizer,
    with both built once (same table, same pattern, same output)."""
    global _TOKENIZER_PATCHED
    if _TOKENIZER_PATCHED:
        return
    import re

    import newspaper.text as text_mod

    table = str.maketrans(text_mod.punctuation, " " * len(text_mod.punctuation))
    sep = re.escape("".join(text_mod.contraction_separators))
    contractions = re.compile(rf"(?<=\W)[{sep}]|[{sep}](?=\W)|^[{sep}]*|[{sep}]*$|[{sep}]{{2,}}")
    tokenize = text_mod.whitespace_tokenizer.tokenize

    def default_tokenizer(text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return tokenize(contractions.sub(" ", text.translate(table)).lower())

    text_mod.default_tokenizer = default_tokenizer
    _TOKENIZER_PATCHED = True


def make_config(language: str | None = None):
    """A newspaper `Config` that never fetches; `language` forces the stopword language."""
    newspaper = _import()
    config = newspaper.Config()
    config.fetch_images = False
    config.follow_meta_refresh = False
    config.memorize_articles = False
    config.disable_category_cache = True
    config.max_text = MAX_TEXT
    config.number_threads = 1
    if language is not None:
        config.language = language  # also turns off use_meta_language
    return config


_BODY_CLASS = None


def _body_class():
    """ArticleBodyExtractor with document-ordered candidate lists (see "Deterministic")."""
    global _BODY_CLASS
    if _BODY_CLASS is None:
        _import()
        from newspaper.extractors.articlebody_extractor import ArticleBodyExtractor

        class _Body(ArticleBodyExtractor):
            def nodes_to_check(self, doc):
                self._position = {el: i for i, el in enumerate(doc.iter())}
                nodes = super().nodes_to_check(doc)
                return sorted(nodes, key=lambda n: (_TAG_ORDER.get(n.tag, 5), self._position.get(n, -1)))

            def compute_gravity_scores(self, nodes_with_text):
                parents = super().compute_gravity_scores(nodes_with_text)
                return sorted(parents, key=lambda n: self._position.get(n, -1))

        _BODY_CLASS = _Body
    return _BODY_CLASS


def page_language(doc) -> str | None:
    """The page's declared language (`<html lang>`, `<meta>`), ISO 639-1, as Newspaper reads it."""
    _import()
    from newspaper.extractors.metadata_extractor import MetadataExtractor

    try:
        return MetadataExtractor(make_config())._get_meta_language(doc)
    except Exception:
        return None


def extract_tree(doc, url: str = "") -> NewspaperResult:
    """Newspaper's article text and title from an lxml tree (which it annotates: pass a tree that
    nothing else will read afterwards)."""
    _import()
    from newspaper.cleaners import DocumentCleaner
    from newspaper.extractors.title_extractor import TitleExtractor
    from newspaper.languages import get_available_languages
    from newspaper.outputformatters import OutputFormatter

    declared = page_language(doc)
    language = declared if declared in get_available_languages() else "en"
    fallback = False
    config = make_config(language)
    try:
        body = _body_class()(config)
        body.parse(doc)
    except (ImportError, LookupError, OSError):
        # the language needs a tokenizer that is not installed, or nltk data: English stopwords
        config, fallback = make_config("en"), True
        body = _body_class()(config)
        body.parse(doc)
    title = TitleExtractor(config).parse(doc) or ""
    text = ""
    if body.top_node is not None:
        top = DocumentCleaner(config).clean(body.top_node_complemented)
        text, _ = OutputFormatter(config).get_formatted(top, title)
    return NewspaperResult((text or "").strip(), title.strip(), config.language or "", fallback)


def extract(html: str, url: str = "") -> NewspaperResult:
    """Newspaper's article text and title for `html` (already fetched from `url`), on its own tree."""
    from webtext.extract.page import parse_html

    return extract_tree(parse_html(html), url)
