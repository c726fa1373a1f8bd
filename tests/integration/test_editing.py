"""The editor's controls through the CLI, on SQLite and PostgreSQL: what they change in the
stored draft, its HTML and its text."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.db.engine import Database
from digest.db.items import store_entries
from digest.db.schema import Issue
from digest.model import Entry, ItemKind
from tests.support.cli import invoke, write_config
from tests.support.clock import fixed


def draft(db: Database) -> Issue:
    with db.session() as session:
        return session.scalars(select(Issue).where(Issue.status == "draft")).one()


def add_news(config: Path, count: int) -> None:
    for n in range(1, count + 1):
        invoke(
            config,
            "items",
            "add",
            "--kind",
            "news",
            "--title",
            f"Story {n}",
            "--url",
            f"https://example.org/{n}",
            "--summary",
            f"Summary {n}",
            "--date",
            f"{n:02d}/11/2026",
        )


def test_pin_exclude_move_edit_intro_spotlight(db: Database, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url, extra="[compose]\nmax_news = 3\n")
    add_news(config, 5)  # ids 1..5, story 5 the newest
    invoke(config, "issue", "compose")
    assert "Story 1" not in draft(db).html  # the oldest two are past the limit

    invoke(config, "issue", "pin", "1")
    invoke(config, "issue", "exclude", "5")
    invoke(config, "issue", "move", "1", "--to", "1")
    invoke(
        config,
        "issue",
        "edit",
        "4",
        "--title",
        "Story 4, better",
        "--summary",
        "<p>Better <script>x()</script>words</p>",
    )
    invoke(config, "issue", "intro", "Hello <b>readers</b>")
    invoke(
        config,
        "issue",
        "spotlight",
        "--kind",
        "quote",
        "--text",
        "Words to remember.",
        "--by",
        "A. Member",
    )

    issue = draft(db)
    html, text = issue.html, issue.text
    assert "Story 5" not in html and "Story 5" not in text
    assert html.index("Story 1") < html.index("Story 4, better") < html.index("Story 3")
    assert "Better words" in text and "x()" not in html and "<script" not in html
    assert "<b>readers</b>" in html and "Hello readers" in text
    assert "Words to remember." in html and "-- A. Member" in text

    shown = json.loads(invoke(config, "issue", "show", "--json").stdout)
    assert [(line["item_id"], line["notes"]) for line in shown["lines"]] == [
        (1, ["pinned", "placed at 1"]),
        (4, ["title edited", "summary edited"]),
        (3, []),
    ]
    assert shown["excluded"] == [5] and shown["spotlight"]["by"] == "A. Member"

    # Edits survive a refresh from the queue, and can be undone.
    invoke(config, "issue", "compose")
    assert "Story 4, better" in draft(db).html
    invoke(config, "issue", "edit", "4", "--reset")
    invoke(config, "issue", "include", "5")
    invoke(config, "issue", "spotlight", "--clear")
    issue = draft(db)
    assert "Story 4, better" not in issue.html and "Story 5" in issue.html
    assert "Words to remember." not in issue.html


def test_editor_errors_are_clear(db: Database, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)
    runner = CliRunner()
    no_draft = runner.invoke(cli, ["--config", str(config), "issue", "pin", "1"], obj=fixed)
    assert no_draft.exit_code != 0 and "no draft" in str(no_draft.exception)
    add_news(config, 1)
    invoke(config, "issue", "compose")
    unknown = runner.invoke(
        cli, ["--config", str(config), "issue", "edit", "99", "--title", "x"], obj=fixed
    )
    assert "there is no item 99" in str(unknown.exception)
    bad_url = runner.invoke(
        cli,
        [
            "--config",
            str(config),
            "issue",
            "spotlight",
            "--kind",
            "link",
            "--text",
            "t",
            "--url",
            "javascript:alert(1)",
        ],
        obj=fixed,
    )
    assert "must be http(s)" in str(bad_url.exception)


def test_compose_counts_in_plurals_and_lists_items_left_out_for_review(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, db_url)
    add_news(config, 1)
    # As collect stores a call whose deadline phrase it could not read.
    unread = Entry(
        kind=ItemKind.CALL,
        title="Expressions of interest",
        link="https://example.org/calls/eoi",
        summary="<p>Submit your interest before the end of the season.</p>",
        guid="eoi",
        needs_review="no deadline found",
    )
    store_entries(db, None, [unread], fixed())
    invoke(
        config,
        "items",
        "add",
        "--kind",
        "event",
        "--title",
        "Forum",
        "--url",
        "https://example.org/forum",
        "--date",
        "03/12/2026 14:00",
    )
    composed = invoke(config, "issue", "compose").output
    assert composed.startswith("composed issue #1: 1 news, 1 event, 0 calls;")
    flagged = composed.splitlines()[1:]
    assert flagged[0].startswith("left out, flagged for review (1 item;")
    assert flagged[1:] == ["  item 2 (call): Expressions of interest: no deadline found"]
    # The event's time shows in the newsletter's time zone (UTC here).
    assert "3 December 2026, 14:00" in draft(db).text
