"""The paper's English filter: every kept document labelled with its language; non-English dropped
by default (`non_english`); `--languages` keeps others; the card shows the mix."""

from __future__ import annotations

import json

import pytest

from webtext.errors import ConfigError
from webtext.filters import CleanOptions, clean_document, clean_documents
from webtext.langid import identify, parse_languages

EN = " ".join(["The council voted on Tuesday to close the old bridge for repairs next spring."] * 12)
DE = " ".join(["Der Stadtrat hat am Dienstag beschlossen, die alte Brücke im nächsten Frühjahr zu sanieren."] * 12)
FR = " ".join(["Le conseil municipal a voté mardi la fermeture du vieux pont pour des travaux au printemps."] * 12)
ZH = "市议会星期二投票决定明年春天关闭这座旧桥进行维修。" * 20
MIXED = EN + " " + DE[: len(EN) // 4]  # an English page quoting some German


@pytest.mark.parametrize("text,code", [(EN, "en"), (DE, "de"), (FR, "fr"), (ZH, "zh"), (MIXED, "en")])
def test_identify_gives_iso_639_1_and_a_share(text, code):
    lang, score = identify(text)
    assert lang == code and 0.5 < score <= 1.0


def test_identify_undetermined_without_letters():
    assert identify("12345 678 --- !!!") == ("und", 0.0)
    assert identify("") == ("und", 0.0)
    assert identify("text with a lone surrogate \ud800 and control \x01 characters in plain English words")[0] == "en"


def test_identify_is_deterministic():
    assert len({identify(MIXED) for _ in range(5)}) == 1


def test_clean_labels_and_drops_non_english_by_default(make_doc):
    docs = [make_doc("http://a.example/en", EN), make_doc("http://a.example/de", DE), make_doc("http://a.example/zh", ZH)]
    kept, report = clean_documents(docs)
    assert [d["url"] for d in kept] == ["http://a.example/en"]
    assert kept[0]["language"] == "en" and kept[0]["language_score"] > 0.9
    # Chinese has no spaces between words: the word floor (which runs first) drops it
    assert dict(report.dropped) == {"non_english": 1, "too_few_words": 1}
    report.check()


def test_languages_option_keeps_others_and_all_keeps_everything(make_doc):
    docs = [make_doc("http://a.example/en", EN), make_doc("http://a.example/de", DE), make_doc("http://a.example/fr", FR)]
    kept, report = clean_documents(docs, CleanOptions(languages=("en", "de")))
    assert {d["language"] for d in kept} == {"en", "de"} and dict(report.dropped) == {"other_language": 1}
    kept, _ = clean_documents(docs, CleanOptions(languages=()))
    assert sorted(d["language"] for d in kept) == ["de", "en", "fr"]
    assert CleanOptions(languages="en,de").languages == ("en", "de")  # a flag's or a TOML file's string


def test_parse_languages():
    assert parse_languages("en, de,EN") == ("en", "de")
    assert parse_languages("all") == () and parse_languages(None) == ("en",)
    with pytest.raises(ConfigError, match="ISO 639-1"):
        parse_languages("english")


def test_clean_command_languages_flag_and_shard_card(tmp_path, make_doc):
    from webtext.cli import main
    from webtext.shards import read_documents, write_documents

    write_documents([make_doc("http://a.example/en", EN), make_doc("http://a.example/de", DE)], tmp_path / "in")
    assert main(["clean", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "en")]) == 0
    assert [d["language"] for d in read_documents(tmp_path / "en")] == ["en"]
    report = json.loads((tmp_path / "en" / "report.json").read_text())
    assert report["dropped"] == {"non_english": 1}
    assert main(["clean", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "both"), "--languages", "en,de"]) == 0
    assert sorted(d["language"] for d in read_documents(tmp_path / "both")) == ["de", "en"]
    assert main(["clean", "--docs", str(tmp_path / "in"), "--out", str(tmp_path / "x"), "--languages", "english"]) == 2
    assert main(["shard", "--docs", str(tmp_path / "both"), "--out", str(tmp_path / "shards")]) == 0
    card = (tmp_path / "shards" / "README.md").read_text()
    languages = card.split("## Languages", 1)[1].split("##", 1)[0]
    assert "| de |" in languages and "| en |" in languages


def test_build_config_carries_languages():
    from webtext.build_cli import config_from_args
    from webtext.cli import build_parser

    config = config_from_args(build_parser().parse_args(["build", "--languages", "en,de"]))
    assert CleanOptions(**config.clean_options).languages == ("en", "de")
    default = config_from_args(build_parser().parse_args(["build"]))
    assert CleanOptions(**default.clean_options).languages == ("en",)
