"""Token files for training: `train.bin` / `val.bin` read through memmap, with a resumable position.

The tokenize stage writes a folder with `train.bin` and `val.bin` (flat arrays of uint16 token ids,
`<|endoftext|>` after each document) and `meta.json` (at least the vocabulary size; see
`read_meta`). Nothing is loaded into RAM: `np.memmap` lets the OS page in the windows we touch.

How batches are drawn (the rule a resumed run relies on):

- The training stream of N tokens is cut into W = (N - 1) // T windows of T + 1 tokens, window i
  starting at token i * T (inputs are tokens [iT, iT+T), targets the same shifted by one). Every
  token is seen once per epoch.
- Each epoch visits the windows in a permutation drawn from `np.random.default_rng([seed, epoch])`,
  so the order is a pure function of (seed, epoch) and never depends on how many processes ran
  before.
- A global batch is `batch_size * world_size` consecutive entries of the permutation; rank r takes
  the r-th block of `batch_size`. The whole state is `(epoch, cursor)`: `state_dict()` saves it and
  `load_state_dict()` puts the loader back exactly where it was. When fewer than a global batch of
  windows are left in an epoch, those are skipped and the next epoch starts (written rule, so all
  ranks agree).

With `prefetch=True` a background thread reads, checks and copies the next batch to the device
while the current step computes (a batch is a few memmap reads, an int64 conversion and a pinned
host-to-device copy: work that otherwise sits between two steps, after the step's loss sync). The
batches and the saved position are exactly those without it: the position is the one after the
last batch *returned*, and a prefetched batch that is not the next one (after `load_state_dict`)
is dropped.

Validation reads `val.bin` in order, from the start, so every evaluation sees the same tokens and
val losses of different checkpoints are comparable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from webtext.errors import ConfigError, InputError

DEFAULT_VOCAB_SIZE = 50257  # GPT-2's


def read_meta(data_dir: str | Path) -> dict:
    """`meta.json` of a token folder, with defaults filled in.

    Recognised keys: `vocab_size` (or `n_vocab`), `dtype` (only uint16 is accepted: token ids must fit
    in 16 bits), `eot_token` / `eot_id`, `tokenizer` (a folder with encoder.json + vocab.bpe).
    A missing meta.json means GPT-2's tokenizer and uint16.
    """
    data_dir = Path(data_dir)
    path = data_dir / "meta.json"
    meta: dict = {}
    if path.exists():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"not a readable JSON file: {exc}", path=str(path)) from None
        if not isinstance(meta, dict):
            raise InputError("expected a JSON object", path=str(path))
    vocab = meta.get("vocab_size", meta.get("n_vocab", DEFAULT_VOCAB_SIZE))
    dtype = str(meta.get("dtype", "uint16"))
    if dtype != "uint16":
        raise InputError(f"token dtype {dtype!r} is not supported (uint16 only)", path=str(path))
    if not isinstance(vocab, int) or not 0 < vocab <= 65536:
        raise InputError(f"vocab_size {vocab!r} must be an integer in 1..65536 for uint16 tokens", path=str(path))
    out = dict(meta)
    out["vocab_size"] = vocab
    out["dtype"] = dtype
    tok = meta.get("tokenizer") or meta.get("tokenizer_dir")
    if tok:
        tok_path = Path(tok)
        out["tokenizer"] = str(tok_path if tok_path.is_absolute() else (data_dir / tok_path).resolve())
    return out


def open_tokens(path: str | Path) -> np.memmap:
    path = Path(path)
    if not path.exists():
        raise InputError("token file not found (expected train.bin and val.bin from `webtext tokenize`)", path=str(path))
    size = path.stat().st_size
    if size % 2:
        raise InputError(f"size {size} bytes is odd: not a uint16 token file (truncated?)", path=str(path))
    if size < 4:
        raise InputError("token file is empty", path=str(path))
    return np.memmap(path, dtype=np.uint16, mode="r")


class TokenData:
    """Batches of (inputs, targets) from a token folder; see the module docstring for the rules."""

    def __init__(
        self,
        data_dir: str | Path,
        batch_size: int,
        block_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 1337,
        device: str | torch.device = "cpu",
        prefetch: bool = False,
    ):
        self.data_dir = Path(data_dir)
        self.meta = read_meta(self.data_dir)
        self.B, self.T = batch_size, block_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.device = torch.device(device)
        self.train = open_tokens(self.data_dir / "train.bin")
        self.val = open_tokens(self.data_dir / "val.bin")
        self.n_windows = (len(self.train) - 1) // self.T
        if self.n_windows < self.B * self.world_size:
            raise InputError(
                f"{len(self.train):,} tokens make {self.n_windows} windows of {self.T + 1}; a batch needs "
                f"{self.B * self.world_size}: use a smaller --batch-size or --block-size",
                path=str(self.data_dir / "train.bin"),
            )
        if len(self.val) < self.T + 1:
            raise InputError(f"{len(self.val)} tokens, fewer than one window of {self.T + 1}", path=str(self.data_dir / "val.bin"))
        self.vocab_limit = self.meta["vocab_size"]  # ids at or above this would index past the embedding
        self.epoch = 0
        self.cursor = 0
        self._perms: dict[int, np.ndarray] = {}
        self._pool = None
        self._pending = None  # (starts of the prefetched batch, its future)
        if prefetch:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webtext-prefetch")

    # -- the resumable position -------------------------------------------------------------
    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:  # the current epoch's and, when prefetching across, the next one's
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
        return self._perms[epoch]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed, "n_windows": self.n_windows,
                "global_batch": self.B * self.world_size}

    def load_state_dict(self, state: dict) -> None:
        if state.get("n_windows") != self.n_windows or state.get("seed") != self.seed:
            raise ConfigError(
                f"the checkpoint's data position was for {state.get('n_windows')} windows (seed {state.get('seed')}), "
                f"these token files give {self.n_windows} (seed {self.seed}): resume with the same --data and --block-size"
            )
        if state.get("global_batch") != self.B * self.world_size:
            raise ConfigError(
                f"the checkpoint was written with a global micro-batch of {state.get('global_batch')} sequences, "
                f"this run has {self.B * self.world_size}: resume with the same --batch-size and number of processes"
            )
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._pending = None

    # -- batches --------------------------------------------------------------------------------
    def _to_device(self, windows: np.ndarray):
        x = torch.from_numpy(windows[:, :-1].astype(np.int64))
        y = torch.from_numpy(windows[:, 1:].astype(np.int64))
        if self.device.type == "cuda":
            # pinned host memory lets the copy overlap with the previous step's compute
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(self.device, non_blocking=True)
        return x.to(self.device), y.to(self.device)

    def _plan(self, epoch: int, cursor: int) -> tuple[np.ndarray, int, int]:
        """(sorted window starts of this rank's next batch, epoch and cursor after it)."""
        gb = self.B * self.world_size
        if cursor + gb > self.n_windows:
            epoch, cursor = epoch + 1, 0
        ids = self._permutation(epoch)[cursor + self.rank * self.B : cursor + (self.rank + 1) * self.B]
        # sorted reads touch the memmap in file order; the batch order inside a step does not matter
        return np.sort(ids) * self.T, epoch, cursor + gb

    def _load(self, starts: np.ndarray):
        windows = np.stack([self.train[s : s + self.T + 1] for s in starts])
        self._check_ids(windows, "train.bin", starts)
        return self._to_device(windows)

    def next_batch(self):
        """This rank's next (x, y), each (B, T) int64 on the device."""
        starts, self.epoch, self.cursor = self._plan(self.epoch, self.cursor)
        if self._pool is None:
            return self._load(starts)
        pending, self._pending = self._pending, None
        batch = pending[1].result() if pending is not None and np.array_equal(pending[0], starts) else self._load(starts)
        nxt, _, _ = self._plan(self.epoch, self.cursor)
        self._pending = (nxt, self._pool.submit(self._load, nxt))
        return batch

    def _check_ids(self, windows: np.ndarray, name: str, starts) -> None:
        # cheap (B x T uint16) and it turns a CUDA device-side assert into a clear message
        if int(windows.max()) >= self.vocab_limit:
            row = int(np.argmax(windows.max(axis=1)))
            col = int(np.argmax(windows[row]))
            raise InputError(f"token id {int(windows[row, col])} >= vocab_size {self.vocab_limit} (meta.json)",
                             path=str(self.data_dir / name), position=f"token {int(starts[row]) + col}")

    def val_batches(self, max_batches: int | None = None):
        """Validation batches in file order: this rank takes every world_size-th batch."""
        n_win = (len(self.val) - 1) // self.T
        n_batches = n_win // self.B
        if n_batches == 0:  # fewer windows than one batch: evaluate one smaller batch
            sizes = [(0, n_win)] if self.rank == 0 else []
        else:
            sizes = [(b * self.B, self.B) for b in range(n_batches)]
            if max_batches is not None:
                sizes = sizes[: max_batches * self.world_size]
            sizes = sizes[self.rank :: self.world_size]
        for first, count in sizes:
            starts = [(first + i) * self.T for i in range(count)]
            windows = np.stack([self.val[s : s + self.T + 1] for s in starts])
            self._check_ids(windows, "val.bin", starts)
            yield self._to_device(windows)
