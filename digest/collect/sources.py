"""Source management: register a feed after checking its URL and time zone, list the
sources with a one-word health for the operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.db import sources as repository
from digest.db.engine import Database
from digest.errors import CollectError
from digest.model import SourceHealth, SourceKind, SourceRef
from digest.net import AddressPolicy, normalize_url

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
    allow_hosts: Sequence[str] | None = None,
) -> SourceRef:
    """Register a feed; the URL must be http(s) and not registered yet in any spelling
    (digest.net.normalize_url); it is stored normalized. With `allow_hosts` (the setting
    collect.allow_hosts), a host that resolves to an address the collector would refuse is
    refused now."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CollectError(f"unknown time zone {timezone!r}") from None
    try:
        # One spelling per feed: `HTTP://Example.org:80/feed` is `http://example.org/feed`.
        normal = normalize_url(url)
    except ValueError:
        raise CollectError(f"{url!r} is not an http(s) URL") from None
    parts = urlsplit(normal)
    if allow_hosts is not None:
        # Said now rather than at every collect: the fetch refuses it anyway.
        from digest.collect.guard import address_refusal

        refusal = address_refusal(normal, AddressPolicy.allowing(allow_hosts))
        if refusal:
            raise CollectError(f"{normal}: refused: {refusal}")
    return repository.insert_source(
        db,
        url=normal,
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
