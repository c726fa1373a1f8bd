"""Registering and listing sources."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Source
from digest.errors import CollectError
from digest.model import SourceKind

FAILING_AFTER = 3


def add_source(
    db: Database,
    url: str,
    kind: SourceKind,
    name: str,
    now: datetime,
    *,
    dayfirst: bool = True,
    timezone: str = "UTC",
) -> Source:
    """Register a feed; the URL must be http(s) and not registered yet."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CollectError(f"unknown time zone {timezone!r}") from None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CollectError(f"{url!r} is not an http(s) URL")
    with db.session() as session:
        if session.scalars(select(Source).where(Source.url == url.strip())).first():
            raise CollectError(f"{url} is already a source")
        source = Source(
            url=url.strip(),
            kind=kind,
            name=name or parts.netloc,
            dayfirst=dayfirst,
            timezone=timezone,
            created_at=now,
            items_found=0,
            consecutive_failures=0,
        )
        session.add(source)
        session.flush()
        return source


def list_sources(db: Database) -> list[Source]:
    with db.session() as session:
        return list(session.scalars(select(Source).order_by(Source.id)))


def health(source: Source) -> str:
    """One word for the operator: new, ok, failing (after repeated failures) or error."""
    if source.last_fetch_at is None:
        return "new"
    if source.consecutive_failures >= FAILING_AFTER:
        return "failing"
    return "error" if source.consecutive_failures else "ok"
