"""Choosing what goes into an issue: a pure function of the queue, the editor's decisions,
the settings and the clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.model import IssuePlan, ItemEdit, ItemKind, QueuedItem, Spotlight
from digest.settings import ComposeSettings

NEWS_MAX_AGE = timedelta(days=30)
NO_EDITS: Mapping[int, ItemEdit] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesItem(QueuedItem):
    """The next occurrence of a recurring event, standing for its series in an issue:
    `dates` are the starts of all its occurrences ahead (this one first)."""

    dates: tuple[datetime, ...] = ()


def series_key(item: QueuedItem) -> tuple[str, str, str]:
    """What the occurrences of one recurring event share: a calendar stores each as an item
    of its own (guid `UID#slot`) with the event's title, link and place."""
    return (item.title.casefold(), item.link, (item.location or "").casefold())


def collapse_series(events: Iterable[QueuedItem]) -> list[QueuedItem]:
    """Each series of occurrences as one item, its next occurrence (with every date)."""
    groups: dict[tuple[str, str, str], list[QueuedItem]] = {}
    for event in events:
        groups.setdefault(series_key(event), []).append(event)
    result: list[QueuedItem] = []
    for group in groups.values():
        if len(group) == 1:
            result.append(group[0])
            continue
        group.sort(key=lambda i: (i.event_start or datetime.max, i.id))
        first = group[0]
        fields = {f.name: getattr(first, f.name) for f in dataclasses.fields(first)}
        dates = tuple(i.event_start for i in group if i.event_start is not None)
        result.append(SeriesItem(**fields, dates=dates))
    return result


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
    Past events and closed calls never appear, pinned or not; the occurrences of a recurring
    event are listed once, as their next one (`SeriesItem`). The editor's pins, exclusions,
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
        collapse_series(
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
