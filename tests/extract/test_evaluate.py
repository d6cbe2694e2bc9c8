"""The benchmark metric on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import json

import pytest

from webtext.extract.evaluate import load_gold, read_ids, score_counts, score_pages, shingles, tokenize, tp_fp_fn


def test_tokens_are_unicode_word_runs():
    assert tokenize("Hello, wörld! 3.14 don't") == ["Hello", "wörld", "3", "14", "don", "t"]
    assert tokenize("") == [] and tokenize(None) == []


def test_shingles_are_a_multiset_of_4_grams():
    s = shingles("a b c d a b c d")  # 8 tokens -> 5 shingles, one of them twice
    assert sum(s.values()) == 5
    assert s[("a", "b", "c", "d")] == 2
    # fewer than 4 tokens: one short shingle; no tokens: none
    assert shingles("x y") == {("x", "y"): 1}
    assert shingles("!!") == {}


def test_perfect_prediction():
    assert tp_fp_fn("one two three four five", "one two three four five") == (1.0, 0.0, 0.0)
    s = score_pages({"p": "one two three four five"}, {"p": "one  two, three four five!"})
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_counts_are_normalised_by_their_sum():
    # gold: a b c d e -> shingles abcd, bcde; pred: a b c d x -> abcd, bcdx
    tp, fp, fn = tp_fp_fn("a b c d e", "a b c d x")
    assert (tp, fp, fn) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_precision_and_recall_are_averaged_over_pages_and_f1_from_the_averages():
    gold = {"p1": "a b c d e", "p2": "a b c d e f g"}  # p2 gold shingles: abcd bcde cdef defg
    pred = {"p1": "a b c d e", "p2": "a b c d e"}  # p2: tp 2, fp 0, fn 2
    s = score_pages(gold, pred)
    assert s.precision == pytest.approx(1.0)
    assert s.recall == pytest.approx((1.0 + 0.5) / 2)
    assert s.f1 == pytest.approx(2 * 1.0 * 0.75 / 1.75)  # not the mean of per-page F1s (0.8333)
    assert s.f1 != pytest.approx((1.0 + 2 * 0.5 / 1.5) / 2)


def test_empty_prediction_counts_for_recall_only():
    s = score_pages({"p1": "a b c d e", "p2": "a b c d e"}, {"p1": "a b c d e", "p2": ""})
    assert s.precision == pytest.approx(1.0)  # p2 has tp + fp = 0: left out of the precision mean
    assert s.recall == pytest.approx(0.5)
    # a missing prediction is an empty one
    assert score_pages({"p1": "a b c d e", "p2": "a b c d e"}, {"p1": "a b c d e"}) == s


def test_repeated_text_is_a_false_positive():
    tp, fp, fn = tp_fp_fn("a b c d", "a b c d a b c d")  # pred: abcd x2, bcda, cdab, dabc
    assert (tp, fp, fn) == pytest.approx((1 / 5, 4 / 5, 0.0))
    assert score_counts([(tp, fp, fn)]).precision == pytest.approx(0.2)


def test_no_page_to_average_gives_zero_not_an_error():
    # empty gold and empty prediction: the page counts for neither mean (the benchmark would fail
    # on an empty mean; webtext reports 0)
    s = score_pages({"p": ""}, {"p": ""})
    assert (s.precision, s.recall, s.f1, s.pages) == (0.0, 0.0, 0.0, 1)


def test_read_ids_formats(tmp_path):
    (tmp_path / "ids.txt").write_text("# dev pages\na\n\nb\n")
    (tmp_path / "ids.json").write_text(json.dumps(["x", "y"]))
    (tmp_path / "split.json").write_text(json.dumps({"train": ["t"], "dev": ["d1", "d2"]}))
    assert read_ids(tmp_path / "ids.txt") == ["a", "b"]
    assert read_ids(tmp_path / "ids.json") == ["x", "y"]
    assert read_ids(f"{tmp_path / 'split.json'}:dev") == ["d1", "d2"]


def test_load_gold_names_a_missing_page(shared, tmp_path):
    from webtext.errors import InputError

    data = shared / "data" / "extraction"
    with pytest.raises(InputError, match="no-such-id"):
        load_gold(data / "ground-truth.json", data / "html", ["no-such-id"])
    pages = load_gold(data / "ground-truth.json", data / "html", read_ids(f"{data / 'split.json'}:dev")[:2])
    assert len(pages) == 2 and pages[0].url.startswith("http") and "<" in pages[0].read_html()


def test_snippet_metric_is_pooled_over_snippets_not_pages(tmp_path):
    import gzip

    from webtext.extract.evaluate import load_snippets, score_snippets, snippet_counts

    # whitespace squashed on both sides; case-sensitive substring
    assert snippet_counts("The  cat\nsat on the mat.", ["cat sat on", "The Mat"], ["on the mat"]) == (1, 1, 1, 0)
    data = {
        "http://a.example/1": {"file": "a.html", "with": ["one two", "three four"], "without": ["menu"]},
        "b": {"file": "b.html", "with": ["five"], "without": ["footer", "share"]},
    }
    (tmp_path / "eval.json").write_text(json.dumps(data))
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "a.html.gz").write_bytes(gzip.compress(b"<p>one two</p>"))
    (tmp_path / "html" / "b.html").write_bytes(b"<p>five</p>")
    pages = load_snippets(tmp_path / "eval.json")
    assert [(p.id, p.url) for p in pages] == [("b", ""), ("http://a.example/1", "http://a.example/1")]
    # page a: tp 1 fn 1 fp 1; page b: tp 0 fn 1 (nothing extracted) fp 0 -> pooled tp 1 fp 1 fn 2
    s = score_snippets(pages, {"http://a.example/1": "one two menu", "b": ""})
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 1, 2, 2)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert pages[1].read_html() == "<p>one two</p>"
