"""MinHash signatures over word 5-gram shingles, and LSH band keys.

Text normalisation (`normalize_text`): Unicode case folding, then the `\\w+` words joined by single
spaces. Punctuation, markup leftovers and whitespace differences therefore never make two texts
differ. The exact-text key (`exact.text_key`) hashes this same string.

Shingles (`shingles`): every run of `n` consecutive normalised words (default 5), as UTF-8 bytes
joined by one space. A text with fewer than `n` words (but at least one) is one shingle; a text with
no words has no shingles, an empty signature, and no band keys (it is never a near-duplicate of
anything; identical empty texts are still caught by the exact-text step).

Signatures are bit-identical to datasketch's `MinHash(num_perm, seed)` (datasketch >= 2.0, its
default "affine32" scheme) after `update_batch(shingles(text))`; `tests/clean/test_dedup.py` checks
it. What datasketch does per shingle: `h = sha1(shingle)[:4]` little-endian, the 32-bit MurmurHash3
finalizer `fmix32(h)`, then `a_k * h + b_k mod 2**32` for each permutation `k`, and the minimum over
shingles. The permutation parameters are taken from datasketch itself (`MinHash(num_perm,
seed).permutations`), so an upgrade that changed them would change both sides alike.

Why not call datasketch per document: its `update_batch` hashes through a Python list of ints and
allocates per call. Here the shingle bytes are sliced out of one encoded buffer and hashed in one
list comprehension, and the permutations run as one uint32 `(shingles x num_perm)` product in a
reused buffer with a column minimum. Two shingle hashes are offered (`hash=`):

- `"sha1"` (default): datasketch's default `sha1_hash32`; interoperates with any datasketch MinHash
  or MinHashLSH built with defaults. SHA-1 per shingle is most of the cost.
- `"poly"`: a 64-bit polynomial hash finalised with fmix64 (`shingle_hash`), computed for all the
  shingles of a text at once with numpy prefix sums; about 2.3x faster. Equal, bit for bit, to
  datasketch's `MinHash(num_perm, seed, hashfunc=shingle_hash)`.

`benchmarks/dedup_speed.py` prints the rates of both next to plain per-document datasketch use.

Band keys (`band_keys`): the signature split into `bands` runs of `rows` values; a key is the band
number (2 bytes) followed by that run of values (big-endian uint32). Two documents share a key only
if they agree on every row of that band; the probability of at least one shared band for Jaccard
similarity `s` is the S-curve `1 - (1 - s**rows)**bands` (`candidate_probability`). `lsh_params`
picks `(bands, rows)` for a threshold the way datasketch's MinHashLSH does (minimising the weighted
false-positive and false-negative areas under that curve).
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")
_U32 = np.uint32
_MAX = np.uint32(0xFFFFFFFF)  # datasketch's "empty" value for affine32
# At most this many (shingle x permutation) products at once: 8M uint32 = 32 MB per temporary.
_CHUNK_ELEMENTS = 8_000_000


def normalize_text(text: str) -> str:
    """Case-folded `\\w+` words joined by single spaces: the text that shingles and text keys see."""
    return " ".join(_WORD.findall(text.casefold()))


def _shingle_spans(norm: bytes, n: int) -> tuple[list[int], list[int]]:
    """Start and end offsets in `norm` (normalised UTF-8, single spaces) of every word n-gram."""
    if not norm:
        return [], []
    spaces = np.flatnonzero(np.frombuffer(norm, dtype=np.uint8) == 32)
    n_words = len(spaces) + 1
    if n_words < n:
        return [0], [len(norm)]
    starts = np.concatenate(([0], spaces + 1))[: n_words - n + 1]
    ends = np.concatenate((spaces, [len(norm)]))[n - 1 :]
    return starts.tolist(), ends.tolist()


def shingles(text: str, n: int = 5) -> set[bytes]:
    """The set of word `n`-gram shingles of `text` (normalised), as UTF-8 bytes."""
    norm = normalize_text(text).encode("utf-8")
    starts, ends = _shingle_spans(norm, n)
    return {norm[s:e] for s, e in zip(starts, ends)}


def shingle_hashes_sha1(text: str, n: int = 5) -> np.ndarray:
    """datasketch's default `sha1_hash32` of every shingle (repeats included: they cannot change a
    minimum). About 0.5 us per shingle: the slow part of a signature, kept for interoperability."""
    norm = normalize_text(text).encode("utf-8")
    starts, ends = _shingle_spans(norm, n)
    sha1 = hashlib.sha1
    digest4 = b"".join([sha1(norm[s:e]).digest()[:4] for s, e in zip(starts, ends)])
    return np.frombuffer(digest4, dtype="<u4").astype(_U32)


# The polynomial shingle hash: h(s) = fmix64(sum_j s[j] * P**j + len(s) mod 2**64) >> 32.
# Over one text it vectorises with prefix sums: Q[i] = sum_{j<i} t[j] * P**j, and the shingle
# t[s:e] hashes as (Q[e] - Q[s]) * P**-s (P is odd, so it has an inverse mod 2**64).
_P = 0x9E3779B97F4A7C15  # odd: invertible mod 2**64
_P_INV = pow(_P, -1, 1 << 64)
_M64 = (1 << 64) - 1
_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """`(P**i, P**-i) mod 2**64` for i < length (grown by doubling, shared across calls)."""
    global _powers
    if len(_powers[0]) < length:
        size = 1 << max(12, (length - 1).bit_length())
        tables = []
        for base in (_P, _P_INV):
            t = np.full(size, base, dtype=np.uint64)
            t[0] = 1
            tables.append(np.cumprod(t, dtype=np.uint64))  # uint64 products wrap: mod 2**64
        _powers = (tables[0], tables[1])
    return _powers


def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit hash of one shingle; pass it to datasketch as `MinHash(hashfunc=shingle_hash)`.

    Reference (scalar) form of what `shingle_hashes` computes for a whole text at once."""
    x = 0
    for byte in reversed(shingle):  # Horner: sum_j s[j] * P**j
        x = (x * _P + byte) & _M64
    x = (x + len(shingle)) & _M64
    return int(fmix64(np.array([x], dtype=np.uint64))[0] >> np.uint64(32))


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """`shingle_hash` of every shingle of `text`, vectorised over the text (repeats included)."""
    norm = normalize_text(text).encode("utf-8")
    if not norm:
        return np.empty(0, dtype=_U32)
    data = np.frombuffer(norm, dtype=np.uint8)
    spaces = np.flatnonzero(data == 32)
    n_words = len(spaces) + 1
    if n_words < n:
        starts, ends = np.zeros(1, np.int64), np.array([len(norm)], np.int64)
    else:
        starts = np.concatenate(([0], spaces + 1))[: n_words - n + 1]
        ends = np.concatenate((spaces, [len(norm)]))[n - 1 :]
    pw, pinv = _power_tables(len(norm) + 1)
    prefix = np.zeros(len(norm) + 1, dtype=np.uint64)
    np.cumsum(data * pw[: len(norm)], out=prefix[1:])
    h = (prefix[ends] - prefix[starts]) * pinv[starts] + (ends - starts).astype(np.uint64)
    return (fmix64(h) >> np.uint64(32)).astype(_U32)


