"""The editor's decisions in plan_issue: pins, exclusions, places and overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.compose.plan import plan_issue
from digest.model import ItemEdit, ItemKind, QueuedItem, Spotlight
from digest.settings import ComposeSettings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CFG = ComposeSettings(max_news=3, max_events=2, max_calls=2)


def news(n: int, hours_ago: int) -> QueuedItem:
    return QueuedItem(
        id=n,
        kind=ItemKind.NEWS,
        title=f"News {n}",
        link=f"https://e.org/{n}",
        summary="<p>s</p>",
        published_at=NOW - timedelta(hours=hours_ago),
    )


def event(n: int, days: int) -> QueuedItem:
    return QueuedItem(
        id=n,
        kind=ItemKind.EVENT,
        title=f"Event {n}",
        link=f"https://e.org/{n}",
        summary="",
        published_at=NOW,
        event_start=NOW + timedelta(days=days),
    )


QUEUE = [
    news(1, 1),
    news(2, 2),
    news(3, 3),
    news(4, 4),
    news(5, 24 * 40),
    event(10, 3),
    event(11, 5),
    event(12, -1),
    event(13, 9),
]


def ids(items: tuple[QueuedItem, ...]) -> list[int]:
    return [i.id for i in items]


def plan(**edits: ItemEdit) -> tuple[list[int], list[int]]:
    by_id = {e.item_id: e for e in edits.values()}
    result = plan_issue(QUEUE, number=1, now=NOW, cfg=CFG, edits=by_id)
    return ids(result.news), ids(result.events)


def test_without_edits_the_natural_order_and_limits_hold() -> None:
    assert plan() == ([1, 2, 3], [10, 11])


def test_a_pinned_item_gets_in_past_the_limit_and_keeps_its_natural_place() -> None:
    assert plan(a=ItemEdit(item_id=4, pinned=True)) == ([1, 2, 4], [10, 11])
    assert plan(a=ItemEdit(item_id=13, pinned=True))[1] == [10, 13]


def test_a_pinned_old_news_item_is_allowed_but_a_past_event_never() -> None:
    assert 5 in plan(a=ItemEdit(item_id=5, pinned=True))[0]
    assert 12 not in plan(a=ItemEdit(item_id=12, pinned=True))[1]


def test_more_pins_than_room_all_stay() -> None:
    pins = {str(n): ItemEdit(item_id=n, pinned=True) for n in (1, 2, 3, 4)}
    assert plan(**pins)[0] == [1, 2, 3, 4]


def test_an_excluded_item_leaves_room_for_the_next() -> None:
    assert plan(a=ItemEdit(item_id=2, excluded=True))[0] == [1, 3, 4]


def test_a_placed_item_moves_and_the_rest_keep_their_order() -> None:
    assert plan(a=ItemEdit(item_id=3, position=1))[0] == [3, 1, 2]
    assert plan(a=ItemEdit(item_id=1, position=99))[0] == [2, 3, 1]


def test_overrides_change_title_and_summary_for_this_issue_only() -> None:
    edits = {2: ItemEdit(item_id=2, title="Better title", summary="<p>Better</p>")}
    result = plan_issue(QUEUE, number=1, now=NOW, cfg=CFG, edits=edits)
    second = result.news[1]
    assert (second.id, second.title, second.summary) == (2, "Better title", "<p>Better</p>")
    assert QUEUE[1].title == "News 2"  # the queued item itself is untouched


def test_intro_and_spotlight_are_carried() -> None:
    spot = Spotlight(kind="quote", text="Words.", by="Someone")
    result = plan_issue(QUEUE, number=7, now=NOW, cfg=CFG, intro="<p>Hi</p>", spotlight=spot)
    assert (result.intro, result.spotlight) == ("<p>Hi</p>", spot)
