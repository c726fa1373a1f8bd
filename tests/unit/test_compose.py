"""plan_issue: which queued items go into an issue, in which order, at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.compose.plan import plan_issue
from digest.model import IssuePlan, ItemKind, QueuedItem
from digest.settings import ComposeSettings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CFG = ComposeSettings(max_news=8, max_events=8, max_calls=8, lookahead_days=90)

_ids = iter(range(1, 10_000))


def news(title: str, age: timedelta) -> QueuedItem:
    return QueuedItem(
        id=next(_ids),
        kind=ItemKind.NEWS,
        title=title,
        link=f"https://example.org/news/{title}",
        summary="",
        published_at=NOW - age,
    )


def event(title: str, start: datetime | None) -> QueuedItem:
    return QueuedItem(
        id=next(_ids),
        kind=ItemKind.EVENT,
        title=title,
        link=f"https://example.org/events/{title}",
        summary="",
        published_at=NOW - timedelta(days=100),
        event_start=start,
    )


def call(title: str, deadline: datetime | None) -> QueuedItem:
    return QueuedItem(
        id=next(_ids),
        kind=ItemKind.CALL,
        title=title,
        link=f"https://example.org/calls/{title}",
        summary="",
        published_at=NOW - timedelta(days=100),
        deadline=deadline,
    )


def titles(items: tuple[QueuedItem, ...]) -> list[str]:
    return [item.title for item in items]


def plan(items: list[QueuedItem], now: datetime = NOW, cfg: ComposeSettings = CFG) -> IssuePlan:
    return plan_issue(items, number=3, now=now, cfg=cfg)


def test_news_newest_first() -> None:
    items = [
        news("two-days", timedelta(days=2)),
        news("one-hour", timedelta(hours=1)),
        news("ten-days", timedelta(days=10)),
    ]
    assert titles(plan(items).news) == ["one-hour", "two-days", "ten-days"]


def test_news_limited_to_max_news_keeps_the_newest() -> None:
    items = [news(f"n{age}", timedelta(hours=age)) for age in range(10, 0, -1)]
    result = plan(items, cfg=ComposeSettings(max_news=3))
    assert titles(result.news) == ["n1", "n2", "n3"]


def test_news_older_than_30_days_is_left_out() -> None:
    items = [
        news("fresh", timedelta(days=29, hours=23)),
        news("exactly-30", timedelta(days=30)),
        news("stale", timedelta(days=30, seconds=1)),
        news("ancient", timedelta(days=400)),
    ]
    assert titles(plan(items).news) == ["fresh", "exactly-30"]


def test_events_within_the_lookahead_soonest_first() -> None:
    items = [
        event("in-60-days", NOW + timedelta(days=60)),
        event("tomorrow", NOW + timedelta(days=1)),
        event("right-now", NOW),
        event("last-day", NOW + timedelta(days=90)),
        event("too-far", NOW + timedelta(days=90, seconds=1)),
    ]
    assert titles(plan(items).events) == ["right-now", "tomorrow", "in-60-days", "last-day"]


def test_lookahead_follows_the_setting() -> None:
    items = [event("in-5", NOW + timedelta(days=5)), event("in-9", NOW + timedelta(days=9))]
    result = plan(items, cfg=ComposeSettings(lookahead_days=7))
    assert titles(result.events) == ["in-5"]


def test_past_events_never_appear() -> None:
    items = [
        event("a-second-ago", NOW - timedelta(seconds=1)),
        event("last-year", NOW - timedelta(days=365)),
        event("next-week", NOW + timedelta(days=7)),
    ]
    assert titles(plan(items).events) == ["next-week"]


def test_events_without_a_start_never_appear() -> None:
    items = [event("no-date", None), event("dated", NOW + timedelta(days=3))]
    assert titles(plan(items).events) == ["dated"]


def test_calls_still_open_nearest_deadline_first() -> None:
    items = [
        call("in-a-month", NOW + timedelta(days=30)),
        call("closed-yesterday", NOW - timedelta(days=1)),
        call("closes-now", NOW),
        call("closed-a-second-ago", NOW - timedelta(seconds=1)),
        call("in-a-week", NOW + timedelta(days=7)),
        call("far-future", NOW + timedelta(days=900)),
    ]
    assert titles(plan(items).calls) == ["closes-now", "in-a-week", "in-a-month", "far-future"]


def test_calls_without_a_deadline_never_appear() -> None:
    assert titles(plan([call("open-ended", None)]).calls) == []


def test_each_section_has_its_own_limit() -> None:
    items = (
        [news(f"n{i}", timedelta(hours=i)) for i in range(1, 6)]
        + [event(f"e{i}", NOW + timedelta(days=i)) for i in range(1, 6)]
        + [call(f"c{i}", NOW + timedelta(days=i)) for i in range(1, 6)]
    )
    result = plan(items, cfg=ComposeSettings(max_news=4, max_events=2, max_calls=1))
    assert titles(result.news) == ["n1", "n2", "n3", "n4"]
    assert titles(result.events) == ["e1", "e2"]
    assert titles(result.calls) == ["c1"]
    assert result.size == 7


def test_kinds_stay_in_their_own_sections() -> None:
    items = [
        news("a-news", timedelta(hours=1)),
        event("an-event", NOW + timedelta(days=1)),
        call("a-call", NOW + timedelta(days=1)),
    ]
    result = plan(items)
    assert titles(result.news) == ["a-news"]
    assert titles(result.events) == ["an-event"]
    assert titles(result.calls) == ["a-call"]


def test_the_clock_is_a_parameter() -> None:
    items = [
        news("recent", timedelta(days=1)),
        event("soon", NOW + timedelta(days=2)),
        call("open", NOW + timedelta(days=2)),
    ]
    later = NOW + timedelta(days=40)
    assert plan(items).size == 3
    result = plan(items, now=later)
    # Forty days on, the news is stale, the event is past and the call has closed.
    assert result.size == 0
    assert result.date == later
    assert result.number == 3


def test_ties_are_ordered_by_id_so_plans_are_repeatable() -> None:
    same = NOW + timedelta(days=3)
    first, second = event("first", same), event("second", same)
    assert titles(plan([second, first]).events) == ["first", "second"]
    assert titles(plan([first, second]).events) == ["first", "second"]


def test_an_empty_queue_gives_an_empty_plan() -> None:
    result = plan([])
    assert result.size == 0
    assert result.sections == {"news": (), "events": (), "calls": ()}


def test_compose_counts_are_proper_plurals() -> None:
    from digest.compose.draft import counts_line

    one = IssuePlan(number=1, date=NOW, news=(news("a", timedelta(0)),), calls=(call("c", NOW),))
    assert counts_line(one) == "1 news, 0 events, 1 call"
    two = IssuePlan(
        number=2,
        date=NOW,
        events=(event("e", NOW), event("f", NOW)),
        calls=(call("c", NOW), call("d", NOW)),
    )
    assert counts_line(two) == "0 news, 2 events, 2 calls"
