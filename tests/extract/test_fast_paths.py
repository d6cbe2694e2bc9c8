"""The speed-ups in webtext/extract/newspaper.py, dragnet.py and page.py give the answers of the
library code they replace: compared here, element by element, on pages written to hit their edge
cases (comments with tails, scripts and options inside nodes, empty links and buttons, unicode
whitespace and separators, article-like ids and classes)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from webtext.extract import dragnet as webtext_dragnet
from webtext.extract import newspaper
from webtext.extract.page import parse_html, prepare, to_html

PAGES = [
    """<html lang="en"><head><title>T</title></head><body>
    <div id="main-Article" class="wrap"><p>First <a href="/x">link</a> words here, don't stop.<!-- note -->tail
    after comment</p><p>Second\u00a0paragraph\u2028with\u3000odd\x1cspaces - and -- dashes 'quoted' ʼʼx.</p>
    <p><a href="/a">one</a> <a href="/b"></a> <button>go</button> short</p>
    <div class="story_body"><p>Nested <script>var x;</script>text <option>opt</option> more.</p></div>
    <td>cell text with some words</td><pre>code  block</pre></div>
    <div class="Paragraphs"><span>free text</span></div><article role="article">Art <b>bold</b></article>
    <div itemprop="articleBody">Body text of the article.</div><div class="entry-content">x</div>
    <ul><li><a href="/1">nav one</a></li><li><a href="/2">nav two</a></li><li><a href="/3">nav three</a></li></ul>
    <?pi ignored?><div class="ARTİCLE">dotted</div><div id="articles">plural</div><div id="a--story--b">dashes</div>
    </body></html>""",
    "<html><body>" + "<p>short para</p>" * 3 + "<div>d1</div><div class='x'>d2</div></body></html>",
    "<html><body><div><div><div><p>deep <a>a</a><a>b</a><a>c</a></p></div></div></div></body></html>",
]
TEXTS = ["", "  ", "a'b", "'a b'", "a--b c", "ʼʼx ʼa ʼʼ", "x\x1cy\x1fz", "don’t -- it's 'quoted' --x- ‘y’ \n",
         "Ünïcode ΣΑΣ ʹʻʼʽ test's", "tab\tand\u00a0nbsp\u2028ls"]


def _trees():
    for html in PAGES:
        for clean in (False, True):
            root = parse_html(html)
            if clean:
                prepare(root)
            yield root
            yield copy.deepcopy(root.find("body"))


def _call(f, *args):
    try:
        return ("ok", f(*args))
    except Exception as exc:  # the same exception type counts as the same answer
        return ("raised", type(exc))


def test_newspaper_helpers_answer_as_newspapers_own():
    newspaper._import()
    import newspaper.parsers as parsers

    orig = newspaper.ORIGINALS
    for root in _trees():
        for el in root.iter():
            assert _call(parsers.get_text, el) == _call(orig["get_text"], el)
            assert _call(parsers.get_level, el) == _call(orig["get_level"], el)
            for tag in ("p", "div", None):
                assert _call(parsers.get_tags, el, tag) == _call(orig["get_tags"], el, tag)
            for tags in (["a", "button"], ["object", "embed"]):
                assert _call(parsers.get_elements_by_tagslist, el, tags) == _call(orig["get_elements_by_tagslist"], el, tags)
            for lang in ("en", None):
                assert _call(parsers.is_highlink_density, el, lang) == _call(orig["is_highlink_density"], el, lang)
            if isinstance(el.tag, str):
                for attr, pattern in (("class", "paragraph"), ("id", "^side$|comment|foot"), ("class", "[^-]twitter|story")):
                    assert parsers.get_tags_regex(el, attribs={attr: pattern}) == orig["get_tags_regex"](el, attribs={attr: pattern})


def test_tokenizer_answers_as_newspapers_own():
    newspaper._import()
    import newspaper.parsers as parsers
    import newspaper.text as text_mod

    texts = TEXTS + [parsers.get_text(el) for root in _trees() for el in root.iter() if isinstance(el.tag, str)]
    for text in texts:
        assert text_mod.default_tokenizer(text) == newspaper.ORIGINALS["default_tokenizer"](text), text


def test_body_candidates_and_boosts_match_newspapers():
    newspaper._import()
    from newspaper.extractors.articlebody_extractor import ArticleBodyExtractor

    config = newspaper.make_config("en")
    ours, theirs = newspaper._body_class()(config), ArticleBodyExtractor(config)
    for root in _trees():
        position = {el: i for i, el in enumerate(root.iter())}
        expected = sorted(theirs.nodes_to_check(root), key=lambda n: (newspaper._TAG_ORDER.get(n.tag, 5), position[n]))
        assert ours.nodes_to_check(root) == expected
        for el in root.iter():
            if isinstance(el.tag, str):
                assert ours.is_highly_likely(el) == theirs.is_highly_likely(el)


def test_dragnet_fast_paths_predict_as_dragnet_does(dev_pages, monkeypatch):
    model = webtext_dragnet.load_model()
    htmls = [page.read_html() for page in dev_pages[:4]] + [to_html(parse_html(PAGES[0]))]
    fast = [model.predict(h, encoding="utf-8", return_blocks=True) for h in htmls]

    import dragnet.blocks
    import dragnet.compat
    import dragnet.features._readability
    import dragnet.features._weninger

    monkeypatch.setattr(dragnet.blocks, "str_block_list_cast", dragnet.compat.str_block_list_cast)
    monkeypatch.setattr(dragnet.features._weninger, "bytes_block_list_cast", dragnet.compat.bytes_block_list_cast)
    monkeypatch.setattr(dragnet.features._readability, "bytes_block_list_cast", dragnet.compat.bytes_block_list_cast)
    monkeypatch.delattr(model.features, "transform")  # scikit-learn's FeatureUnion.transform again
    monkeypatch.delattr(model.model, "predict")  # and the forest's own predict
    monkeypatch.delattr(model.model, "predict_proba")
    for html, (preds, blocks) in zip(htmls, fast):
        slow_preds, slow_blocks = model.predict(html, encoding="utf-8", return_blocks=True)
        assert np.array_equal(preds, slow_preds)
        assert [b.text for b in blocks] == [b.text for b in slow_blocks]


@pytest.mark.parametrize("depth", [250, 253, 254, 255, 256])
def test_depth_guard_counts_as_a_walk_of_the_tree(depth):
    from webtext.extract.documents import MAX_DEPTH, ExtractionFailed, check_tree

    for leaf in ("x", "<!-- c -->", "<b>y</b>"):
        html = "<html><body>" + "<div>" * depth + leaf + "</div>" * depth + "</body></html>"
        deepest, stack = 0, [(parse_html(html), 1)]
        while stack:
            node, d = stack.pop()
            deepest = max(deepest, d)
            stack.extend((child, d + 1) for child in node)
        if deepest >= MAX_DEPTH:
            with pytest.raises(ExtractionFailed, match="html_too_deep"):
                check_tree(html)
        else:
            check_tree(html)
