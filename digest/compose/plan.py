"""Choosing what goes into an issue: a pure function of the queue, the editor's decisions,
the settings and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from digest.model import IssuePlan, ItemEdit, ItemKind, QueuedItem, Spotlight
from digest.settings import ComposeSettings

NEWS_MAX_AGE = timedelta(days=30)
NO_EDITS: Mapping[int, ItemEdit] = {}


def plan_issue(
    queued: Iterable[QueuedItem],
    *,
    number: int,
    now: datetime,
    cfg: ComposeSettings,
    edits: Mapping[int, ItemEdit] = NO_EDITS,
    intro: str = "",
    spotlight: Spotlight | None = None,
) -> IssuePlan:
    """News newest first (at most 30 days old); events starting within the look-ahead,
    soonest first; calls still open, nearest deadline first; each section cut to its limit.
    Past events and closed calls never appear, pinned or not. The editor's pins, exclusions,
    places and overrides are applied on top."""
    items = [i for i in queued if not edits.get(i.id, ItemEdit(item_id=i.id)).excluded]
    horizon = now + timedelta(days=cfg.lookahead_days)

    def pinned(item: QueuedItem) -> bool:
        return item.id in edits and edits[item.id].pinned

    news = _section(
        (
            i
            for i in items
            if i.kind is ItemKind.NEWS and (i.published_at >= now - NEWS_MAX_AGE or pinned(i))
        ),
        key=lambda i: (-i.published_at.timestamp(), -i.id),
        limit=cfg.max_news,
        edits=edits,
    )
    events = _section(
        (
            i
            for i in items
            if i.kind is ItemKind.EVENT
            and i.event_start is not None
            and now <= i.event_start <= horizon
        ),
        key=lambda i: (i.event_start.timestamp() if i.event_start else 0.0, i.id),
        limit=cfg.max_events,
        edits=edits,
    )
    calls = _section(
        (
            i
            for i in items
            if i.kind is ItemKind.CALL and i.deadline is not None and i.deadline >= now
        ),
        key=lambda i: (i.deadline.timestamp() if i.deadline else 0.0, i.id),
        limit=cfg.max_calls,
        edits=edits,
    )
    return IssuePlan(
        number=number,
        date=now,
        news=news,
        events=events,
        calls=calls,
        intro=intro,
        spotlight=spotlight,
    )


def _section(
    candidates: Iterable[QueuedItem],
    *,
    key: Callable[[QueuedItem], tuple[float, int]],
    limit: int,
    edits: Mapping[int, ItemEdit],
) -> tuple[QueuedItem, ...]:
    ordered = sorted(candidates, key=key)
    pins = {i.id for i in ordered if i.id in edits and edits[i.id].pinned}
    room = max(limit - len(pins), 0)
    others = [i.id for i in ordered if i.id not in pins][:room]
    keep = pins | set(others)
    chosen = [i for i in ordered if i.id in keep]
    # Items the editor placed go to their place; the others keep the natural order around them.
    placed = sorted(
        (i for i in chosen if i.id in edits and edits[i.id].position is not None),
        key=lambda i: edits[i.id].position or 0,
    )
    result = [i for i in chosen if i not in placed]
    for item in placed:
        position = edits[item.id].position or 1
        result.insert(min(max(position - 1, 0), len(result)), item)
    return tuple(i.edited(edits.get(i.id)) for i in result)
