"""The output folder is a Hugging Face dataset as written (issue 15, points 2 and 3).

`datasets.load_dataset(OUT)` runs for real, offline (HF_HUB_OFFLINE=1 from tests/conftest.py), on a
folder laid out like a build's: shards under shards/, manifest.json, the card and its PNGs, and the
stage folders with their own Parquet and JSON files, which must not be read as data.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from webtext.card import write_card
from webtext.report import StageReport
from webtext.shards import DOCUMENT_COLUMNS, write_documents, write_manifest, write_shards

pytest.importorskip("datasets")


@pytest.fixture
def build_folder(tmp_path, gold, make_doc):
    docs = [make_doc(f"http://site{i % 3}.example/{i}", text, created=1_120_000_000 + 3600 * i)
            for i, (_, text) in enumerate(gold[:12])]
    out = tmp_path / "out"
    infos = write_shards(docs, out / "shards", target_bytes=20_000)
    for info in infos:
        info["file"] = f"shards/{info['file']}"
    report = StageReport("shards")
    report.keep(len(docs))
    manifest = write_manifest(out, config={"until": "2017-12"}, reports=[report], shards=infos)
    write_card(out, manifest)
    # what else a build leaves in OUT: stage outputs (other Parquet schemas), JSON, dead letters
    write_documents([make_doc("http://stage.example/x", "a stage's own row " * 40)], out / "stages" / "dedup" / "data")
    (out / "stages" / "dedup" / "_SUCCESS.json").write_text(json.dumps({"stage": "dedup"}))
    (out / "dead_letter").mkdir()
    (out / "dead_letter" / "x.jsonl").write_text('{"oops": 1}\n')
    return out, docs, manifest


def test_load_dataset_reads_exactly_the_shards(build_folder):
    import datasets

    out, docs, manifest = build_folder
    assert len(manifest["shards"]) >= 2
    ds = datasets.load_dataset(str(out), cache_dir=str(out.parent / "hf-cache"))  # a fresh cache: no stale reuse
    assert list(ds) == ["train"]
    train = ds["train"]
    assert train.num_rows == len(docs) == manifest["totals"]["documents"]
    shard_columns = pq.read_schema(out / manifest["shards"][0]["file"]).names
    assert train.column_names == shard_columns
    assert shard_columns[:15] == [name for name, _, _ in DOCUMENT_COLUMNS][:15]
    assert sorted(train["url"]) == sorted(d["url"] for d in docs)
    assert str(train.features["first_created_utc"].dtype) == "timestamp[ms, tz=UTC]"
    row = next(r for r in train if r["url"] == docs[5]["url"])
    assert row["first_created_utc"] == datetime.fromtimestamp(docs[5]["first_created_utc"], tz=timezone.utc)
    assert "http://stage.example/x" not in train["url"]  # the stage folders' Parquet is not data


def test_card_front_matter(build_folder):
    from huggingface_hub import DatasetCard

    out, docs, _ = build_folder
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "shards/webtext-*.parquet"}]}]
    assert meta["license"] == "other" and meta["license_name"]
    assert meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"]
    card = DatasetCard.load(out / "README.md")  # huggingface_hub's own parser agrees
    assert card.data.configs == meta["configs"] and card.data.license == "other"
    # the plots are referenced from the card, and not matched by the data files
    assert "](card/lengths.png)" in text and (out / "card" / "lengths.png").is_file()


def test_timestamps_and_field_descriptions(build_folder):
    out, _, manifest = build_folder
    schema = pq.read_schema(out / manifest["shards"][0]["file"])
    assert schema.field("first_created_utc").type == pa.timestamp("ms", tz="UTC")
    present = [(n, t, d) for n, t, d in DOCUMENT_COLUMNS if n in schema.names]
    assert len(present) >= 15
    for name, _, desc in present:
        assert schema.field(name).metadata[b"description"].decode() == desc and desc
    # the card's column table comes from the same schema
    card = (out / "README.md").read_text(encoding="utf-8")
    for name, _, desc in present:
        assert f"| `{name}` | `{schema.field(name).type}` | {desc} |" in card
    import duckdb

    kind = duckdb.connect().execute(
        "SELECT typeof(first_created_utc) FROM read_parquet(?) LIMIT 1", [str(out / "shards" / "*.parquet")]).fetchone()[0]
    assert kind == "TIMESTAMP WITH TIME ZONE"


def test_shard_command_output_loads_too(tmp_path, gold, make_doc):
    """`webtext shard --out X` puts the shards beside the card: the config points there."""
    import datasets

    from webtext.cli import main as cli_main

    docs = [make_doc(f"http://s.example/{i}", text) for i, (_, text) in enumerate(gold[:4])]
    write_documents(docs, tmp_path / "dedup")
    assert cli_main(["shard", "--docs", str(tmp_path / "dedup"), "--out", str(tmp_path / "out")]) == 0
    meta = yaml.safe_load((tmp_path / "out" / "README.md").read_text().split("---\n")[1])
    assert meta["configs"][0]["data_files"][0]["path"] == "webtext-*.parquet"
    assert datasets.load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf-cache"))["train"].num_rows == 4
