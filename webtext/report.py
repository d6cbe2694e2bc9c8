"""Per-stage accounting: every input record is either kept or dropped with a reason.

Each stage keeps one `StageReport`. `read == kept + sum(dropped.values())` is the invariant the
stages and their tests check (`check()`), and a few examples of each drop reason are kept so a
user can see *what* was dropped, not only how much. Reports are written as JSON:

    {"stage": "harvest", "read": N, "kept": K, "dropped": {reason: count}, "samples": {reason: [...]}}
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SAMPLES_PER_REASON = 5


@dataclass
class StageReport:
    stage: str
    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    samples: dict[str, list] = field(default_factory=dict)

    def keep(self, n: int = 1) -> None:
        self.read += n
        self.kept += n

    def drop(self, reason: str, example=None, n: int = 1) -> None:
        """Count `n` records dropped for `reason`; keep `example` (a URL or id) among the first few."""
        self.read += n
        self.dropped[reason] += n
        if example is not None:
            bucket = self.samples.setdefault(reason, [])
            if len(bucket) < SAMPLES_PER_REASON:
                bucket.append(example)

    def merge(self, other: "StageReport") -> None:
        self.read += other.read
        self.kept += other.kept
        self.dropped.update(other.dropped)
        for reason, examples in other.samples.items():
            bucket = self.samples.setdefault(reason, [])
            bucket.extend(examples[: SAMPLES_PER_REASON - len(bucket)])

    def check(self) -> None:
        """Raise if a record went missing: read must equal kept plus every drop."""
        total = self.kept + sum(self.dropped.values())
        if total != self.read:
            raise AssertionError(f"{self.stage}: read {self.read} != kept {self.kept} + dropped {total - self.kept}")

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "read": self.read,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "samples": {k: v for k, v in sorted(self.samples.items())},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "StageReport":
        return cls(d["stage"], d["read"], d["kept"], Counter(d.get("dropped", {})), dict(d.get("samples", {})))

    def write(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write JSON to a temporary name in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    # backslashreplace: a lone surrogate (from a URL or text that was not valid UTF-8) is written
    # as its JSON escape, "\udc80", which reads back as the same string; strict UTF-8 would fail.
    with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
        json.dump(obj, f, indent=2, sort_keys=False, ensure_ascii=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
