"""Issue 12, on SQLite and PostgreSQL: outside text can never become a reader's personal link
(items 2), a feed URL is registered once in any spelling (17), the SQLite files are the
owner's only (9)."""

from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest.collect import collect
from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.compose.editing import edit_item, set_intro
from digest.db import sources as source_rows
from digest.db.engine import Database
from digest.db.issues import latest_issue
from digest.db.items import list_items
from digest.errors import CollectError
from digest.model import SourceKind
from digest.send import send_issue
from digest.send.sample import preview_message, write_preview
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web.archive import web_version
from subscribers.importer import import_csv
from subscribers.lifecycle import export_csv
from tests.support.clock import Clock
from tests.support.feeds import RssItem, rss
from tests.support.http import ALLOW_LOOPBACK, FeedHttpServer, Route
from tests.support.smtp import SmtpTestServer

BASE = "https://news.example.org"
GUESS = "%%PREFERENCES_URL_0123456789ABCDEF0123456789ABCDEF%%"
URL = re.compile(r"""https?://[^\s"'<>]+""")


def hostile_feed(clock: Clock) -> bytes:
    when = clock() - timedelta(hours=1)
    return rss(
        [
            RssItem(
                title=f"Read %%UNSUBSCRIBE_URL%% and {GUESS} now",
                guid="evil-1",
                link="https://evil.example/p/%%PREFERENCES_URL%%",
                description=(
                    '<p>Hello %%GREETING%% <a href="https://evil.example/s/%%UNSUBSCRIBE_URL%%">'
                    "here</a> %%PREFERENCES_URL%25%25 %%UNSUB<b></b>SCRIBE_URL%%</p>"
                ),
                published=when,
            ),
            RssItem(
                title="An honest story",
                guid="ok-1",
                link="https://example.org/story",
                description="<p>Nothing to see.</p>",
                published=when,
            ),
        ]
    )


@pytest.fixture
def hostile(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
    http_server: FeedHttpServer,
) -> Settings:
    settings = make_settings(
        db_url,
        smtp_port=smtp_server.port,
        newsletter_base_url=BASE,
        newsletter_greeting="Hello {first_name},",
        **ALLOW_LOOPBACK,
    )
    http_server.routes["/evil.xml"] = Route(body=hostile_feed(clock))
    add_source(db, http_server.url("/evil.xml"), SourceKind.NEWS, "", clock())
    [report] = collect(db, settings, clock)
    assert report.error is None and report.new == 2
    roster = tmp_path / "people.csv"
    roster.write_text(
        "email,name\n"
        "ada@example.com,%%PREFERENCES_URL%% Ada\n"
        "bob@example.com,Bob %%UNSUBSCRIBE_URL%%\n",
        encoding="utf-8",
    )
    import_csv(db, roster, clock())
    compose_issue(db, settings, clock)
    # The editor's own words carry markers too: a title, and the introduction.
    honest = next(i for i in list_items(db) if i.title == "An honest story")
    edit_item(db, settings, clock, honest.id, title=f"Edited %%PREFERENCES_URL%% {GUESS}")
    set_intro(
        db, settings, clock, '<p>Intro %%UNSUBSCRIBE_URL%% <a href="%%PREFERENCES_URL%%">x</a>'
    )
    return settings


def personal_urls(text: str) -> set[str]:
    return {
        u for u in URL.findall(html.unescape(text)) if "/unsubscribe/" in u or "/preferences/" in u
    }


