"""A Bloom filter of normalised word n-grams, as the GPT-2 paper used for its train/test overlap (§4).

Normalisation (the paper's): lower-case the text and keep only its alphanumeric words (runs of
Unicode letters and digits; everything else, punctuation included, separates words), joined by
single spaces. "Hello,  World!" and "hello world" are the same two words. An n-gram is n consecutive
words of one document (n-grams never cross documents).

Hashing: each distinct word gets 128 bits from BLAKE2b (cached per process). An n-gram's two 64-bit
hashes are polynomial hashes of its words' two halves (different odd bases, arithmetic mod 2**64,
vectorised with numpy), finished by MurmurHash3's 64-bit finaliser. The k bit positions are
`(h1 + i * h2) mod m`, i = 0..k-1 (Kirsch & Mitzenmacher's double hashing). Everything is fixed by
the bytes of the words, so a filter saved on one machine is queried the same way on another.

Size: for `n` inserted n-grams and a target false-positive rate p, m = ceil(-n ln p / (ln 2)**2) bits
and k = round(m/n ln 2); the FP rate is then (1 - e**(-k n/m))**k <= p. `n` is the number of n-gram
*occurrences*, an upper bound on the distinct ones, so the bound holds; `fill_fp_rate()` gives the rate
estimated from the bits actually set (fill**k), which is lower when the corpus repeats itself.

Bit setting never loses a bit to duplicate indices: positions are set in 8 passes, one per bit of
the byte, so every write in a pass ORs the same mask (numpy's fancy assignment keeps one of several
writes to the same byte, which is then the right one).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path

import numpy as np

# MurmurHash3's 64-bit finaliser, vectorised (the MinHash stage's; one copy in the project)
from webtext.dedup.minhash import fmix64 as _mix

WORD_RE = re.compile(r"[^\W_]+")  # Unicode letters and digits; "_" is a \w but not alphanumeric
_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_MASK64 = (1 << 64) - 1


def normalise(text: str) -> list[str]:
    """The paper's normalisation: lower-cased alphanumeric words (join with " " for the text form)."""
    return WORD_RE.findall(text.lower())


def count_ngrams(text: str, n: int) -> int:
    return max(len(normalise(text)) - n + 1, 0)


class WordHasher:
    """128-bit word hashes, cached (the cache is cleared when it passes `max_words` entries)."""

    def __init__(self, max_words: int = 2_000_000):
        self.cache: dict[str, tuple[int, int]] = {}
        self.max_words = max_words

    def _hash(self, word: str) -> tuple[int, int]:
        d = hashlib.blake2b(word.encode("utf-8"), digest_size=16).digest()
        return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")

    def words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        cache = self.cache
        if len(cache) > self.max_words:
            cache.clear()
        pairs = []
        for w in words:
            h = cache.get(w)
            if h is None:
                h = cache[w] = self._hash(w)
            pairs.append(h)
        if not pairs:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        a = np.array(pairs, dtype=np.uint64)
        return a[:, 0].copy(), a[:, 1].copy()


def ngram_hashes(words: list[str], n: int, hasher: WordHasher) -> tuple[np.ndarray, np.ndarray]:
    """(h1, h2): two uint64 hashes of each of the len(words)-n+1 n-grams, in order."""
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    w1, w2 = hasher.words(words)
    a = np.zeros(count, np.uint64)
    b = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            a = a * _P1 + w1[j : j + count]
            b = b * _P2 + w2[j : j + count]
        return _mix(a), _mix(b) | np.uint64(1)


def optimal_size(n_items: int, fp_rate: float) -> tuple[int, int]:
    """(bits m, hashes k) for `n_items` at `fp_rate` (m rounded up to a whole number of 64-bit words)."""
    if not 0 < fp_rate < 1:
        raise ValueError(f"fp_rate must be in (0, 1), got {fp_rate}")
    n = max(n_items, 1)
    m = math.ceil(-n * math.log(fp_rate) / math.log(2) ** 2)
    m = max(64, (m + 63) // 64 * 64)
    while True:
        # k must be whole: take the better of floor/ceil of the optimum, and grow m by 0.1% until
        # the bound holds (the textbook m assumes the real-valued k)
        best = min(max(1, math.floor(m / n * math.log(2))), max(1, math.ceil(m / n * math.log(2))),
                   key=lambda k: fp_bound(m, k, n))
        if fp_bound(m, best, n) <= fp_rate:
            return m, best
        m = (int(m * 1.001) + 64) // 64 * 64


def fp_bound(m: int, k: int, n_items: int) -> float:
    return (1.0 - math.exp(-k * n_items / m)) ** k


class BloomFilter:
    def __init__(self, m: int, k: int, bits: np.ndarray | None = None):
        self.m, self.k = int(m), int(k)
        self.bits = bits if bits is not None else np.zeros(self.m // 8, np.uint8)
        self._m64 = np.uint64(self.m)

    @classmethod
    def for_items(cls, n_items: int, fp_rate: float) -> "BloomFilter":
        return cls(*optimal_size(n_items, fp_rate))

    def _positions(self, h1: np.ndarray, h2: np.ndarray, i: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (h1 + np.uint64(i) * h2) % self._m64

    def add(self, h1: np.ndarray, h2: np.ndarray) -> None:
        for i in range(self.k):
            pos = self._positions(h1, h2, i)
            byte, bit = pos >> np.uint64(3), (pos & np.uint64(7)).astype(np.uint8)
            for j in range(8):
                sel = byte[bit == j]
                if sel.size:
                    self.bits[sel] |= np.uint8(1 << j)

    def contains(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        found = np.ones(h1.shape[0], dtype=bool)
        for i in range(self.k):
            pos = self._positions(h1, h2, i)
            found &= ((self.bits[pos >> np.uint64(3)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)
        return found

    def fill(self) -> float:
        """Share of bits set (counted in 64 MiB slices: bounded memory)."""
        table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
        total = 0
        for start in range(0, self.bits.shape[0], 1 << 26):
            total += int(table[self.bits[start : start + (1 << 26)]].sum(dtype=np.uint64))
        return total / self.m

    def fill_fp_rate(self) -> float:
        """FP rate estimated from the bits actually set: fill ** k."""
        return self.fill() ** self.k

    # ---- file: the raw bit array (its parameters live in the overlap folder's params.json)
    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(self.bits.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, m: int, k: int) -> "BloomFilter":
        bits = np.memmap(path, dtype=np.uint8, mode="r")
        if bits.shape[0] * 8 != m:
            from webtext.errors import InputError

            raise InputError(f"filter file has {bits.shape[0] * 8} bits, its parameters say {m}", path=str(path))
        return cls(m, k, bits)
