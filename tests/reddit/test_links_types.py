"""The links table's time column is a UTC timestamp with field descriptions (issue 15, point 3);
rows read back carry epoch seconds, as the stages expect."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.reddit.links import read_links, write_links


def test_links_first_created_is_a_utc_timestamp(tmp_path):
    rows = [{"url": f"https://example.com/{i}", "domain": "example.com", "subreddits": ["science"], "reddit_ids": [f"r{i}"],
             "first_created_utc": 1_500_000_000 + i, "score": 3 + i, "score_sum": 3 + i, "n_submissions": 1} for i in range(3)]
    files = write_links(rows, tmp_path / "links")
    schema = pq.read_schema(files[0])
    assert schema.field("first_created_utc").type == pa.timestamp("ms", tz="UTC")
    assert all(schema.field(n).metadata[b"description"] for n in schema.names)
    got = pq.read_table(files[0]).column("first_created_utc").to_pylist()
    assert got == [datetime.fromtimestamp(1_500_000_000 + i, tz=timezone.utc) for i in range(3)]
    assert read_links(tmp_path / "links") == rows  # epoch seconds in memory, unchanged
    kind = duckdb.connect().execute("SELECT typeof(first_created_utc) FROM read_parquet(?) LIMIT 1", [str(files[0])]).fetchone()[0]
    assert kind == "TIMESTAMP WITH TIME ZONE"
