"""The README's commands run as written (issue 15, points 1 and 10).

Every ```bash block of README.md is run, top to bottom, in one scratch copy of the clone (the
tracked files and a link to the installed .venv), with `../shared` beside it as in CI; a ```toml
block whose first line is `# NAME` is written to NAME first. A line marked `# needs: REASON`
(network, GPU, Docker, credentials, or `make test` itself) is not run and is reported as skipped with
its reason. This includes the sample-to-model path: make sample -> tokenizer -> tokenize -> train ->
sample, with the defaults.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def readme_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def split_commands(block: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(commands to run, [(command, reason)] skipped)."""
    run, skipped = [], []
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.search(r"\s#\s*needs:\s*(.+)$", line)
        if m:
            skipped.append((line[: m.start()].strip(), m.group(1).strip()))
        else:
            run.append(line)
    return run, skipped


def test_every_block_is_parsed_and_every_skip_has_a_reason():
    blocks = readme_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    bash = [b for lang, b in blocks if lang == "bash"]
    assert len(bash) >= 4
    commands = [c for b in bash for c in split_commands(b)[0]]
    skipped = [s for b in bash for s in split_commands(b)[1]]
    assert "make sample" in commands and any(c.startswith("webtext train ") for c in commands)
    assert all(reason for _, reason in skipped)
    assert any(c.startswith("make test") for c, _ in skipped)  # the suite does not run itself


@pytest.fixture(scope="module")
def scratch_clone(tmp_path_factory, shared):
    """A copy of the clone's tracked files, its .venv linked in, `../shared` beside it."""
    root = tmp_path_factory.mktemp("readme")
    clone = root / "clone"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    (clone / ".venv").symlink_to(REPO / ".venv")
    (root / "shared").symlink_to(shared.resolve())
    return clone


def test_readme_commands_run_as_written(scratch_clone):
    clone = scratch_clone
    installed = REPO / ".venv" / ".installed"
    if not installed.exists():
        pytest.skip(".venv was not made by `make install` (no .venv/.installed): `make sample` would reinstall")
    # the copy's install inputs are not newer than the linked .venv's stamp, so make reuses it as in the clone
    stamp = installed.stat().st_mtime
    for name in ("pyproject.toml", "constraints.txt", "scripts/install.sh", "Makefile"):
        os.utime(clone / name, (stamp - 1, stamp - 1))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "WEBTEXT_PROGRESS")}
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")
    env.setdefault("WEBTEXT_QUIET", "1")
    # one shell session read top to bottom, as a reader would type it (`source .venv/bin/activate` holds)
    script, skipped = ["set -euo pipefail"], []
    for lang, block in readme_blocks((clone / "README.md").read_text(encoding="utf-8")):
        if lang == "toml":
            first = block.splitlines()[0]
            assert first.startswith("# "), f"a toml block must name its file on its first line: {first!r}"
            script.append(f"cat > {first[2:].strip()} <<'README_TOML'\n{block}README_TOML")
        elif lang == "bash":
            commands, skip = split_commands(block)
            skipped += skip
            script += [f"echo {shlex.quote('+ ' + c)} >&2\n{c}" for c in commands]
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"a README command failed (the last '+' line):\n{proc.stderr[-4000:]}"
    assert "The city" in proc.stdout  # `webtext sample` printed its prompt and continuation

    # the sample-to-model path did what it says
    import json

    meta = json.loads((clone / "webtext-out" / "tokens" / "meta.json").read_text())
    assert meta["documents_val"] >= 1 and meta["tokens_val"] >= meta["min_val_tokens"]
    log = [json.loads(line) for line in (clone / "webtext-out" / "gpt2-tiny" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("type") == "eval" for r in log)
    manifest = json.loads((clone / "webtext-out" / "manifest.json").read_text())  # rewritten by `build --config`
    assert manifest["config"]["workers"] == 2 and manifest["config"]["dedup_options"] == {"threshold": 0.6}
    same = json.loads((clone / "out" / "shards" / "manifest.json").read_text())
    assert same["totals"]["documents"] == 9  # the stage-by-stage path gives make sample's corpus
    print("skipped README commands:", *(f"{c}  [{r}]" for c, r in skipped), sep="\n  ")
    assert len(skipped) >= 5
