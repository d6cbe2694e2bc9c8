"""Fixtures for the tokenizer tests: deterministic varied text, real article text, tiny shards."""

from __future__ import annotations

import inspect
import json
import random
from pathlib import Path

import pytest

# Scripts and symbols that stress byte-level BPE: multi-byte UTF-8 of every length, combining
# marks, emoji with skin tones / ZWJ / flags, unusual whitespace.
UNICODE_WORDS = (
    "naïve café résumé Zürich São Paulo façade coöperate Ångström ĳssel Łódź İstanbul ß ẞ "
    "Привет мир Съешь же ещё этих мягких булок Γειά σου κόσμε Ελληνικά مرحبا بالعالم العربية "
    "שלום עולם नमस्ते दुनिया हिन्दी ভাষা தமிழ் ภาษาไทย 你好世界 日本語のテキスト カタカナ ひらがな "
    "한국어 텍스트 ∑∫√∞≠≤≥ ½ ¾ ° © ® ™ € £ ¥ ₹ ‰ † ‡ • … “quoted” ‘single’ « guillemets » — – "
    "e\u0301 a\u0308 n\u0303 ﬁ ﬂ Ⅻ ① ② ³ ¹ ٣ ٤ ５ ６ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 𐍈 𓀀"
).split()
EMOJI = "😀 😂 🤣 👍 👍🏽 👩🏾‍💻 👨‍👩‍👧‍👦 🇺🇸 🇯🇵 🏳️‍🌈 ❤️ ✨ 🎉 🔥 💯 🙏 🐍 🦀 ☕ ⚡ 🧪".split()
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0", "\u2003", "\u3000",
              "\u200b", "\x0b", "\x0c", "\u2028", "        ", "\n\n\n\n", "\t\t"]
CONTRACTIONS = ("don't I'm you're we've they'll he'd it's can't won't shouldn't y'all 'tis o'clock "
                "DON'T I'M YOU'RE It'S we'Ve don’t it’s rock'n'roll 's 't 're 've 'm 'll 'd ''").split()
PUNCT = list(".,;:!?()[]{}<>\"'`~@#$%^&*-_=+|\\/") + ["...", "--", "->", "=>", "!=", "==", "/**", "*/", "<|", "|>", "<|endoftext"]


def _code_snippets() -> list[str]:
    import json as _json
    import textwrap
    import string

    return [inspect.getsource(m) for m in (textwrap, string, _json.decoder)]


def _english_words(shared: Path) -> list[str]:
    g = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    words: list[str] = []
    for k in sorted(g)[:40]:
        words.extend(g[k]["articleBody"].split())
    return words


def make_varied_text(n_bytes: int, seed: int, shared: Path) -> str:
    """Deterministic text of at least `n_bytes` UTF-8 bytes mixing prose, code, numbers,
    contractions, unicode, emoji, random code points and whitespace runs."""
    rng = random.Random(seed)
    english = _english_words(shared)
    code = _code_snippets()
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        r = rng.random()
        if r < 0.02:  # a slice of real Python source, indentation and all
            src = rng.choice(code)
            start = rng.randrange(len(src))
            piece = src[start : start + rng.randint(50, 2000)]
        else:
            out = []
            for _ in range(rng.randint(20, 200)):
                x = rng.random()
                if x < 0.55:
                    out.append(rng.choice(english))
                elif x < 0.62:
                    out.append(rng.choice(UNICODE_WORDS))
                elif x < 0.66:
                    out.append(rng.choice(EMOJI) * rng.randint(1, 3))
                elif x < 0.72:
                    out.append(rng.choice(CONTRACTIONS))
                elif x < 0.80:
                    kind = rng.random()
                    if kind < 0.4:
                        out.append(str(rng.randint(0, 10 ** rng.randint(1, 15))))
                    elif kind < 0.7:
                        out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 6)}f}")
                    else:
                        out.append(f"{rng.randint(1, 31)}/{rng.randint(1, 12)}/{rng.randint(1900, 2030)}")
                elif x < 0.88:
                    out.append(rng.choice(PUNCT) * rng.randint(1, 3))
                elif x < 0.92:
                    # random code points from the whole range (surrogates excluded)
                    cps = []
                    for _ in range(rng.randint(1, 6)):
                        cp = rng.randint(0x20, 0x2FFFF)
                        while 0xD800 <= cp <= 0xDFFF:
                            cp = rng.randint(0x20, 0x2FFFF)
                        cps.append(chr(cp))
                    out.append("".join(cps))
                else:
                    out.append(rng.choice(WHITESPACE) * rng.randint(1, 4))
                out.append(rng.choice(WHITESPACE) if rng.random() < 0.15 else " ")
            piece = "".join(out)
        parts.append(piece)
        size += len(piece.encode("utf-8"))
    return "".join(parts)


@pytest.fixture(scope="session")
def varied_text(shared):
    cache: dict = {}

    def make(n_bytes: int, seed: int = 0) -> str:
        key = (n_bytes, seed)
        if key not in cache:
            cache[key] = make_varied_text(n_bytes, seed, shared)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def articles(shared) -> dict[str, list[str]]:
    """Real article bodies: {"train": [...], "dev": [...]} (the benchmark's own split)."""
    g = json.loads((shared / "data/extraction/ground-truth.json").read_text(encoding="utf-8"))
    split = json.loads((shared / "data/extraction/split.json").read_text(encoding="utf-8"))
    return {name: [g[i]["articleBody"] for i in ids] for name, ids in split.items()}


def write_shards(folder: Path, texts: list, n_files: int = 2, row_group_size: int = 7) -> Path:
    """Write `texts` as webtext-*.parquet shards (round-robin), small row groups to exercise them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        part = texts[i::n_files]
        table = pa.table({"url": [f"https://example.com/{i}/{j}" for j in range(len(part))], "text": pa.array(part, pa.string())})
        pq.write_table(table, folder / f"webtext-{i:05d}-of-{n_files:05d}.parquet", row_group_size=row_group_size)
    return folder


@pytest.fixture
def gpt2_dir(shared) -> Path:
    return shared / "data" / "gpt2"


@pytest.fixture(scope="session")
def tiktoken_gpt2(shared):
    """tiktoken's GPT-2 encoding, built offline from OpenAI's files (the recipe in shared/README)."""
    import os

    import tiktoken
    import tiktoken.load

    from webtext.tokenizer.encoder import GPT2_PATTERN

    d = shared / "data" / "gpt2"
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the files themselves, never a cache keyed by path
    try:
        ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(d / "vocab.bpe"), str(d / "encoder.json"))
    finally:
        if old is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = old
    return tiktoken.Encoding(
        name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257
    )
