"""Live harvesting through praw against a Reddit-shaped server on 127.0.0.1 (tests/reddit/fake_reddit.py)."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from webtext.cli import main
from webtext.errors import ConfigError
from webtext.reddit import read_links
from webtext.reddit.api import connect, harvest_live
from webtext.reddit.dumps import month_end_utc

CAP = month_end_utc("2023-12")
SECRET = "s3cr3t-value-never-printed"


def _post(i: int, sub: str, **kw) -> dict:
    d = {
        "id": f"{sub[:2]}{i:03d}", "title": f"post {i}", "author": f"user{i}", "subreddit": sub,
        "url": f"https://news{i % 4}.example.org/story/{i}", "domain": f"news{i % 4}.example.org",
        "score": 10 + i, "created_utc": float(CAP - 1000 - i), "is_self": False, "over_18": False,
        "permalink": f"/r/{sub}/comments/{i}/x/", "num_comments": 0,
    }  # fmt: skip
    d.update(kw)
    return d


def _fixture():
    """Two subreddits of submissions, each labelled with the reason it must be dropped (None: kept)."""
    labelled = []
    for i in range(23):
        labelled.append((_post(i, "science"), None))
    labelled += [
        (_post(30, "science", is_self=True, url="https://www.reddit.com/r/science/comments/30/x/", domain="self.science"), "self_post"),
        (_post(31, "science", over_18=True), "nsfw"),
        (_post(32, "science", score=1), "low_karma"),
        (_post(33, "science", created_utc=float(CAP + 60)), "after_until"),
        (_post(34, "science", url="https://en.wikipedia.org/wiki/Physics"), "wikipedia"),
        (_post(35, "science", url="https://i.redd.it/x.png"), "reddit_link"),
        (_post(36, "science", url="https://i.imgur.com/abc.gif"), "blocked_extension"),
    ]
    for i in range(12):
        labelled.append((_post(i, "worldnews", author="[deleted]"), None))  # deleted accounts: the link stands
    labelled.append((_post(40, "worldnews", removed_by_category="moderator"), "removed"))
    subs: dict[str, list] = {}
    for post, _ in labelled:
        subs.setdefault(post["subreddit"], []).append(post)
    return subs, labelled


@pytest.fixture
def server(FakeReddit):
    subs, labelled = _fixture()
    with FakeReddit(subs, client_secret=SECRET, page_size=10) as srv:
        srv.labelled = labelled
        yield srv


def _env(srv, secret=SECRET):
    return {
        "WEBTEXT_REDDIT_CLIENT_ID": "test-client",
        "WEBTEXT_REDDIT_CLIENT_SECRET": secret,
        "WEBTEXT_REDDIT_USER_AGENT": "webtext-tests/1.0",
        "WEBTEXT_REDDIT_URL": srv.url,
        "WEBTEXT_REDDIT_OAUTH_URL": srv.url,
        "WEBTEXT_REDDIT_SHORT_URL": srv.url,
    }


def test_live_harvest_pages_retries_429_and_counts(server, tmp_path):
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    server.throttle_next = 1  # the first listing request is answered 429
    reddit = connect(env=_env(server))
    report = harvest_live(["science", "r/worldnews"], "2023-12", tmp_path, reddit=reddit, sleep=sleep)

    # Token flow: one client_credentials POST, every API call with the bearer token.
    token_posts = [r for r in server.requests if r[0] == "POST"]
    assert [r[3] for r in token_posts] == [200]
    gets = [r for r in server.requests if r[0] == "GET"]
    assert all(r[4] for r in gets)
    # The 429 was waited out (Retry-After: 1) and the same page asked again.
    assert server.statuses("/r/science")[:2] == [429, 200]
    assert waits == [1.0]
    assert gets[0][2].get("after") is None and gets[1][2].get("after") is None
    # Paging with `after`: 30 science posts in pages of 10, 13 worldnews posts in 2.
    science_afters = [r[2].get("after", [None])[0] for r in gets if r[1].startswith("/r/science") and r[3] == 200]
    assert len(science_afters) == 3 and science_afters[0] is None and all(a.startswith("t3_") for a in science_afters[1:])
    assert len([r for r in gets if r[1].startswith("/r/worldnews")]) == 2

    expected = Counter(reason for _, reason in server.labelled if reason)
    assert report.read == len(server.labelled)
    assert report.dropped == expected
    assert report.kept == sum(1 for _, reason in server.labelled if reason is None)
    rows = read_links(tmp_path / "links")
    # The same URL posted in both subreddits is one row with both.
    assert report.links == len(rows) == len({p["url"] for p, reason in server.labelled if reason is None})
    assert any(r["subreddits"] == ["science", "worldnews"] for r in rows)
    assert json.loads((tmp_path / "report.json").read_text())["options"]["source"] == "live"


def test_bad_credentials_and_missing_settings_never_show_secrets(server, tmp_path):
    wrong = "wrong-secret-value"
    reddit = connect(env=_env(server, secret=wrong))
    with pytest.raises(ConfigError) as err:
        harvest_live(["science"], "2023-12", tmp_path, reddit=reddit)
    assert "401" in str(err.value) and wrong not in str(err.value)
    with pytest.raises(ConfigError, match="WEBTEXT_REDDIT_CLIENT_ID"):
        connect(env={})
    with pytest.raises(ConfigError, match="WEBTEXT_REDDIT_CLIENT_SECRET") as err:
        connect(env={"WEBTEXT_REDDIT_CLIENT_ID": "x"})


def test_unknown_subreddit(server, tmp_path):
    from webtext.errors import InputError

    with pytest.raises(InputError, match="r/nosuch"):
        harvest_live(["nosuch"], "2023-12", tmp_path, reddit=connect(env=_env(server)))


def test_praw_ini_site(server, tmp_path, monkeypatch):
    ini = tmp_path / "praw.ini"
    ini.write_text(
        f"[webtext-test]\nclient_id=test-client\nclient_secret={SECRET}\nuser_agent=webtext-tests/1.0\n"
        f"reddit_url={server.url}\noauth_url={server.url}\nshort_url={server.url}\n"
    )
    monkeypatch.chdir(tmp_path)  # praw reads praw.ini from the working folder
    monkeypatch.setenv("PRAW_ALLOW_ENDPOINT_OVERRIDE", "1")
    import praw.config

    monkeypatch.setattr(praw.config.Config, "CONFIG", None)  # praw caches praw.ini per process: reload it here
    report = harvest_live(["worldnews"], "2023-12", tmp_path / "out", site="webtext-test", env={})
    assert report.read == 13 and report.dropped == {"removed": 1}


def test_cli_live_prints_progress_but_no_secret(server, tmp_path, monkeypatch, capsys):
    for k, v in _env(server).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("WEBTEXT_QUIET", "0")
    rc = main(["harvest", "--live", "--subreddit", "worldnews", "--until", "2023-12", "--out", str(tmp_path), "--limit", "5"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "[harvest]" in captured.err and "links" in captured.out
    assert SECRET not in captured.out + captured.err
    assert json.loads((tmp_path / "report.json").read_text())["read"] == 5
    assert main(["harvest", "--live", "--until", "2023-12", "--out", str(tmp_path)]) == 2  # no --subreddit


def test_build_streams_live_records_to_a_file_and_harvests_them_as_the_library_does(server, tmp_path, monkeypatch):
    """`webtext build --live`: the API's records go to OUT/stages/harvest/live-records.jsonl.gz
    (streamed: not held by the launcher, not put in the job graph) and are harvested from there;
    the links and counts equal `harvest_live`'s, and the file is itself a dump `harvest` reads."""
    from pipelines import store
    from pipelines.build import LIVE_RECORDS, run_build
    from webtext.config import SAMPLE_WARC, BuildConfig
    from webtext.reddit import harvest

    for k, v in _env(server).items():
        monkeypatch.setenv(k, v)
    lib = harvest_live(["science", "worldnews"], "2023-12", tmp_path / "lib")
    out = tmp_path / "build"
    run_build(BuildConfig(live=True, subreddits=["science", "worldnews"], until="2023-12", replay=[str(SAMPLE_WARC)],
                          out=str(out), workers=1, stop_after="harvest"))
    built = store.read_parquet_rows(store.data_prefix(str(out), "harvest") + "-*.parquet")
    expected = read_links(tmp_path / "lib" / "links")
    assert len(expected) > 20 and sorted(built, key=lambda r: r["url"]) == expected
    report = store.report_from_outputs(str(out), "harvest")
    assert (report.read, report.kept, dict(report.dropped)) == (lib.read, lib.kept, dict(lib.dropped))
    kept_file = out / "stages" / "harvest" / LIVE_RECORDS
    again = harvest([kept_file], "2023-12", tmp_path / "again")
    assert read_links(tmp_path / "again" / "links") == expected and again.read == lib.read == len(server.labelled)

    # The API failing after some records (a subreddit that does not exist, read second): the
    # error, and no partial file left behind to pass for the API's answer.
    from webtext.errors import InputError

    with pytest.raises(InputError, match="no such subreddit: r/nosuchsub"):
        run_build(BuildConfig(live=True, subreddits=["science", "nosuchsub"], until="2023-12", replay=[str(SAMPLE_WARC)],
                              out=str(tmp_path / "failed"), workers=1, stop_after="harvest"))
    assert not list((tmp_path / "failed" / "stages" / "harvest").glob("live-records*"))
