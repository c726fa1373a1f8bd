"""Collecting: fetch every source, parse it, and queue its entries; one bad source never
stops the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from digest.collect.clean import one_line
from digest.db.engine import Database
from digest.db.items import expire_items, store_entries
from digest.db.sources import FetchOutcome, record_fetch, source_refs
from digest.errors import CollectError
from digest.model import Entry, Fetched, ParseOptions, SourceRef, SourceReport
from digest.settings import Settings

if TYPE_CHECKING:
    from digest.collect.sandbox import ParseSandbox

# The fetcher (httpx) and the parse sandbox are imported by the functions that use them:
# digest.collect.clean, which the renderer needs, must not cost the whole collector.

LOG = logging.getLogger(__name__)


def internal_error(error: BaseException) -> str:
    """The one line for an exception no check expected: a bug or an exotic failure, said
    apart from what a hostile or broken feed causes (a CollectError's own text)."""
    return one_line(f"internal error: {error.__class__.__name__}: {error}", 1000)


def collect(db: Database, settings: Settings, clock: Callable[[], datetime]) -> list[SourceReport]:
    """Fetch all sources concurrently, then queue what each brought; returns one report each."""
    sources = source_refs(db)
    from digest.collect.fetch import fetch_all
    from digest.collect.sandbox import ParseSandbox

    results = asyncio.run(fetch_all(sources, settings.collect))
    with ParseSandbox(parse_deadline(settings)) as sandbox:
        reports = [
            _store(db, settings, sandbox, source, result, clock())
            for source, result in zip(sources, results, strict=True)
        ]
    expire_items(db, clock())
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
            new, updated = store_entries(db, source.id, entries, now)
            report = SourceReport(
                source=source, status=status, found=len(entries), new=new, updated=updated
            )
    except CollectError as e:
        report = SourceReport(source=source, status=status, error=one_line(str(e), 1000))
    except Exception as e:
        # One source's bug must not stop the others: the operator gets the one line, the
        # log the traceback (shown by `digest --debug collect` and in the scheduler's log).
        LOG.error("%s: internal error while collecting", source.url, exc_info=True)
        report = SourceReport(source=source, status=status, error=internal_error(e))
    new_body = isinstance(result, Fetched) and not result.not_modified
    record_fetch(
        db,
        source.id,
        FetchOutcome(
            status=report.status,
            error=report.error,
            found=report.found,
            new_body=new_body,
            etag=result.etag if isinstance(result, Fetched) else None,
            last_modified=result.last_modified if isinstance(result, Fetched) else None,
        ),
        now,
    )
    return report
