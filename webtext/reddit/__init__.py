"""The Reddit stage: outbound links from Pushshift dumps or the live API, one row per URL.

    harvest(dumps, until, out, ...)      dumps (files/folders) -> out/links/*.parquet + out/report.json
    api.harvest_live(subreddits, ...)    the same from the live API via praw

Modules, top to bottom: `dumps` (finding and streaming dump files), `links` (filters, aggregation,
Parquet), `harvest` (the stage itself and its accounting), `api` (praw), `cli` (`webtext harvest`).
Nothing heavy is imported here: pyarrow, zstandard and praw load when they are first needed.
"""

from webtext.reddit.harvest import HarvestReport, harvest
from webtext.reddit.links import HarvestOptions, Submission, classify, link_row, qualifies, read_links, write_links

__all__ = [
    "HarvestOptions",
    "HarvestReport",
    "Submission",
    "classify",
    "harvest",
    "link_row",
    "qualifies",
    "read_links",
    "write_links",
]
