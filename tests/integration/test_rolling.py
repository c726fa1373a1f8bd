"""Upcoming events and open calls are rolling lists: each stays in every issue until the
event takes place or the call closes; news appear once. Weekly issues on the fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.items import expire_items, get_item, store_entries
from digest.db.sending import mark_sent, start_sending
from digest.model import Entry, ItemKind, ItemState
from digest.settings import Settings
from tests.support.clock import Clock


def entry(
    kind: ItemKind,
    title: str,
    *,
    published_at: datetime | None = None,
    event_start: datetime | None = None,
    deadline: datetime | None = None,
) -> Entry:
    return Entry(
        kind=kind,
        title=title,
        link=f"https://example.org/{title.replace(' ', '-')}",
        summary="",
        guid=title,
        published_at=published_at,
        event_start=event_start,
        deadline=deadline,
    )


def weekly_issue(db: Database, settings: Settings, clock: Clock, news: str) -> dict[str, set[str]]:
    """Collect one news story, expire what passed, compose and send: the sections' titles."""
    store_entries(db, None, [entry(ItemKind.NEWS, news, published_at=clock())], clock())
    expire_items(db, clock())
    composed = compose_issue(db, settings, clock)
    start_sending(db, composed.id, clock())
    mark_sent(db, composed.id, clock())
    return {name: {i.title for i in items} for name, items in composed.plan.sections.items()}


def test_events_and_calls_roll_until_they_pass_news_appear_once(
    db: Database, db_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(db_url)
    clock = Clock()  # Monday 23 November 2026, 08:00 UTC
    store_entries(
        db,
        None,
        [
            entry(ItemKind.EVENT, "Forum", event_start=datetime(2026, 12, 3, 9, tzinfo=UTC)),
            entry(ItemKind.CALL, "Grant call", deadline=datetime(2026, 12, 10, 17, tzinfo=UTC)),
        ],
        clock(),
    )

    first = weekly_issue(db, settings, clock, "Story one")
    assert first == {"news": {"Story one"}, "events": {"Forum"}, "calls": {"Grant call"}}

    clock.advance(days=7)  # 30 November: both still ahead
    second = weekly_issue(db, settings, clock, "Story two")
    assert second == {"news": {"Story two"}, "events": {"Forum"}, "calls": {"Grant call"}}

    clock.advance(days=7)  # 7 December: the forum took place, the call is open
    third = weekly_issue(db, settings, clock, "Story three")
    assert third == {"news": {"Story three"}, "events": set(), "calls": {"Grant call"}}

    clock.advance(days=7)  # 14 December: the call has closed
    fourth = weekly_issue(db, settings, clock, "Story four")
    assert fourth == {"news": {"Story four"}, "events": set(), "calls": set()}

    assert get_item(db, 1).state is ItemState.EXPIRED  # the forum
    assert get_item(db, 2).state is ItemState.EXPIRED  # the call
    assert get_item(db, 3).state is ItemState.PUBLISHED  # news: once, then published