HASHES = {"poly": shingle_hashes, "sha1": shingle_hashes_sha1}


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own affine32 permutation parameters `(a, b)` for this num_perm and seed."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    a, b = np.ascontiguousarray(a, dtype=_U32), np.ascontiguousarray(b, dtype=_U32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, exactly as datasketch applies it before permuting."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def signatures_from_hashes(hashes: Sequence[np.ndarray], num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signatures (one uint32 row per document) from each document's shingle hashes.

    The permutations of one document are one `(shingles x num_perm)` uint32 product written into a
    reused buffer, then a column minimum: measured 5x faster than one `np.minimum.reduceat` over
    many documents (a strided reduction)."""
    a, b = permutations(num_perm, seed)
    out = np.full((len(hashes), num_perm), _MAX, dtype=_U32)
    longest = max((len(h) for h in hashes), default=0)
    buf = np.empty((min(longest, max(1, _CHUNK_ELEMENTS // num_perm)), num_perm), dtype=_U32)
    for i, h in enumerate(hashes):
        if not len(h):
            continue  # no shingles: keep datasketch's all-max "empty" signature
        h = _fmix32(np.asarray(h, dtype=_U32))
        for start in range(0, len(h), len(buf)):  # very long documents go through in slices
            part = h[start : start + len(buf)]
            products = buf[: len(part)]
            np.multiply(part[:, None], a, out=products)  # uint32 arithmetic wraps: the mod 2**32
            products += b
            np.minimum(out[i], products.min(axis=0), out=out[i])
    return out


def signatures(texts: Sequence[str], num_perm: int = 128, seed: int = 1, n: int = 5, hash: str = "sha1") -> np.ndarray:
    """MinHash signatures of many texts, shape `(len(texts), num_perm)`, dtype uint32.

    `hash="sha1"` (the default) equals datasketch's default `MinHash(num_perm, seed)`;
    `hash="poly"` (about 2.3x faster) equals `MinHash(num_perm, seed, hashfunc=shingle_hash)`."""
    try:
        hash_text = HASHES[hash]
    except KeyError:
        raise ValueError(f"hash must be one of {sorted(HASHES)}, got {hash!r}") from None
    return signatures_from_hashes([hash_text(t, n) for t in texts], num_perm, seed)


def signature(text: str, num_perm: int = 128, seed: int = 1, n: int = 5, hash: str = "sha1") -> np.ndarray:
    """The MinHash signature of one text: datasketch's `MinHash(num_perm, seed, hashfunc=...)
    .hashvalues` after `update_batch(shingles(text, n))` (see `signatures` for `hash`)."""
    return signatures([text], num_perm, seed, n, hash)[0]


def is_empty(sig: np.ndarray) -> bool:
    """True for the signature of a text without shingles."""
    return bool(np.all(sig == _MAX))


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of positions where two signatures agree."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: band number (2 bytes, big-endian) + that band's `rows` values (big-endian).

    Empty signatures (no shingles) get no keys. `bands * rows` may be less than the signature length;
    the extra values are then unused by LSH (they still count in `jaccard`)."""
    if bands * rows > len(sig):
        raise ValueError(f"bands*rows = {bands}*{rows} exceeds the signature length {len(sig)}")
    if bands >= 1 << 16:
        raise ValueError(f"at most {1 << 16 - 1} bands")
    if is_empty(sig):
        return []
    body = np.asarray(sig[: bands * rows], dtype=">u4").tobytes()
    width = 4 * rows
    return [struct.pack(">H", i) + body[i * width : (i + 1) * width] for i in range(bands)]


def candidate_probability(s: float | np.ndarray, bands: int, rows: int):
    """The LSH S-curve: the probability that two documents of Jaccard `s` share at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** rows) ** bands


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """`(bands, rows)` with `bands * rows <= num_perm` minimising
    `fp_weight * P(candidate | s < threshold) + fn_weight * P(missed | s >= threshold)`
    integrated over `s` (datasketch MinHashLSH's rule, with a fixed 2,001-point trapezoid)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    grid = np.linspace(0.0, 1.0, 2001)
    below, above = grid <= threshold, grid >= threshold
    best, best_err = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = candidate_probability(grid, bands, rows)
            fp = np.trapezoid(p[below], grid[below])
            fn = np.trapezoid(1.0 - p[above], grid[above])
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-15:
                best, best_err = (bands, rows), err
    return best
