"""Choosing what goes into an issue: a pure function of the queue, the settings and the clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from digest.model import IssuePlan, ItemKind, QueuedItem
from digest.settings import ComposeSettings

NEWS_MAX_AGE = timedelta(days=30)


def plan_issue(
    queued: Iterable[QueuedItem], *, number: int, now: datetime, cfg: ComposeSettings
) -> IssuePlan:
    """News newest first; events starting within the look-ahead, soonest first; calls still
    open, nearest deadline first; each section cut to its limit. Past items never appear."""
    items = list(queued)
    horizon = now + timedelta(days=cfg.lookahead_days)
    news = sorted(
        (i for i in items if i.kind is ItemKind.NEWS and i.published_at >= now - NEWS_MAX_AGE),
        key=lambda i: (i.published_at, i.id),
        reverse=True,
    )
    events = sorted(
        (
            i
            for i in items
            if i.kind is ItemKind.EVENT
            and i.event_start is not None
            and now <= i.event_start <= horizon
        ),
        key=lambda i: (i.event_start, i.id),
    )
    calls = sorted(
        (
            i
            for i in items
            if i.kind is ItemKind.CALL and i.deadline is not None and i.deadline >= now
        ),
        key=lambda i: (i.deadline, i.id),
    )
    return IssuePlan(
        number=number,
        date=now,
        news=tuple(news[: cfg.max_news]),
        events=tuple(events[: cfg.max_events]),
        calls=tuple(calls[: cfg.max_calls]),
    )