def test_markers_in_feed_editor_and_name_text_never_become_personal_links(
    db: Database, hostile: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    key = latest_issue(db).placeholders.key
    report = send_issue(db, hostile, clock, relay=smtp_relay(hostile), force=True)
    assert report.sent == 2
    for received in smtp_server.received:
        message = received.message
        unsubscribe = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
        token = unsubscribe.rsplit("/", 1)[1]
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        for body in (str(html_part.get_content()), str(text_part.get_content())):
            # Every marker of the issue was filled; text from outside stays inert text.
            assert key not in body and "_URL_" not in body
            # The token appears only in the real links of this reader, never in another URL.
            preferences = {u for u in personal_urls(body) if "/preferences/" in u}
            assert personal_urls(body) == {unsubscribe, *preferences}
            assert len(preferences) == 1 and next(iter(preferences)).startswith(BASE)
            for url in URL.findall(html.unescape(body)):
                if token in url or url in preferences:
                    assert url.startswith(BASE + "/"), url
                assert not (url.startswith("https://evil.example") and BASE in url), url
            assert "https://evil.example/p/" in html.unescape(body)
            assert "Read" in body and "Edited" in body and "Intro" in body


def test_the_archive_preview_and_files_fill_only_the_issues_own_markers(
    db: Database, hostile: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    issue = latest_issue(db)
    assert issue.placeholders.key and issue.placeholders.unsubscribe in issue.html
    sample = preview_message(issue, hostile, clock())
    for body in (sample.html, sample.text):
        assert issue.placeholders.key not in body
        assert all(u.startswith(BASE + "/") for u in personal_urls(body))
    files = write_preview(issue, hostile, tmp_path / "out", clock())
    assert stat.S_IMODE(files.eml.stat().st_mode) == 0o600
    send_issue(db, hostile, clock, relay=smtp_relay(hostile), force=True)
    page = web_version(db, issue.number, hostile)
    assert page is not None and issue.placeholders.key not in page
    assert f'href="{BASE}/unsubscribe"' in page and f'href="{BASE}/preferences"' in page
    links = {u for u in URL.findall(html.unescape(page)) if "/unsubscribe" in u or "/prefer" in u}
    assert links == {f"{BASE}/unsubscribe", f"{BASE}/preferences"}


def test_each_render_has_its_own_random_markers(
    db: Database, hostile: Settings, clock: Clock
) -> None:
    first = latest_issue(db).placeholders
    compose_issue(db, hostile, clock)
    second = latest_issue(db).placeholders
    assert first.key != second.key and len(second.key) == 32
    assert second.preferences in latest_issue(db).html


# --- 17: one source per feed, whatever its spelling ------------------------------------------


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("http://example.org/feed.xml", "HTTP://EXAMPLE.ORG/feed.xml"),
        ("http://example.org/feed.xml", "http://example.org:80/feed.xml"),
        ("https://example.org/feed.xml", "https://Example.org.:443/feed.xml#top"),
        ("https://bücher.example/f", "https://xn--bcher-kva.example/f"),
        ("http://example.org", "http://example.org/"),
    ],
)
def test_a_feed_url_in_another_spelling_is_refused(
    db: Database, clock: Clock, first: str, again: str
) -> None:
    stored = add_source(db, first, SourceKind.NEWS, "", clock())
    with pytest.raises(CollectError, match="already a source") as caught:
        add_source(db, again, SourceKind.NEWS, "", clock())
    assert "\n" not in str(caught.value)
    assert [s.url for s in source_rows.source_refs(db)] == [stored.url]


def test_the_url_is_stored_normalized_and_old_spellings_are_matched(
    db: Database, clock: Clock
) -> None:
    assert add_source(db, "HTTP://News.Example.ORG:80", SourceKind.NEWS, "", clock()).url == (
        "http://news.example.org/"
    )
    # A source added before URLs were normalized, stored as it was typed.
    source_rows.insert_source(
        db,
        url="HTTPS://Old.Example.org:443/Feed",
        kind=SourceKind.NEWS,
        name="old",
        now=clock(),
        dayfirst=True,
        timezone="UTC",
    )
    with pytest.raises(CollectError, match="already a source"):
        add_source(db, "https://old.example.org/Feed", SourceKind.NEWS, "", clock())
    # The path's case matters to servers: a different path is a different feed.
    add_source(db, "https://old.example.org/feed", SourceKind.NEWS, "", clock())


# --- 9: the SQLite files are the owner's only ------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_its_wal_and_folder_are_private(
    tmp_path: Path, umask_022: None, clock: Clock
) -> None:
    folder = tmp_path / "data" / "db"
    database = Database(f"sqlite:///{folder / 'digest.sqlite3'}", auto_upgrade=True)
    try:
        add_source(database, "https://example.org/feed", SourceKind.NEWS, "", clock())
        files = [folder / f"digest.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    finally:
        database.dispose()


def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path, umask_022: None) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o644)
    wal = tmp_path / "old.sqlite3-wal"
    wal.touch(mode=0o644)
    database = Database(f"sqlite:///{path}")
    try:
        assert mode(path) == 0o600 and mode(wal) == 0o600
    finally:
        database.dispose()
    assert mode(tmp_path) == 0o755  # a folder that existed is left as it was


def test_the_subscriber_export_is_private(
    db: Database, clock: Clock, tmp_path: Path, umask_022: None
) -> None:
    roster = tmp_path / "people.csv"
    roster.write_text("email,name\nada@example.com,Ada\n", encoding="utf-8")
    import_csv(db, roster, clock())
    out = tmp_path / "export.csv"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o644)  # an earlier export, world-readable
    assert export_csv(db, out) == 1
    assert mode(out) == 0o600 and "ada@example.com" in out.read_text(encoding="utf-8")
