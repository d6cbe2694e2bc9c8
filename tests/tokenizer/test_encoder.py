"""The project's GPT-2 encoder against tiktoken's GPT-2 on OpenAI's own files."""

from __future__ import annotations

import json

import pytest

from webtext.errors import InputError
from webtext.tokenizer import ENDOFTEXT, load
from webtext.tokenizer.encoder import bytes_to_unicode, token_to_bytes


def first_difference(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def test_hello_world(gpt2_dir):
    enc = load(gpt2_dir)
    assert enc.encode("hello world") == [31373, 995]
    assert enc.decode([31373, 995]) == "hello world"
    assert enc.eot_token == 50256 and enc.n_vocab == 50257


def test_bytes_to_unicode_is_gpt2s_map():
    m = bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256
    assert m[ord(" ")] == "Ġ" and m[ord("\n")] == "Ċ" and m[ord("A")] == "A"
    assert token_to_bytes("Ġhello") == b" hello"


def test_ten_megabytes_equal_tiktoken_gpt2(gpt2_dir, tiktoken_gpt2, varied_text):
    text = varied_text(10_500_000, seed=1)
    assert len(text.encode("utf-8")) >= 10_000_000
    enc = load(gpt2_dir)
    ours = enc.encode_ordinary(text)
    theirs = tiktoken_gpt2.encode_ordinary(text)
    if ours != theirs:
        i = first_difference(ours, theirs)
        ctx = tiktoken_gpt2.decode(theirs[max(0, i - 5) : i + 5])
        pytest.fail(f"first difference at token {i} (of {len(theirs)}): {ours[i:i+5]} vs {theirs[i:i+5]} near {ctx!r}")
    assert enc.decode(ours) == text
    # and in pieces, as documents are encoded (each piece starts a fresh pre-tokenization)
    for k in range(0, 2_000_000, 250_000):
        piece = text[k : k + 250_000]
        assert enc.encode(piece) == tiktoken_gpt2.encode(piece)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "   leading and trailing   ",
        "\n\n\n",
        "a\u00a0b",
        "It's 3.14159, isn't it? I'll say: 'yes'!",
        "👨‍👩‍👧‍👦🇺🇸 e\u0301",
        "def f(x):\n\treturn x  # comment\n",
        "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ],
)
def test_edge_cases_equal_tiktoken(gpt2_dir, tiktoken_gpt2, text):
    enc = load(gpt2_dir)
    assert enc.encode(text) == tiktoken_gpt2.encode(text)
    assert enc.decode(enc.encode(text)) == text


def test_special_token_handling_like_tiktoken(gpt2_dir, tiktoken_gpt2):
    enc = load(gpt2_dir)
    text = f"first document{ENDOFTEXT}second <|endoftext document"
    # refused by default, like tiktoken
    with pytest.raises(ValueError):
        enc.encode(text)
    with pytest.raises(ValueError):
        tiktoken_gpt2.encode(text)
    allowed = enc.encode(text, allowed_special={ENDOFTEXT})
    assert allowed == tiktoken_gpt2.encode(text, allowed_special={ENDOFTEXT})
    assert allowed.count(50256) == 1
    assert enc.encode(text, allowed_special="all") == allowed
    as_text = enc.encode(text, disallowed_special=())
    assert as_text == tiktoken_gpt2.encode(text, disallowed_special=()) == enc.encode_ordinary(text)
    assert 50256 not in as_text
    assert enc.decode(allowed) == enc.decode(as_text) == text


def test_decode_replaces_cut_characters(gpt2_dir, tiktoken_gpt2):
    enc = load(gpt2_dir)
    ids = enc.encode("🐍")
    assert len(ids) > 1  # a multi-byte character split over tokens
    assert enc.decode(ids[:1]) == tiktoken_gpt2.decode(ids[:1])
    assert enc.decode_bytes(ids) == "🐍".encode("utf-8")
    with pytest.raises(ValueError):
        enc.decode([50257])


def test_load_errors_name_the_file(tmp_path, gpt2_dir):
    with pytest.raises(InputError, match="not found"):
        load(tmp_path / "missing")
    (tmp_path / "encoder.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}))
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\na b\nthree parts here\n")
    with pytest.raises(InputError, match=r"vocab\.bpe \(line 3\)"):
        load(tmp_path)
    (tmp_path / "encoder.json").write_text("{not json")
    with pytest.raises(InputError, match="encoder.json"):
        load(tmp_path)
