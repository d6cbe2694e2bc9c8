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

import re
import threading
import warnings
from contextlib import contextmanager
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
    _patch_parsers()
    return newspaper


_TOKENIZER_PATCHED = False
# newspaper's own functions that webtext replaces (kept for the tests that compare the two)
ORIGINALS: dict = {}


def _patch_tokenizer() -> None:
    """newspaper's Latin-script tokenizer builds its punctuation table (`str.maketrans`) and its
    contraction regex on every call: about a fifth of Newspaper's time here. The same tokenizer,
    with both built once (same table, same pattern, same output)."""
    global _TOKENIZER_PATCHED
    if _TOKENIZER_PATCHED:
        return

    import newspaper.text as text_mod

    table = str.maketrans(text_mod.punctuation, " " * len(text_mod.punctuation))
    sep = re.escape("".join(text_mod.contraction_separators))
    contractions = re.compile(rf"(?<=\W)[{sep}]|[{sep}](?=\W)|^[{sep}]*|[{sep}]*$|[{sep}]{{2,}}")
    any_separator = re.compile(f"[{sep}]")
    tokenize = text_mod.whitespace_tokenizer.tokenize
    # nltk's whitespace split and str.split() differ only on U+001C..U+001F (whitespace to
    # str.split, not to the `regex` module's \s): str.split() unless the text has one of those.
    unit_separators = re.compile("[\x1c-\x1f]")

    def default_tokenizer(text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = text.translate(table)
        if any_separator.search(text):  # else the substitution only adds spaces at the ends
            text = contractions.sub(" ", text)
        text = text.lower()
        return tokenize(text) if unit_separators.search(text) else text.split()

    ORIGINALS["default_tokenizer"] = text_mod.default_tokenizer
    text_mod.default_tokenizer = default_tokenizer
    _TOKENIZER_PATCHED = True


# Per-thread memo of one tree's node texts and link-density answers, live only while
# ArticleBodyExtractor scores that tree (`_memo`): scoring only sets attributes, never text.
_LOCAL = threading.local()
_PARSERS_PATCHED = False


@contextmanager
def _memo():
    _LOCAL.text, _LOCAL.links, _LOCAL.words = {}, {}, {}
    try:
        yield
    finally:
        _LOCAL.text = _LOCAL.links = _LOCAL.words = None


def _patch_parsers() -> None:
    """Helpers of newspaper's that its scoring calls for every candidate node and again for each
    of its ancestors, replaced by equivalents that give the same answers:

    * `parsers.get_text(node)` deep-copies the subtree, strips comments (with their tails),
      scripts, styles, selects, options and textareas from the copy, and joins its text. When the
      subtree has none of those (nearly always, on a tree `page.prepare` has cleaned) the text is
      joined from the node itself, without the copy; otherwise newspaper's own function runs.
      Its whitespace squeeze (`text.inner_trim`: a regex, then line joins and a strip) is
      `" ".join(text.split())`: `\\s` in a `str` regex and `str.split()` are the same characters.
    * `parsers.get_level(node)` split the node's XPath (`getpath` counts siblings at every
      level): the same number, 1 + its ancestors.
    * `parsers.get_elements_by_tagslist` and `parsers.get_tags` (without attributes) compiled
      their XPath on every call: compiled once per tag list or tag.
    * `parsers.fromstring`, which newspaper uses to make the tree the top node's copy goes into,
      parses with webtext's parser (`page._parser`), so that tree's elements are the same
      classes, picked in C.
    * `parsers.is_highlink_density(node, language)` built a `StopWords` (a file check and an
      import) for every word count: the same test with the tokenizer looked up once per language.

    While a tree is being scored (`_memo`), both answers are kept per node and word counts per
    text, so an ancestor does not recount its descendants' links."""
    global _PARSERS_PATCHED
    if _PARSERS_PATCHED:
        return
    from math import exp

    import lxml.etree
    import lxml.html
    import newspaper.parsers as parsers
    import newspaper.text as text_mod

    from webtext.extract.page import _parser

    copying_get_text = parsers.get_text
    stripped = (lxml.etree.Comment, "script", "style", "select", "option", "textarea")
    tokenizers: dict = {}
    tag_xpaths: dict = {}

    def get_elements_by_tagslist(node, tag_list):
        if not isinstance(node.tag, str):  # a compiled XPath takes elements only
            return newspaper_tagslist(node, tag_list)
        key = tuple(tag_list)
        if key not in tag_xpaths:
            tag_xpaths[key] = lxml.etree.XPath(" | ".join(f".//{tag}" for tag in tag_list))
        return tag_xpaths[key](node)

    def get_tags(node, tag=None, attribs=None, attribs_match="exact", ignore_dashes=False):
        # newspaper's `.//tag` (no attributes asked) with the XPath compiled once per tag
        if attribs or not isinstance(node.tag, str) or attribs_match not in ("exact", "substring", "word"):
            return newspaper_get_tags(node, tag=tag, attribs=attribs, attribs_match=attribs_match, ignore_dashes=ignore_dashes)
        key = (tag or "*",)
        if key not in tag_xpaths:
            tag_xpaths[key] = lxml.etree.XPath(f".//{key[0]}")
        return tag_xpaths[key](node)

    def get_level(node) -> int:
        return 1 + sum(1 for _ in node.iterancestors())

    def fromstring(html):
        if isinstance(html, str) and not html.startswith("<?"):
            try:
                return lxml.html.fromstring(html, parser=_parser())
            except Exception:
                pass  # newspaper's own path logs it and returns None
        return newspaper_fromstring(html)

    newspaper_fromstring = parsers.fromstring
    newspaper_tagslist = parsers.get_elements_by_tagslist
    newspaper_get_tags = parsers.get_tags

    def get_text(node):
        memo = getattr(_LOCAL, "text", None)
        if memo is not None and node in memo:
            return memo[node]
        if isinstance(node.tag, str) and next(node.iterdescendants(*stripped), None) is None:
            text = " ".join(" ".join(node.itertext()).split())
        else:
            text = copying_get_text(node)
        if memo is not None:
            memo[node] = text
        return text

    def word_count(text: str, language) -> int:
        words = getattr(_LOCAL, "words", None)
        key = (text, language)
        if words is not None and key in words:
            return words[key]
        if language:
            tokenizer = tokenizers.get(language)
            if tokenizer is None:
                tokenizer = tokenizers[language] = text_mod.StopWords(language).tokenizer
            n = len(list(tokenizer(text)))
        else:
            n = len([w for w in text.split() if w.isalnum()])
        if words is not None:
            words[key] = n
        return n

    def is_highlink_density(e, language=None) -> bool:
        memo = getattr(_LOCAL, "links", None)
        key = (e, language)
        if memo is not None and key in memo:
            return memo[key]
        answer = _link_dense(e, language)
        if memo is not None:
            memo[key] = answer
        return answer

    def _link_dense(e, language) -> bool:
        # newspaper's test: link words (an empty link counts 1) as a share of the node's words,
        # against a limit falling from ~65% for short texts to ~35% for long ones; short texts
        # with more than two links and over half their words in links are dense too.
        links = get_elements_by_tagslist(e, ("a", "button"))
        if not links:
            return False
        total = word_count(get_text(e), language)
        if total == 0:
            return True
        link_words = sum(word_count(get_text(link), language) or 1 for link in links)
        proportion = link_words * 100 / total
        if proportion > 87 - 70 / (1.3 + exp(1 - total / 200)):
            return True
        return total < 50 and len(links) > 2 and proportion > 50

    xpath_get_tags_regex = parsers.get_tags_regex
    patterns: dict = {}

    def get_tags_regex(node, tag=None, attribs=None):
        # newspaper's XPath `.//tag[re:test(@k, 'v', 'i') and ...]` calls back into Python for
        # every element; the same test (lxml's EXSLT `re:test`: `re.search` with UNICODE and
        # IGNORECASE on the attribute's value, "" when it is absent), in document order
        if not attribs:
            return xpath_get_tags_regex(node, tag=tag, attribs=attribs)
        tests = []
        for k, v in attribs.items():
            if v not in patterns:
                patterns[v] = re.compile(v, re.UNICODE | re.IGNORECASE)
            tests.append((k, patterns[v]))
        elements = node.iterdescendants(tag or lxml.etree.Element)
        if len(tests) == 1:
            k, search = tests[0][0], tests[0][1].search
            return [el for el in elements if search(el.get(k) or "")]
        return [el for el in elements if all(rx.search(el.get(k) or "") for k, rx in tests)]

    for name in ("get_text", "is_highlink_density", "get_tags_regex", "get_tags", "get_elements_by_tagslist", "get_level",
                 "fromstring"):
        ORIGINALS[name] = getattr(parsers, name)
    parsers.get_text = get_text
    parsers.is_highlink_density = is_highlink_density
    parsers.get_tags_regex = get_tags_regex
    parsers.get_elements_by_tagslist = get_elements_by_tagslist
    parsers.get_tags = get_tags
    parsers.get_level = get_level
    parsers.fromstring = fromstring
    _PARSERS_PATCHED = True


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
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", "abcdefghijklmnopqrstuvwxyz  ")
_XPATH_SPACE = re.compile("[ \t\r\n]+")  # normalize-space()'s whitespace
_ARTICLE_WORDS = ("articlebody", "article", "story")
_PARAGRAPH = re.compile("paragraph", re.UNICODE | re.IGNORECASE)


def _article_div(el) -> bool:
    """newspaper's XPath tests for a <div> named like an article body: a word of its id or class
    (ASCII-lowercased, `-`/`_` as spaces, split on XPath whitespace) is one of `_ARTICLE_WORDS`,
    or its class matches `paragraph` (EXSLT `re:test`, case ignored)."""
    for attr in ("id", "class"):
        value = el.get(attr)
        if value and any(w in _ARTICLE_WORDS for w in _XPATH_SPACE.split(value.translate(_ASCII_LOWER))):
            return True
    return bool(_PARAGRAPH.search(el.get("class") or ""))


def _body_class():
    """ArticleBodyExtractor with document-ordered candidate lists (see "Deterministic")."""
    global _BODY_CLASS
    if _BODY_CLASS is None:
        _import()
        from newspaper.extractors import defines
        from newspaper.extractors.articlebody_extractor import ArticleBodyExtractor

        # newspaper's table of "highly likely" article containers, compiled once: each entry is
        # (tag or None, [(attribute, compiled regex or lowercased value)], score)
        likely = []
        for entry in defines.ARTICLE_BODY_TAGS:
            tests = []
            for k, v in entry.items():
                if k not in ("tag", "score_boost"):
                    tests.append((k, re.compile(v[3:], re.I) if v.startswith("re:") else v.lower()))
            likely.append((entry.get("tag"), tests, entry["score_boost"]))
        likely_attrs = {k for _, tests, _ in likely for k, _ in tests}

        class _Body(ArticleBodyExtractor):
            def nodes_to_check(self, doc):
                """newspaper 0.9.6's candidates in one pass over the tree, in document order
                within each tag (see "Deterministic"): every <p>, <pre>, <td>, <article>, then
                the <div>s named like an article body (an id or class word `articlebody`,
                `article` or `story`, dashes and underscores as spaces, ASCII case ignored, or
                a class matching `paragraph`), or every <div> when none is and fewer than five
                other candidates were found."""
                self._position = position = {}
                found = {tag: [] for tag in _TAG_ORDER}
                named_divs = []
                for i, el in enumerate(doc.iter()):
                    position[el] = i
                    bucket = found.get(el.tag) if i else None  # doc itself is not a candidate
                    if bucket is not None:
                        bucket.append(el)
                        if el.tag == "div" and _article_div(el):
                            named_divs.append(el)
                nodes = found["p"] + found["pre"] + found["td"] + found["article"]
                return nodes + (named_divs if named_divs or len(nodes) >= 5 else found["div"])

            def parse(self, doc):
                with _memo():
                    super().parse(doc)

            def is_highly_likely(self, node):
                # newspaper's test (the best score of the entries that match), compiled; a node
                # without any of the attributes matches no entry, as no value matches ""
                attrib = node.attrib
                if not any(k in attrib for k in likely_attrs):
                    return 0
                best = 0
                for tag, tests, score in likely:
                    if tag is not None and node.tag != tag:
                        continue
                    for k, v in tests:
                        value = attrib.get(k, "")
                        if not (v.search(value) if isinstance(v, re.Pattern) else value.lower() == v):
                            break
                    else:
                        best = max(best, score)
                return best

            def compute_gravity_scores(self, nodes_with_text):
                parents = super().compute_gravity_scores(nodes_with_text)
                return sorted(parents, key=lambda n: self._position.get(n, -1))

        _BODY_CLASS = _Body
    return _BODY_CLASS


_CONFIGS: dict = {}


def _config(language: str):
    """One `make_config(language)` per language, shared: extraction only reads a config."""
    if language not in _CONFIGS:
        _CONFIGS[language] = make_config(language)
    return _CONFIGS[language]


_FORMATTER_CLASS = None


def _formatter_class():
    """newspaper's OutputFormatter without the cleaned article HTML, which webtext does not use
    (newspaper cleans a deep copy for it, so the text is the same)."""
    global _FORMATTER_CLASS
    if _FORMATTER_CLASS is None:
        _import()
        from newspaper.outputformatters import OutputFormatter

        class _TextOnly(OutputFormatter):
            def _create_clean_html(self, top_node):
                return ""

        _FORMATTER_CLASS = _TextOnly
    return _FORMATTER_CLASS


def page_language(doc) -> str | None:
    """The page's declared language (`<html lang>`, `<meta>`), ISO 639-1, as Newspaper reads it."""
    _import()
    from newspaper.extractors.metadata_extractor import MetadataExtractor

    try:
        return MetadataExtractor(_config(None))._get_meta_language(doc)
    except Exception:
        return None


def extract_tree(doc, url: str = "") -> NewspaperResult:
    """Newspaper's article text and title from an lxml tree (which it annotates: pass a tree that
    nothing else will read afterwards)."""
    _import()
    from newspaper.cleaners import DocumentCleaner
    from newspaper.extractors.title_extractor import TitleExtractor
    from newspaper.languages import get_available_languages

    declared = page_language(doc)
    language = declared if declared in get_available_languages() else "en"
    fallback = False
    config = _config(language)
    try:
        body = _body_class()(config)
        body.parse(doc)
    except (ImportError, LookupError, OSError):
        # the language needs a tokenizer that is not installed, or nltk data: English stopwords
        config, fallback = _config("en"), True
        body = _body_class()(config)
        body.parse(doc)
    title = TitleExtractor(config).parse(doc) or ""
    text = ""
    if body.top_node is not None:
        top = DocumentCleaner(config).clean(body.top_node_complemented)
        text = _formatter_class()(config).get_formatted(top, title)[0]
    return NewspaperResult((text or "").strip(), title.strip(), config.language or "", fallback)


def extract(html: str, url: str = "") -> NewspaperResult:
    """Newspaper's article text and title for `html` (already fetched from `url`), on its own tree."""
    from webtext.extract.page import parse_html

    return extract_tree(parse_html(html), url)
