"""The trainer: its merges against a brute-force oracle, its counting, and a whole training run."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import regex

from webtext.cli import main as cli_main
from webtext.errors import InputError
from webtext.tokenizer import ENDOFTEXT, GPT2_PATTERN, bpe, export, load
from webtext.tokenizer.encoder import bytes_to_unicode
from webtext.tokenizer.files import read_tokenizer

from .conftest import write_shards


# ---------------------------------------------------------------------------------------------
# The brute-force reference: the same rule, done the slow and obvious way.
# ---------------------------------------------------------------------------------------------


def brute_force_merges(word_counts: dict[str, int], n_merges: int, min_pair_count: int = 1) -> list[tuple[bytes, bytes]]:
    """Every step: recount every adjacent pair of every word from scratch (weighted by the word's
    count), take the best by (count desc, left bytes asc, right bytes asc) among pairs whose bytes
    are not already a token, merge it in every word left to right, non-overlapping."""
    known = {bytes([b]) for b in range(256)}
    words = [[bytes([b]) for b in w.encode("utf-8")] for w in word_counts]
    counts = list(word_counts.values())
    merges: list[tuple[bytes, bytes]] = []
    while len(merges) < n_merges:
        pairs: dict[tuple[bytes, bytes], int] = {}
        for sym, c in zip(words, counts):
            for p in zip(sym, sym[1:]):
                pairs[p] = pairs.get(p, 0) + c
        candidates = [(-c, left, right) for (left, right), c in pairs.items() if left + right not in known]
        if not candidates:
            break
        negc, left, right = min(candidates)
        if -negc < min_pair_count:
            break
        merges.append((left, right))
        known.add(left + right)
        for k, sym in enumerate(words):
            out, i = [], 0
            while i < len(sym):
                if i < len(sym) - 1 and sym[i] == left and sym[i + 1] == right:
                    out.append(left + right)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            words[k] = out
    return merges


def fast_merges(word_counts, n_merges, min_pair_count=1):
    r = bpe.learn_merges(word_counts, n_merges, min_pair_count=min_pair_count)
    return [(r.token_bytes[a], r.token_bytes[b]) for a, b in r.merges], r


def pretokens(texts: list[str]) -> dict[str, int]:
    pat = regex.compile(GPT2_PATTERN)
    c: Counter = Counter()
    for t in texts:
        c.update(pat.findall(t))
    return dict(c)


@pytest.mark.parametrize("seed", range(12))
def test_merges_equal_brute_force_on_random_words(seed):
    # small alphabets and repeated letters: many ties and overlapping pairs ("aaaa", "abab")
    rng = random.Random(seed)
    alphabet = rng.choice(["ab", "abc", "aab", "abcd", "xyzé"])
    wc: dict[str, int] = {}
    for _ in range(rng.randint(3, 40)):
        w = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        wc[w] = wc.get(w, 0) + rng.randint(1, 6)
    fast, result = fast_merges(wc, 400)
    ref = brute_force_merges(wc, 400)
    assert fast == ref
    assert result.stopped_early == (len(ref) < 400)


def test_merges_equal_brute_force_on_real_text(articles, varied_text):
    wc = pretokens(articles["train"][:6] + [varied_text(3000, seed=5)])
    n = 300
    fast, result = fast_merges(wc, n)
    assert fast == brute_force_merges(wc, n)
    assert len(fast) == n and not result.stopped_early
    # merges never cross pre-token boundaries: every token is a substring of some pre-token
    joined = "\x00".join(wc).encode("utf-8")
    for left, right in fast:
        assert left + right in joined
    # the counts of the merges never increase (the most frequent pair goes first)
    assert result.counts == sorted(result.counts, reverse=True)


def test_min_pair_count_stops_early():
    wc = {"abab": 3, "cd": 1}
    fast, result = fast_merges(wc, 10, min_pair_count=2)
    assert fast == brute_force_merges(wc, 10, min_pair_count=2) == [(b"a", b"b"), (b"ab", b"ab")]
    assert result.stopped_early


def test_tie_break_is_by_bytes_not_by_input_order():
    # every pair occurs once: the winner is the smallest (left bytes, right bytes)
    a = fast_merges({"zy": 1, "ba": 1, "bc": 1}, 1)[0]
    b = fast_merges({"bc": 1, "zy": 1, "ba": 1}, 1)[0]
    assert a == b == [(b"b", b"a")]


# ---------------------------------------------------------------------------------------------
# Counting words from shards, bounded memory
# ---------------------------------------------------------------------------------------------


def test_count_words_matches_regex_counts(tmp_path, articles):
    texts = articles["train"][:30] + ["", None, "short one"]
    shards = write_shards(tmp_path / "shards", texts, n_files=3, row_group_size=4)
    counts, stats = bpe.count_words(shards, workers=2)
    assert counts == pretokens([t for t in texts if t])
    assert stats.documents == 31 and stats.empty_documents == 2 and stats.pruned_words == 0
    assert stats.bytes == sum(len(t.encode("utf-8")) for t in texts if t)


def test_count_words_pruning_keeps_frequent_words_within_bound(tmp_path, articles):
    texts = articles["train"][:30]
    shards = write_shards(tmp_path / "shards", texts, n_files=2, row_group_size=3)
    exact = pretokens(texts)
    cap = 2000
    counts, stats = bpe.count_words(shards, workers=2, max_words=cap)
    assert len(counts) <= cap < len(exact)
    assert stats.pruned_words > 0 and stats.prune_threshold_sum > 0
    for w, c in counts.items():  # never over-counted, under-counted at most by the bound
        assert exact[w] - stats.prune_threshold_sum <= c <= exact[w]
    for w, c in exact.items():  # every word more frequent than the bound survives
        if c > stats.prune_threshold_sum:
            assert w in counts


def test_bad_shards_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        bpe.count_words(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet shards"):
        bpe.count_words(tmp_path / "empty")
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "notext").mkdir()
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "notext" / "webtext-00000-of-00001.parquet")
    with pytest.raises(InputError, match="no 'text' column"):
        bpe.count_words(tmp_path / "notext")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "webtext-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="webtext-00000-of-00001.parquet"):
        bpe.count_words(tmp_path / "corrupt")


# ---------------------------------------------------------------------------------------------
# A whole training run, the files it writes, and every library reading them
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, articles):
    root = tmp_path_factory.mktemp("train")
    shards = write_shards(root / "shards", articles["train"], n_files=2, row_group_size=10)
    out = root / "tok"
    code = cli_main(["tokenizer", "train", "--shards", str(shards), "--vocab-size", "1200", "--out", str(out), "--workers", "2"])
    assert code == 0
    return shards, out


def test_training_writes_gpt2_layout(trained):
    shards, out = trained
    encoder = json.loads((out / "encoder.json").read_text(encoding="utf-8"))
    lines = (out / "vocab.bpe").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "#version: 0.2" and lines[-1] == ""
    merges = [tuple(line.split(" ")) for line in lines[1:-1]]
    assert len(encoder) == 1200 and len(merges) == 1200 - 257
    assert encoder[ENDOFTEXT] == 1199
    assert sorted(encoder.values()) == list(range(1200))
    # ids 0..255 are the bytes in GPT-2's order; id 256+k is merge k
    assert [encoder[c] for c in bytes_to_unicode().values()] == list(range(256))
    for k, (left, right) in enumerate(merges):
        assert encoder[left + right] == 256 + k
    report = json.loads((out / "train_report.json").read_text())
    assert report["vocab_size"] == 1200 and report["endoftext_id"] == 1199 and not report["stopped_early"]
    assert report["documents"] == 81


def test_training_is_deterministic_across_workers(trained, tmp_path):
    shards, out = trained
    bpe.train(shards, tmp_path / "one", vocab_size=1200, workers=1)
    for name in ("encoder.json", "vocab.bpe", "tokenizer.tiktoken", "tokenizer.json"):
        assert (tmp_path / "one" / name).read_bytes() == (out / name).read_bytes(), name


def test_trained_merges_equal_brute_force(trained, articles):
    _, out = trained
    wc = pretokens(articles["train"])
    ours = load(out).merges[:120]
    u2b = {c: b for b, c in bytes_to_unicode().items()}
    ours_bytes = [(bytes(u2b[c] for c in a), bytes(u2b[c] for c in b)) for a, b in ours]
    assert ours_bytes == brute_force_merges(wc, 120)


def test_every_library_gives_the_same_ids(trained, articles, varied_text, monkeypatch):
    import tiktoken.load
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    _, out = trained
    held_out = "\n\n".join(articles["dev"]) + varied_text(300_000, seed=7)
    ours = load(out)
    ids = ours.encode(held_out)
    assert ours.decode(ids) == held_out
    assert max(ids) < 1199

    tk = export.tiktoken_encoding(out)
    assert tk.encode(held_out) == ids
    assert tk.eot_token == 1199 and tk.n_vocab == 1200
    # tiktoken's own GPT-2-format loader agrees too
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(out / "vocab.bpe"), str(out / "encoder.json"))
    assert ranks == read_tokenizer(out).ranks

    assert Tokenizer.from_file(str(out / "tokenizer.json")).encode(held_out).ids == ids
    assert export.hf_fast_tokenizer(out)(held_out)["input_ids"] == ids
    assert export.hf_fast_tokenizer(out, source="gpt2")(held_out)["input_ids"] == ids
    auto = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert auto(held_out)["input_ids"] == ids
    assert auto.eos_token_id == 1199
    eot = f"a{ENDOFTEXT}b"
    assert ours.encode(eot, allowed_special="all") == tk.encode(eot, allowed_special="all") == auto(eot)["input_ids"]


def test_exported_gpt2_folder_reproduces_gpt2(gpt2_dir, tmp_path, tiktoken_gpt2, varied_text):
    from tokenizers import Tokenizer

    out = export.export_gpt2_folder(gpt2_dir, tmp_path / "gpt2")
    assert (out / "encoder.json").read_bytes() != b""
    assert (out / "vocab.bpe").read_text(encoding="utf-8") == (gpt2_dir / "vocab.bpe").read_text(encoding="utf-8")
    text = varied_text(300_000, seed=3) + f"x{ENDOFTEXT}y"
    want = tiktoken_gpt2.encode(text, allowed_special="all")
    assert export.tiktoken_encoding(out).encode(text, allowed_special="all") == want
    assert Tokenizer.from_file(str(out / "tokenizer.json")).encode(text).ids == want
    assert export.hf_fast_tokenizer(gpt2_dir, source="gpt2")(text)["input_ids"] == want
    assert export.hf_fast_tokenizer(out)(text)["input_ids"] == want
    assert load(gpt2_dir).encode(text, allowed_special="all") == want


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["tokenizer", "train", "--shards", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_rerun_with_same_inputs_skips_and_returns_the_same_result(trained, tmp_path):
    shards, out = trained
    stamp = (out / "vocab.bpe").stat().st_mtime_ns
    again = bpe.train(shards, out, vocab_size=1200, workers=2)
    assert (out / "vocab.bpe").stat().st_mtime_ns == stamp
    fresh = bpe.train(shards, tmp_path / "fresh", vocab_size=1200, workers=2)
    assert again.merges == fresh.merges and again.token_bytes == fresh.token_bytes and again.eot_id == 1199
    report = json.loads((tmp_path / "fresh" / "train_report.json").read_text())
    assert report["distinct_words"] > 1000 and report["inputs"]["vocab_size"] == 1200
    # other settings: trained again
    smaller = bpe.train(shards, tmp_path / "fresh", vocab_size=600, workers=2)
    assert smaller.vocab_size == 600 and smaller.merges == fresh.merges[: 600 - 257]


def test_no_token_crosses_a_pretoken_boundary(trained, varied_text, tmp_path):
    # letters, digits, other symbols and whitespace never share a token; a leading space may join
    pat = regex.compile(GPT2_PATTERN)
    shards = write_shards(tmp_path / "shards", [varied_text(200_000, seed=11)], n_files=1)
    bpe.train(shards, tmp_path / "tok", vocab_size=800, workers=1)  # unicode, emoji, code, whitespace runs
    for folder in (trained[1], tmp_path / "tok"):
        enc = load(folder)
        checked = 0
        for tb in enc.token_bytes():
            try:
                s = tb.decode("utf-8")
            except UnicodeDecodeError:  # part of a multi-byte character
                continue
            assert pat.findall(s) == [s], s
            checked += 1
        assert checked > 500
