"""`webtext publish`: upload a build's dataset to the Hugging Face Hub as a dataset repository.

    webtext publish --out webtext-out --repo my-org/webtext-2017
    webtext publish --out webtext-out --repo my-org/webtext-2017 --private --revision v1

What goes up is the dataset and nothing else: `README.md` (the dataset card, whose YAML `configs`
tells the Hub and `datasets.load_dataset("my-org/webtext-2017")` that the shards are the data),
`manifest.json`, the card's plots under `card/`, and the shards the manifest lists, each checked
against its sha256 first. Stage folders, dead letters, tokens and checkpoints stay home. Shards of an
earlier upload that this build no longer has (another shard count) are deleted in the same commit,
so the repository always holds one consistent shard set.

The upload is `huggingface_hub`'s `HfApi.upload_folder` (one commit; large files through the Hub's
LFS or Xet storage as the library decides). The token comes from `--token`, `HF_TOKEN` or
`huggingface-cli login`; `--endpoint` (or `HF_ENDPOINT`) points at another hub, e.g. a mirror.
The only network access of this command is to that hub.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from webtext.card import CARD
from webtext.errors import ConfigError, InputError, WebtextError


def publish_files(out_dir: str | os.PathLike) -> list[str]:
    """Paths (relative to `out_dir`) that make up the published dataset, after checking the shards."""
    from webtext.shards import MANIFEST, read_manifest, sha256_file

    out = Path(out_dir)
    manifest = read_manifest(out)
    if not (out / CARD).is_file():
        raise InputError(f"no {CARD} dataset card beside the manifest: rebuild the shards with this version", path=str(out))
    files = [CARD, MANIFEST]
    files += sorted(str(p.relative_to(out)) for p in (out / "card").glob("*.png"))
    for info in manifest["shards"]:
        path = out / info["file"]
        if not path.is_file():
            raise InputError("shard listed in the manifest is missing", path=str(path))
        if sha256_file(path) != info["sha256"]:
            raise InputError("shard does not match its sha256 in the manifest", path=str(path))
        files.append(info["file"])
    return files


def publish(out_dir: str | os.PathLike, repo_id: str, *, token: str | None = None, private: bool = False,
            revision: str | None = None, endpoint: str | None = None, message: str | None = None) -> str:
    """Create (if needed) the dataset repo `repo_id` and upload the dataset in one commit; returns its URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from webtext.card import shards_glob
    from webtext.shards import read_manifest

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"--repo must be ORG/NAME (or USER/NAME), not {repo_id!r}")
    out = Path(out_dir)
    files = publish_files(out)
    manifest = read_manifest(out)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        api.upload_folder(
            folder_path=str(out), repo_id=repo_id, repo_type="dataset", revision=revision,
            allow_patterns=files,
            delete_patterns=[shards_glob(manifest)],  # stale shards of an earlier upload (kept when re-added)
            commit_message=message or f"webtext: {manifest['totals']['documents']:,} documents in "
                                      f"{manifest['totals']['shards']} shard(s)",
        )
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WebtextError(f"the hub refused the upload to {repo_id} (HTTP {status}): {first}") from None
    except OSError as exc:  # connection refused, DNS, TLS: one line, not a traceback
        raise WebtextError(f"cannot reach the hub at {endpoint or 'huggingface.co'}: {exc}") from None
    return str(repo)


def _cmd(args: argparse.Namespace) -> int:
    from webtext.progress import log

    url = publish(args.out, args.repo, token=args.token, private=args.private, revision=args.revision,
                  endpoint=args.endpoint, message=args.message)
    log("publish", f"uploaded {args.out} to {args.repo}")
    print(url)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="upload the shards, dataset card and manifest to a Hugging Face Hub dataset repository",
        description=__doc__.split("\n\n")[0] + " " + " ".join(__doc__.split("\n\n")[2].split()),
        epilog="examples:\n  webtext publish --out webtext-out --repo my-org/webtext-2017\n"
               "  webtext publish --out webtext-out --repo my-org/webtext-2017 --private --revision v1",
    )
    p.add_argument("--out", default="webtext-out", help="the build folder: manifest.json, README.md, shards (default: ./webtext-out)")
    p.add_argument("--repo", required=True, metavar="ORG/NAME", help="the dataset repository; created when missing")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", default=None, help="branch to commit to, created when missing (default: main)")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the one saved by `huggingface-cli login`)")
    p.add_argument("--endpoint", default=None, help="another hub's URL (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--message", default=None, help="commit message (default: the document and shard counts)")
    p.set_defaults(func=_cmd)
