"""The combination rule: agreement is never lost; one-sided prose is added, one-sided junk is not."""

from __future__ import annotations

from collections import Counter

import pytest

from webtext.extract.combine import combine, is_boilerplate, split_paragraphs
from webtext.extract.text import tokenize

P1 = "The council voted on Tuesday to close the old bridge for repairs next spring."
P2 = "Residents said the detour would add twenty minutes to their daily commute."
P3 = "Engineers found corrosion in the main supports during an inspection in May."
P4 = "The work is expected to cost about four million dollars in total."


def test_agreed_paragraphs_are_kept_and_one_sided_prose_is_added_in_page_order():
    dragnet = ["Share this article", P1, P2, "Photo: City of Springfield", P3, P4]
    newspaper = "\n".join([P1, P2, P4])  # Newspaper missed P3
    out = combine(dragnet, newspaper)
    assert split_paragraphs(out.text) == [P1, P2, P3, P4]
    assert (out.agreed, out.dragnet_only, out.rejected, out.boilerplate) == (3, 1, 1, 1)  # the share line: rule 0
    assert out.source == "combined"


def test_one_sided_dragnet_headings_captions_and_duplicates_are_left_out():
    caption = "Residents cross the old bridge on Monday morning before it closes to all traffic."
    dragnet = [P1, "Related stories", caption, caption.replace("traffic", "cars"), "By Jane Doe | May 3, 2019", P2]
    out = combine(dragnet, "\n".join([P1, P2]))
    # the first caption is prose and is added; its near-duplicate is not; heading and byline are not
    assert split_paragraphs(out.text) == [P1, caption, P2]


def test_newspaper_short_lines_are_kept():
    # list items of an article: Newspaper returns them, Dragnet's classifier drops them
    newspaper = "\n".join([P1, "Meal 1", "Eat every 2 hours", P2])
    out = combine([P1, P2], newspaper)
    assert split_paragraphs(out.text) == [P1, "Meal 1", "Eat every 2 hours", P2]
    assert out.source == "newspaper"


def test_one_extractor_empty_keeps_the_other_whole():
    assert combine([], "\n".join([P1, "Meal 1"])).text == "\n".join([P1, "Meal 1"])
    # Newspaper empty: Dragnet's article span, from its first prose block to its last; the share
    # bar above and the comment count below are not article text
    out = combine(["Facebook Twitter", "Popular now", P1, "Short heading", P2, "Reader poll", "3 Comments"], "")
    assert split_paragraphs(out.text) == [P1, "Short heading", P2] and out.source == "dragnet"
    assert combine([], "").text == ""


def _agreement(a: str, b: str) -> Counter:
    return Counter(tokenize(a)) & Counter(tokenize(b))


@pytest.mark.parametrize(
    "dragnet,newspaper",
    [
        ([P1, P2, P3], P1 + "\n" + P3),
        ([P3, P1], P1 + "\n" + P2 + "\n" + P3),  # different orders
        (["Menu", "Home", P2], "Menu\nHome\n" + P2),  # agreed short lines
        ([P1 + " " + P2], P1 + "\n" + P2),  # one Dragnet block spanning two paragraphs
        (["x y"], "x y z w"),
    ],
)
def test_never_less_than_both_agree_on_hand_made(dragnet, newspaper):
    out = combine(dragnet, newspaper)
    agreed = _agreement("\n".join(dragnet), newspaper)
    assert not agreed - Counter(tokenize(out.text))
    # and every Newspaper paragraph that Dragnet also returned is there verbatim, in order
    kept = split_paragraphs(out.text)
    both = [p for p in split_paragraphs(newspaper) if any(p in d or d in p for d in dragnet)]
    assert [p for p in kept if p in both] == both


def test_never_less_than_both_agree_on_real_pages(dev_pages):
    from webtext.extract import dragnet, newspaper

    for page in dev_pages:
        html = page.read_html()
        blocks = dragnet.extract_blocks(html)
        paper = newspaper.extract(html, page.url).text
        out = combine(blocks, paper)
        # rule 0 drops page furniture even where both agree; everything else they agree on stays
        blocks = [b for b in blocks if not is_boilerplate(b)]
        paper = "\n".join(p for p in split_paragraphs(paper) if not is_boilerplate(p))
        missing = _agreement("\n".join(blocks), paper) - Counter(tokenize(out.text))
        assert not missing, (page.id, list(missing)[:5])
        assert set(split_paragraphs(paper)) <= set(split_paragraphs(out.text)), page.id
