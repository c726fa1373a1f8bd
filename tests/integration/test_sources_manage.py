"""Managing sources from the CLI: the `sources add` check, remove, disable/enable, edit,
listing with names, and `collect`'s exit status, against a real local HTTP server, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.db.engine import Database
from digest.db.items import list_items
from digest.db.schema import Item
from digest.model import ItemState
from tests.support.cli import assert_one_error_line, invoke, run_main, write_config
from tests.support.clock import fixed
from tests.support.feeds import RssItem, closed_port_url, rss
from tests.support.http import FeedHttpServer, Route

PUBLISHED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, db: Database, db_url: str) -> Path:
    return write_config(tmp_path, db_url)


def news(count: int = 2, prefix: str = "Story") -> bytes:
    return rss(
        [
            RssItem(title=f"{prefix} {n}", guid=f"{prefix}-{n}", link=f"https://e.org/{prefix}{n}",
                    published=PUBLISHED)
            for n in range(count)
        ]
    )  # fmt: skip


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(["--config", str(config), *args], capsys)


def test_add_refuses_a_404_and_an_html_page_unless_forced(
    config: Path, http_server: FeedHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/page.html"] = Route(
        body=b"<!doctype html><html><head><title>Hi</title></head><body>news</body></html>",
        content_type="text/html; charset=utf-8",
    )
    code, _, err = run(
        config, capsys, "sources", "add", http_server.url("/gone.xml"), "--kind", "news"
    )
    assert_one_error_line(code, err, "HTTP 404")
    assert code == 1
    code, _, err = run(
        config, capsys, "sources", "add", http_server.url("/page.html"), "--kind", "news"
    )
    assert_one_error_line(code, err, "not a feed: an HTML page")
    assert json.loads(invoke(config, "sources", "list", "--json").stdout) == []

    forced = invoke(
        config, "sources", "add", http_server.url("/gone.xml"), "--kind", "news", "--force"
    )
    assert forced.stdout.startswith("added source 1:")


def test_add_follows_the_feed_an_html_page_advertises(
    config: Path, http_server: FeedHttpServer
) -> None:
    http_server.routes["/blog/"] = Route(
        body=b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
        b'href="/blog/feed.xml"></head><body>blog</body></html>',
        content_type="text/html",
    )
    http_server.routes["/blog/feed.xml"] = Route(body=news())
    added = invoke(config, "sources", "add", http_server.url("/blog/"), "--kind", "news")
    feed = http_server.url("/blog/feed.xml")
    assert added.stdout.startswith(f"added source 1: {feed} (news)")
    assert f"names its feed at {feed}" in added.stdout
    listed = json.loads(invoke(config, "sources", "list", "--json").stdout)
    assert [s["url"] for s in listed] == [feed]


def test_add_refuses_a_body_that_is_no_feed(
    config: Path, http_server: FeedHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/notes.txt"] = Route(body=b"just some words", content_type="text/plain")
    code, _, err = run(
        config, capsys, "sources", "add", http_server.url("/notes.txt"), "--kind", "news"
    )
    assert_one_error_line(code, err, "not a feed")


def test_add_accepts_an_unreachable_server_with_a_note(config: Path) -> None:
    added = invoke(config, "sources", "add", closed_port_url(), "--kind", "news")
    assert added.stdout.startswith("added source 1:")
    assert "note: could not check" in added.stdout


def test_collect_exits_3_when_some_sources_failed_and_disabled_ones_are_skipped(
    config: Path, db: Database, http_server: FeedHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/a.xml"] = Route(body=news(2, "A"))
    http_server.routes["/b.xml"] = Route(body=news(1, "B"))
    invoke(config, "sources", "add", http_server.url("/a.xml"), "--kind", "news", "--name", "Alpha")
    invoke(config, "sources", "add", http_server.url("/b.xml"), "--kind", "news", "--name", "Beta")
    invoke(config, "sources", "add", closed_port_url(), "--kind", "news")

    code, out, err = run(config, capsys, "collect")
    assert code == 3
    assert out.splitlines()[-1] == "collected 3 source(s): 3 new item(s), 1 failed"
    assert len(err.splitlines()) == 1

    invoke(config, "sources", "disable", "3")
    invoke(config, "sources", "disable", http_server.url("/b.xml"))
    listed = invoke(config, "sources", "list").stdout
    assert "Alpha" in listed and "Beta" in listed
    assert listed.count("disabled") == 2
    requests = len(http_server.requests)
    code, out, _ = run(config, capsys, "collect")
    assert code == 0
    assert out.splitlines()[-1] == "collected 1 source(s): 0 new item(s), 0 failed"
    assert len(http_server.requests) == requests + 1  # only /a.xml was fetched

    invoke(config, "sources", "enable", "2")
    code, out, _ = run(config, capsys, "collect")
    assert code == 0 and "collected 2 source(s)" in out


def test_remove_rejects_queued_items_and_keeps_published_ones(
    config: Path, db: Database, http_server: FeedHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/a.xml"] = Route(body=news(3, "A"))
    invoke(config, "sources", "add", http_server.url("/a.xml"), "--kind", "news")
    invoke(config, "collect")
    first = list_items(db)[-1]
    with db.session() as session:
        session.get_one(Item, first.id).state = ItemState.PUBLISHED

    asked = CliRunner().invoke(
        cli, ["--config", str(config), "sources", "remove", "1"], input="n\n", obj=fixed
    )
    assert "remove source 1" in asked.output and asked.exit_code != 0
    assert len(json.loads(invoke(config, "sources", "list", "--json").stdout)) == 1

    removed = invoke(config, "sources", "remove", http_server.url("/a.xml"), "--yes")
    assert "(2 queued item(s) rejected)" in removed.stdout
    assert json.loads(invoke(config, "sources", "list", "--json").stdout) == []
    states = sorted((i.state, i.source_id) for i in list_items(db))
    assert states == [
        (ItemState.PUBLISHED, None),
        (ItemState.REJECTED, None),
        (ItemState.REJECTED, None),
    ]
    code, _, err = run(config, capsys, "sources", "remove", "1", "--yes")
    assert_one_error_line(code, err, "no source 1")


def test_edit_changes_name_kind_order_and_zone(
    config: Path, http_server: FeedHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/a.xml"] = Route(body=news())
    invoke(config, "sources", "add", http_server.url("/a.xml"), "--kind", "news")
    edited = invoke(
        config, "sources", "edit", "1", "--name", "Lab news", "--kind", "event",
        "--date-order", "mdy", "--timezone", "Europe/Rome",
    )  # fmt: skip
    assert "Lab news (events, mdy, Europe/Rome)" in edited.stdout
    (source,) = json.loads(invoke(config, "sources", "list", "--json").stdout)
    assert (source["name"], source["kind"]) == ("Lab news", "events")
    code, _, err = run(config, capsys, "sources", "edit", "1", "--timezone", "Mars/Base")
    assert_one_error_line(code, err, "unknown time zone 'Mars/Base'")
    code, _, err = run(config, capsys, "sources", "edit", "9", "--name", "x")
    assert_one_error_line(code, err, "no source 9")


def test_both_kind_spellings_are_accepted(config: Path, http_server: FeedHttpServer) -> None:
    http_server.routes["/e.xml"] = Route(body=news())
    added = invoke(config, "sources", "add", http_server.url("/e.xml"), "--kind", "event")
    assert "(events)" in added.stdout
    invoke(
        config, "items", "add", "--kind", "calls", "--title", "Grants", "--url",
        "https://e.org/g", "--deadline", "13/12/2027",
    )  # fmt: skip
    listed = invoke(config, "items", "list", "--kind", "calls").stdout
    assert "Grants" in listed and "2027-12-13 23:59" in listed


def test_items_list_has_a_header_and_is_newest_first(config: Path, tmp_path: Path) -> None:
    for title, date in (("Old", "01/11/2026"), ("New", "20/11/2026"), ("Mid", "10/11/2026")):
        invoke(
            config, "items", "add", "--kind", "news", "--title", title, "--url",
            f"https://e.org/{title}", "--date", date,
        )  # fmt: skip
    lines = invoke(config, "items", "list").stdout.splitlines()
    assert lines[0].split() == ["id", "kind", "state", "published", "when", "title"]
    assert [line.split()[-1] for line in lines[1:]] == ["New", "Mid", "Old"]


def test_check_of_a_non_url_is_one_clear_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(config, capsys, "sources", "check", "not-a-url", "--kind", "news")
    assert_one_error_line(code, err, "'not-a-url' is not an http(s) URL")
    assert "UnsupportedProtocol" not in err


def test_status_says_none_for_no_sources(config: Path) -> None:
    lines = invoke(config, "status").stdout.splitlines()
    assert [line.split() for line in lines if line.startswith("sources")] == [["sources", "none"]]


def test_init_does_not_ask_for_db_upgrade(tmp_path: Path) -> None:
    written = invoke(None, "init", "--path", str(tmp_path / "digest.toml"))
    assert "db upgrade" not in written.stdout
    assert "set up by the first command" in written.stdout
