"""The Bloom filter's FP rate, exact overlap on a constructed corpus/eval pair, and decontamination."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from webtext.checks.bloom import BloomFilter, WordHasher, fp_bound, ngram_hashes, normalise
from webtext.cli import main
from webtext.shards import read_manifest, read_shards, write_manifest, write_shards


def _doc(url: str, text: str) -> dict:
    return {"url": url, "final_url": url, "domain": "example.com", "title": "t", "text": text}


def make_corpus(folder, texts: dict[str, str], target_bytes: int = 1 << 20):
    from webtext.report import StageReport

    infos = write_shards([_doc(u, t) for u, t in texts.items()], folder, target_bytes=target_bytes)
    report = StageReport("shard")
    report.keep(len(texts))
    write_manifest(folder, config={"target_bytes": target_bytes}, reports=[report], shards=infos)
    return folder


def random_words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.mark.parametrize("target", [1e-2, 1e-3])
def test_bloom_measured_fp_rate_is_within_its_bound(target):
    rng = random.Random(7)
    hasher = WordHasher()
    inserted = ngram_hashes(random_words(rng, 20_000 + 7), 8, hasher)
    bloom = BloomFilter.for_items(inserted[0].shape[0], target)
    bloom.add(*inserted)
    assert bloom.contains(*inserted).all()  # never a false negative
    bound = fp_bound(bloom.m, bloom.k, inserted[0].shape[0])
    assert bound <= target
    # other random 8-grams: a disjoint alphabet, so none of them was inserted
    queries = ngram_hashes(["".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(6)) for _ in range(150_000)], 8, hasher)
    q = queries[0].shape[0]
    measured = bloom.contains(*queries).sum() / q
    assert 0 < measured <= bound + 4 * (bound / q) ** 0.5  # within 4 standard deviations of the bound
    assert measured >= bound / 3  # and the bound is not absurdly loose (the filter really is sized for it)


def test_bloom_at_the_default_rate_uses_the_textbook_size():
    bloom = BloomFilter.for_items(1_000_000, 1e-8)
    assert bloom.k == 27
    assert 38.3e6 <= bloom.m <= 38.4e6  # -ln(1e-8) / ln(2)^2 = 38.34 bits per n-gram
    assert fp_bound(bloom.m, bloom.k, 1_000_000) <= 1e-8


def test_normalisation_is_the_papers():
    assert normalise("The  QUICK, brown\tfox's  Café_au-lait 42!") == ["the", "quick", "brown", "fox", "s", "café", "au", "lait", "42"]
    assert " ".join(normalise("Hello,\n\nWorld!!!")) == "hello world"


CORPUS = {
    "https://a.example/1": "The quick brown fox jumps over the lazy dog.",
    "https://a.example/2": "Café au lait, s'il vous plaît: served at 9 o'clock sharp.",
    "https://a.example/3": "Nothing in common here with anything else at all whatsoever.",
}

# (example, 3-grams found, 3-grams in all), counted by hand
EXAMPLES = [
    ("THE  quick,brown   fox!", 2, 2),            # case, punctuation as a separator, runs of spaces
    ("brown fox leaps over", 0, 2),              # same words, another sequence
    ("lazy dog. Café au", 0, 2),                 # n-grams never cross corpus documents
    ("jumps_over the lazy", 2, 2),               # "_" is not alphanumeric: it separates
    ("CAFÉ AU LAIT s il vous", 4, 4),            # Unicode lower-casing; "s'il" is two words
    ("at 9 O'CLOCK sharp", 3, 3),                # digits are words; o'clock -> o clock
    ("too short", 0, 0),                          # fewer than n words: no n-gram
    ("the quick brown cat sat on the lazy dog", 2, 7),  # "the quick brown", "the lazy dog"
]


def test_overlap_is_exact_on_a_constructed_pair(tmp_path):
    from webtext.checks.overlap import build_filter, overlap_report

    corpus = make_corpus(tmp_path / "corpus", CORPUS)
    evalf = tmp_path / "eval.jsonl"
    evalf.write_text("".join(json.dumps({"sentence": e}) + "\n" for e, _, _ in EXAMPLES), encoding="utf-8")
    flt = build_filter(corpus, n=3, workers=1)
    assert flt.params["ngrams"] == 7 + 11 + 8  # 9, 13 and 10 words
    r = overlap_report(flt, evalf, field="sentence")
    assert [(e["found"], e["ngrams"]) for e in r["per_example"]] == [(f, t) for _, f, t in EXAMPLES]
    assert r["found"] == sum(f for _, f, _ in EXAMPLES) and r["ngrams"] == sum(t for _, _, t in EXAMPLES)
    assert r["examples_with_overlap"] == 5
    assert r["most_overlapping"][0]["overlap"] == 1.0


def test_overlap_cli_builds_once_saves_next_to_the_shards_and_reuses(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", CORPUS)
    text = tmp_path / "wiki.test.raw"
    text.write_text(" = Heading = \n\n The quick brown fox jumps over the lazy dog . \n", encoding="utf-8")
    parquet = tmp_path / "eval.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["café au lait s il vous plaît", "no such words here at all"]}), parquet)
    assert main(["overlap", "--corpus", str(corpus), "--eval", str(text), str(parquet), "--ngram", "3",
                 "--workers", "2", "--report", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "FP rate <= " in out and "n-grams/s" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["found"] for f in report["files"]] == [7, 5]
    assert [f["ngrams"] for f in report["files"]] == [7, 5 + 4]
    params = json.loads((corpus / "overlap/ngram3/params.json").read_text())
    assert read_manifest(corpus)["overlap"]["ngram3"]["bits"] == params["bits"]
    stamp = (corpus / "overlap/ngram3/bloom.bits").stat().st_mtime_ns
    assert main(["overlap", "--corpus", str(corpus), "--eval", str(text), "--ngram", "3"]) == 0
    assert (corpus / "overlap/ngram3/bloom.bits").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_bad_eval_file_is_one_clear_line(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", CORPUS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    assert main(["overlap", "--corpus", str(corpus), "--eval", str(bad), "--ngram", "3", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl (line 2)" in err and "Traceback" not in err


def test_decontamination_drops_exactly_the_planted_documents(tmp_path):
    rng = random.Random(3)
    eval_examples = [" ".join(random_words(rng, 40)) for _ in range(3)]
    texts = {f"https://c.example/{i}": " ".join(random_words(rng, 200)) for i in range(40)}
    planted = ["https://c.example/5", "https://c.example/17", "https://c.example/31"]
    for url, example in zip(planted, eval_examples):
        words = texts[url].split()
        # the example inside the page, with other case, punctuation and spacing
        texts[url] = " ".join(words[:100]) + "  " + example.upper().replace(" ", ",  ") + ". " + " ".join(words[100:])
    corpus = make_corpus(tmp_path / "corpus", texts, target_bytes=8_000)
    evalf = tmp_path / "test.jsonl"
    evalf.write_text("".join(json.dumps({"text": e}) + "\n" for e in eval_examples), encoding="utf-8")
    before = read_shards(corpus)
    assert main(["overlap", "--corpus", str(corpus), "--eval", str(evalf), "--decontaminate", "--list", "--workers", "2"]) == 0
    listed = [json.loads(line)["url"] for line in (corpus / "overlap/contaminated-ngram8.jsonl").read_text().splitlines()]
    assert sorted(listed) == sorted(planted)
    assert read_shards(corpus).equals(before)  # --list changes nothing
    out = tmp_path / "clean"
    assert main(["overlap", "--corpus", str(corpus), "--eval", str(evalf), "--decontaminate", "--out", str(out), "--workers", "2"]) == 0
    manifest = read_manifest(out)
    assert manifest["drop_reasons"]["decontaminate"] == {"contaminated": 3}
    assert manifest["totals"]["documents"] == 37
    kept = set(read_shards(out).column("url").to_pylist())
    assert kept == set(texts) - set(planted)
    assert len(manifest["shards"]) > 1


def test_decontamination_threshold_keeps_documents_with_few_shared_ngrams(tmp_path):
    from webtext.checks.overlap import EvalNgrams, decontaminate_documents

    evalf = tmp_path / "e.txt"
    evalf.write_text("alpha beta gamma delta epsilon zeta eta theta iota kappa\n", encoding="utf-8")
    index = EvalNgrams([str(evalf)], 8)
    docs = [_doc("u1", "x Alpha beta gamma delta epsilon zeta eta theta y"),  # 1 shared 8-gram
            _doc("u2", "ALPHA beta gamma delta epsilon zeta eta theta iota kappa"),  # 3 shared
            _doc("u3", "nothing to see")]
    kept, report, listing = decontaminate_documents(docs, index, threshold=1, workers=1)
    assert [d["url"] for d in kept] == ["u1", "u3"]
    assert listing == [{"url": "u2", "shared_ngrams": 3, "ngrams": 3}]
    assert report.read == 3 and report.dropped["contaminated"] == 1


def test_streamed_decontamination_writes_the_in_memory_rebuild_byte_for_byte(tmp_path):
    """`--decontaminate --out` streams the corpus (row groups, spills, one shard at a time); its shards
    are the ones the in-memory path (every document loaded, `write_shards`) gives, byte for byte."""
    from webtext.checks.overlap import EvalNgrams, decontaminate_corpus, decontaminate_documents
    from webtext.shards import sha256_file

    rng = random.Random(11)
    examples = [" ".join(random_words(rng, 30)) for _ in range(4)]
    texts = {f"https://s.example/{i}": " ".join(random_words(rng, rng.randint(50, 400))) for i in range(300)}
    for i, example in enumerate(examples):
        url = f"https://s.example/{7 + 60 * i}"
        texts[url] = texts[url] + " " + example.title()
    corpus = make_corpus(tmp_path / "corpus", texts, target_bytes=40_000)
    evalf = tmp_path / "e.jsonl"
    evalf.write_text("".join(json.dumps({"text": e}) + "\n" for e in examples), encoding="utf-8")
    ref = tmp_path / "reference"
    kept, _, _ = decontaminate_documents(read_shards(corpus).to_pylist(), EvalNgrams([str(evalf)], 8), workers=1)
    ref_infos = write_shards(kept, ref, target_bytes=40_000)
    out = tmp_path / "streamed"
    summary = decontaminate_corpus(corpus, [str(evalf)], out, workers=2)
    assert summary["contaminated"] == 4 and summary["kept"] == 296
    manifest = read_manifest(out)
    # the manifest lists what write_shards returned, less the card's statistics (`card`)
    assert len(ref_infos) > 3 and manifest["shards"] == [{k: v for k, v in i.items() if k != "card"} for i in ref_infos]
    for info in ref_infos:
        assert sha256_file(out / info["file"]) == sha256_file(ref / info["file"])


def test_build_decontaminate_flags_and_bad_files(tmp_path, capsys):
    """`webtext build --decontaminate`: flags into BuildConfig; a missing evaluation file or a bad
    threshold is one line, exit 2, before anything runs; the clean stage's fingerprint changes with
    the files (so a rerun redoes clean and what follows) and is unchanged without them."""
    from webtext.build_cli import config_from_args
    from webtext.cli import build_parser
    from webtext.config import BuildConfig

    evalf = tmp_path / "e.jsonl"
    evalf.write_text('{"q": "x"}\n', encoding="utf-8")
    c = config_from_args(build_parser().parse_args(["build", "--decontaminate", str(evalf), "--decontaminate-threshold", "3",
                                                    "--decontaminate-ngram", "13", "--decontaminate-field", "q"]))
    assert (c.decontaminate, c.decontaminate_threshold, c.decontaminate_ngram, c.decontaminate_field) == ([str(evalf)], 3, 13, "q")
    c.validate()
    plain = BuildConfig()
    assert "decontaminate" not in plain.stage_settings("clean")
    assert c.fingerprint("extract") == plain.fingerprint("extract") and c.fingerprint("clean") != plain.fingerprint("clean")
    assert main(["build", "--decontaminate", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["build", "--decontaminate", str(evalf), "--decontaminate-threshold", "-1"]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine"}\n{"q": oops}\n', encoding="utf-8")
    assert main(["build", "--decontaminate", str(bad), "--decontaminate-field", "q", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "missing.jsonl" in err[0] and "--decontaminate-threshold" in err[1], err
    assert "bad.jsonl (line 2)" in err[2] and not (tmp_path / "o").exists()  # before any stage ran
