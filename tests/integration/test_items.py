"""Editors' items: `digest items add|import|reject|restore` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.compose import compose_issue
from digest.compose.items import import_items, set_state
from digest.db.engine import Database
from digest.db.schema import IssueItem, Item
from digest.errors import ItemError
from digest.model import ItemState
from digest.settings import Settings
from tests.support.cli import invoke, write_config
from tests.support.clock import Clock, fixed

YAML = """\
- kind: news
  title: "Editor's <b>note</b>"
  url: https://example.org/note
  summary: >-
    <p>Hello <script>alert(1)</script><a href='https://example.org/x'
    onclick='x()'>there</a></p>
- kind: event
  title: Open day on 14 May 2027
  url: https://example.org/open
  location: Porto
- kind: call
  title: Call with no date
  url: https://example.org/nodate
- kind: podcast
  title: Wrong kind
  url: https://example.org/p
- kind: news
  title: No link
  url: ""
"""


def items_by_link(db: Database) -> dict[str, Item]:
    with db.session() as session:
        return {i.link: i for i in session.scalars(select(Item))}


def test_import_queues_good_items_flags_undated_ones_and_reports_bad_ones(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    path = tmp_path / "items.yaml"
    path.write_text(YAML, encoding="utf-8")
    settings = make_settings(db_url, newsletter_timezone="Europe/Lisbon")
    report = import_items(db, path, clock(), settings)
    assert (report.new, report.updated) == (3, 0)
    assert [line.split(": ", 1)[0] for line in report.bad] == [f"{path}:item 4", f"{path}:item 5"]
    assert "kind must be news, event or call" in report.bad[0]
    assert len(report.flagged) == 1 and "no deadline found" in report.flagged[0]
    stored = items_by_link(db)
    note = stored["https://example.org/note"]
    assert note.title == "Editor's note"
    assert "script" not in note.summary and "onclick" not in note.summary
    assert 'href="https://example.org/x"' in note.summary
    event = stored["https://example.org/open"]
    # The date is read from the title, in the newsletter's time zone (Lisbon: UTC+1 in May).
    assert event.event_start == datetime(2027, 5, 13, 23, 0, tzinfo=UTC)
    assert event.location == "Porto" and event.needs_review is None
    undated = stored["https://example.org/nodate"]
    assert undated.deadline is None and undated.needs_review == "no deadline found"
    assert undated.state == ItemState.QUEUED  # flagged, never dropped

    # Importing the same file again changes nothing; an edited item is updated in place.
    again = import_items(db, path, clock(), settings)
    assert (again.new, again.updated) == (0, 0)
    path.write_text(YAML.replace("Open day on 14 May 2027", "Open day on 15 May 2027"))
    edited = import_items(db, path, clock(), settings)
    assert (edited.new, edited.updated) == (0, 1)
    assert len(items_by_link(db)) == 3


def test_csv_import_names_lines(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "kind,title,url,deadline\n"
        "call,Green vouchers,https://example.org/g,22/10/2027\n"
        "call,Broken date,https://example.org/b,someday\n",
        encoding="utf-8",
    )
    report = import_items(db, path, clock(), make_settings(db_url))
    assert report.new == 1
    assert report.bad == [f"{path}:line 3: deadline 'someday' is not a date"]
    call = items_by_link(db)["https://example.org/g"]
    assert call.deadline == datetime(2027, 10, 22, 23, 59, 59, tzinfo=UTC)


def test_reject_takes_an_item_out_of_the_draft_and_restore_puts_it_back(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(db_url)
    path = tmp_path / "items.yaml"
    path.write_text(YAML, encoding="utf-8")
    import_items(db, path, clock(), settings)
    note = items_by_link(db)["https://example.org/note"]
    compose_issue(db, settings, clock)
    message = set_state(db, note.id, ItemState.REJECTED, clock())
    assert "draft #1" in message
    with db.session() as session:
        assert session.scalar(select(Item.state).where(Item.id == note.id)) == "rejected"
        assert (
            session.scalars(select(IssueItem).where(IssueItem.item_id == note.id)).first() is None
        )
    with pytest.raises(ItemError, match="cannot be rejected"):
        set_state(db, note.id, ItemState.REJECTED, clock())
    set_state(db, note.id, ItemState.QUEUED, clock())
    with pytest.raises(ItemError, match="not rejected"):
        set_state(db, note.id, ItemState.QUEUED, clock())
    with pytest.raises(ItemError, match="no item 999"):
        set_state(db, 999, ItemState.REJECTED, clock())


def test_items_add_through_the_cli(db: Database, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)
    added = invoke(
        config,
        "items",
        "add",
        "--kind",
        "call",
        "--title",
        "Cluster grants",
        "--url",
        "https://example.org/grants",
        "--deadline",
        "13/12/2027",
    )
    assert added.stdout.strip() == "queued: Cluster grants"
    again = invoke(
        config,
        "items",
        "add",
        "--kind",
        "call",
        "--title",
        "Cluster grants",
        "--url",
        "https://example.org/grants",
        "--deadline",
        "13/12/2027",
    )
    assert again.stdout.strip() == "unchanged: Cluster grants"
    missing = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "items",
            "add",
            "--kind",
            "event",
            "--title",
            "T",
            "--url",
            "https://e.org/",
        ],
        obj=fixed,
    )
    assert missing.exit_code != 0 and "an event needs --date" in str(missing.exception)
    listed = invoke(config, "items", "list", "--kind", "call", "--state", "queued")
    assert "Cluster grants" in listed.stdout and "2027-12-13 23:59" in listed.stdout
