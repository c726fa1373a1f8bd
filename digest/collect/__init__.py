"""Collecting: fetch every source, parse it, and queue its entries; one bad source never
stops the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from digest.collect.clean import one_line
from digest.db.engine import Database
from digest.db.schema import Source
from digest.errors import CollectError
from digest.model import Entry, Fetched, ParseOptions, SourceKind, SourceRef, SourceReport
from digest.queue import expire_items, store_entries
from digest.settings import Settings

if TYPE_CHECKING:
    from digest.collect.sandbox import ParseSandbox

# The fetcher (httpx) and the parse sandbox are imported by the functions that use them:
# digest.collect.clean, which the renderer needs, must not cost the whole collector.


def source_ref(row: Source) -> SourceRef:
    return SourceRef(
        id=row.id,
        url=row.url,
        name=row.name,
        kind=SourceKind(row.kind),
        etag=row.etag,
        last_modified=row.last_modified,
        dayfirst=row.dayfirst,
        timezone=row.timezone,
    )


def collect(db: Database, settings: Settings, clock: Callable[[], datetime]) -> list[SourceReport]:
    """Fetch all sources concurrently, then queue what each brought; returns one report each."""
    with db.session() as session:
        sources = [source_ref(s) for s in session.scalars(select(Source).order_by(Source.id))]
    from digest.collect.fetch import fetch_all
    from digest.collect.sandbox import ParseSandbox

    results = asyncio.run(fetch_all(sources, settings.collect))
    with ParseSandbox(parse_deadline(settings)) as sandbox:
        reports = [
            _store(db, settings, sandbox, source, result, clock())
            for source, result in zip(sources, results, strict=True)
        ]
    with db.session() as session:
        expire_items(session, clock())
    return reports


def parse_options(source: SourceRef, settings: Settings, now: datetime) -> ParseOptions:
    return ParseOptions(
        kind=source.kind,
        summary_chars=settings.compose.summary_chars,
        dayfirst=source.dayfirst,
        timezone=source.timezone,
        now=now,
        lookahead_days=settings.compose.lookahead_days,
    )


def parse_deadline(settings: Settings) -> float:
    """Parsing one source may take as long as fetching it may: a hostile body gets no more."""
    from digest.collect.fetch import TOTAL_TIMEOUTS

    return settings.collect.timeout_seconds * TOTAL_TIMEOUTS


def check_source(source: SourceRef, settings: Settings, now: datetime) -> list[Entry]:
    """Fetch and parse one source without storing anything; CollectError when it fails."""
    from digest.collect.fetch import fetch_all
    from digest.collect.sandbox import ParseSandbox

    (result,) = asyncio.run(fetch_all([source], settings.collect))
    if isinstance(result, CollectError):
        raise CollectError(f"{source.url}: {result}")
    with ParseSandbox(parse_deadline(settings)) as sandbox:
        return sandbox.parse(result, parse_options(source, settings, now))


def _store(
    db: Database,
    settings: Settings,
    sandbox: ParseSandbox,
    source: SourceRef,
    result: Fetched | CollectError,
    now: datetime,
) -> SourceReport:
    report: SourceReport
    status = result.status if isinstance(result, Fetched) else None
    try:
        if isinstance(result, CollectError):
            raise result
        if result.not_modified:
            report = SourceReport(source=source, status=304)
        else:
            entries = sandbox.parse(result, parse_options(source, settings, now))
            with db.session() as session:
                new, updated = store_entries(session, source.id, entries, now)
            report = SourceReport(
                source=source, status=status, found=len(entries), new=new, updated=updated
            )
    except CollectError as e:
        report = SourceReport(source=source, status=status, error=one_line(str(e), 1000))
    except Exception as e:
        error = one_line(f"unexpected {e.__class__.__name__}: {e}", 1000)
        report = SourceReport(source=source, status=status, error=error)
    _record_health(db, source, result, report, now)
    return report


def _record_health(
    db: Database,
    source: SourceRef,
    result: Fetched | CollectError,
    report: SourceReport,
    now: datetime,
) -> None:
    with db.session() as session:
        row = session.get_one(Source, source.id)
        row.last_fetch_at = now
        row.last_status = report.status
        if report.error:
            row.consecutive_failures += 1
            row.last_error = report.error.splitlines()[0][:1000]
            return
        row.last_success_at = now
        row.consecutive_failures = 0
        row.last_error = None
        if isinstance(result, Fetched) and not result.not_modified:
            row.etag, row.last_modified = result.etag, result.last_modified
            row.items_found = report.found
