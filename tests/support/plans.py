"""A fixed issue plan: three news items, two events, a call, an intro and a spotlight, dated
around `DATE`, for tests that render or lint a known issue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.model import IssuePlan, ItemKind, QueuedItem, Spotlight

DATE = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)


def fixed_plan() -> IssuePlan:
    def at(days: int) -> datetime:
        return DATE + timedelta(days=days)

    news = tuple(
        QueuedItem(
            id=n,
            kind=ItemKind.NEWS,
            title=title,
            link=f"https://example.org/news/{n}",
            summary=summary,
            published_at=at(-n),
        )
        for n, (title, summary) in enumerate(
            [
                (
                    "Ports & hydrogen: a partnership <signed>",
                    '<p>Seven clusters agree to <a href="https://example.org/p">pool</a> '
                    "tests.</p>",
                ),
                (
                    'Survey: 71% of clusters assess "digital readiness"',
                    "<p>Most members now get an assessment.</p><p>Few have a data advisor.</p>",
                ),
                ("A story with no summary", ""),
            ],
            start=1,
        )
    )
    events = (
        QueuedItem(
            id=10,
            kind=ItemKind.EVENT,
            title="Regions Forum",
            link="https://example.org/e/10",
            summary="",
            published_at=at(-1),
            event_start=at(12),
            event_end=at(13),
            location="Porto, Portugal",
        ),
        QueuedItem(
            id=11,
            kind=ItemKind.EVENT,
            title="Webinar: Green skills",
            link="https://example.org/e/11",
            summary="",
            published_at=at(-1),
            event_start=at(30),
            location=None,
        ),
    )
    calls = (
        QueuedItem(
            id=20,
            kind=ItemKind.CALL,
            title="Digital Innovation Hubs call",
            link="https://example.org/c/20",
            summary="",
            published_at=at(-2),
            deadline=at(21),
        ),
    )
    return IssuePlan(
        number=42,
        date=DATE,
        news=news,
        events=events,
        calls=calls,
        intro="<p>Welcome to issue 42.</p>",
        spotlight=Spotlight(
            kind="quote",
            text="Clusters are how regions learn.",
            by="A. Member",
            url="https://example.org/q",
        ),
    )
