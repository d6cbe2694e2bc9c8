"""Newspaper (newspaper4k) as one of the two extractors, configured never to touch the network.

Newspaper finds the DOM node with the most stopword-dense paragraphs, adds its relevant siblings,
cleans that subtree and formats it as paragraphs. webtext gives it HTML that is already fetched
(`download(input_html=...)`, which never requests anything) and turns off everything else that
could reach out:

* `fetch_images=False`: the top image is chosen from the HTML, never downloaded to measure it;
* `follow_meta_refresh=False`: a `<meta http-equiv=refresh>` is not followed;
* no `read_more_link`, no NLP (`nlp()` would need nltk's downloaded data), no memoization.

`max_text` is raised from newspaper's 100,000 characters to `MAX_TEXT`: WebText keeps long
articles whole rather than cut in the middle of a sentence.

**Language.** Newspaper reads `<html lang>`/`<meta>` and switches to that language's stopwords;
a few languages need an optional tokenizer (Japanese: tinysegmenter, Chinese: jieba, Thai:
pythainlp, Korean and Arabic: nltk), which webtext does not install. When the detected
language's tokenizer is missing, the page is parsed again with English stopwords
(`language_fallback=True` in the result) rather than lost. WebText is an English corpus; the
clean stage decides what to do with other languages.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

MAX_TEXT = 10_000_000


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
    return newspaper


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


def _parse(html: str, url: str, language: str | None):
    newspaper = _import()
    article = newspaper.Article(url or "http://localhost/", config=make_config(language))
    article.download(input_html=html)
    article.parse()
    return article


def extract(html: str, url: str = "") -> NewspaperResult:
    """Newspaper's article text and title for `html` (already fetched from `url`)."""
    fallback = False
    try:
        article = _parse(html, url, None)
    except (ImportError, LookupError, OSError):
        # the page's language needs a tokenizer that is not installed (ImportError), or nltk data
        # that is not downloaded (LookupError / OSError): parse again with English stopwords.
        article = _parse(html, url, "en")
        fallback = True
    return NewspaperResult(
        text=(article.text or "").strip(),
        title=(article.title or "").strip(),
        language=article.config.language or "",
        language_fallback=fallback,
    )
