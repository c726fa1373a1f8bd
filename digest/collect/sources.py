"""Source management: register a feed after checking its URL and time zone, list the
sources with a one-word health for the operator."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.db import sources as repository
from digest.db.engine import Database
from digest.errors import CollectError
from digest.model import SourceHealth, SourceKind, SourceRef

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
) -> SourceRef:
    """Register a feed; the URL must be http(s) and not registered yet."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CollectError(f"unknown time zone {timezone!r}") from None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CollectError(f"{url!r} is not an http(s) URL")
    return repository.insert_source(
        db,
        url=url.strip(),
        kind=kind,
        name=name or parts.netloc,
        now=now,
        dayfirst=dayfirst,
        timezone=timezone,
    )


def health(source: SourceHealth) -> str:
    """One word for the operator: new, ok, failing (after repeated failures) or error."""
    if source.last_fetch_at is None:
        return "new"
    if source.consecutive_failures >= FAILING_AFTER:
        return "failing"
    return "error" if source.consecutive_failures else "ok"
