"""Source management: register a feed after checking its URL and time zone (and, for the
CLI, fetching it once), list the sources with a one-word health for the operator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.db import sources as repository
from digest.db.engine import Database
from digest.errors import CollectError
from digest.model import SourceHealth, SourceKind, SourceRef
from digest.net import AddressPolicy, normalize_url

if TYPE_CHECKING:
    from digest.settings import Settings

FAILING_AFTER = 3


def http_url(url: str) -> str:
    """`url` normalized; CollectError (one line) when it is not an http(s) URL."""
    try:
        return normalize_url(url)
    except ValueError:
        raise CollectError(f"{url!r} is not an http(s) URL") from None


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CollectError(f"unknown time zone {timezone!r}") from None
    return timezone


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedCheck:
    """What fetching a new source's URL once found: the feed's URL (an HTML page's
    advertised feed when it named one) and what to tell the operator."""

    url: str
    notes: tuple[str, ...] = ()


def check_feed(url: str, kind: SourceKind, settings: Settings, now: datetime) -> FeedCheck:
    """Fetch `url` once as `sources add` does: CollectError when the server answers with an
    HTTP error or the body is not a feed (an HTML page that names its feed in
    <link rel="alternate"> is followed to it, once). A server that cannot be reached now
    is only noted: it may be down for a moment, and `collect` will say so."""
    import asyncio

    from digest.collect import parse_deadline, parse_options
    from digest.collect.fetch import fetch_all
    from digest.collect.sandbox import ParseSandbox
    from digest.collect.sniff import advertised_feed, looks_like_html
    from digest.model import Fetched

    notes: list[str] = []
    for _ in range(2):
        source = SourceRef(id=0, url=url, name=url, kind=kind)
        (fetched,) = asyncio.run(fetch_all([source], settings.collect))
        if isinstance(fetched, CollectError):
            if str(fetched).startswith("HTTP "):
                raise CollectError(f"{url}: {fetched}")
            return FeedCheck(url=url, notes=(*notes, f"could not check {url} now: {fetched}"))
        assert isinstance(fetched, Fetched)
        if looks_like_html(fetched):
            feed = advertised_feed(fetched)
            if feed is None or notes:
                raise CollectError(f"{url}: not a feed: an HTML page that names no feed")
            notes.append(f"{url} is an HTML page; it names its feed at {feed}: using that")
            url = http_url(feed)
            continue
        try:
            with ParseSandbox(parse_deadline(settings)) as sandbox:
                sandbox.parse(fetched, parse_options(source, settings, now))
        except CollectError as e:
            raise CollectError(f"{url}: {e}") from None
        return FeedCheck(url=url, notes=tuple(notes))
    raise CollectError(f"{url}: not a feed")  # not reached: the loop returns or raises


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
    check_timezone(timezone)
    # One spelling per feed: `HTTP://Example.org:80/feed` is `http://example.org/feed`.
    normal = http_url(url)
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
