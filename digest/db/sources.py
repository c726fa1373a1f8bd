"""Sources in the database: registered, listed with their health, and how each fetch went
recorded; rows read back as `SourceRef` and `SourceHealth`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Source
from digest.errors import CollectError
from digest.model import SourceHealth, SourceKind, SourceRef
from digest.net import normalize_url


def to_ref(row: Source) -> SourceRef:
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


def to_health(row: Source) -> SourceHealth:
    return SourceHealth(
        source=to_ref(row),
        created_at=row.created_at,
        last_fetch_at=row.last_fetch_at,
        last_success_at=row.last_success_at,
        last_status=row.last_status,
        items_found=row.items_found,
        consecutive_failures=row.consecutive_failures,
        last_error=row.last_error,
    )


def insert_source(
    db: Database,
    *,
    url: str,
    kind: SourceKind,
    name: str,
    now: datetime,
    dayfirst: bool,
    timezone: str,
) -> SourceRef:
    """A new source; CollectError when `url` is a source already, in any spelling (sources
    added before URLs were normalized may be stored as they were typed)."""
    key = _same_feed(url)
    with db.session() as session:
        for source_id, existing in session.execute(select(Source.id, Source.url)):
            if existing == url or _same_feed(existing) == key:
                raise CollectError(f"{url} is already a source (#{source_id}, {existing})")
        row = Source(
            url=url,
            kind=kind,
            name=name,
            dayfirst=dayfirst,
            timezone=timezone,
            created_at=now,
            items_found=0,
            consecutive_failures=0,
        )
        session.add(row)
        session.flush()
        return to_ref(row)


def _same_feed(url: str) -> str:
    try:
        return normalize_url(url)
    except ValueError:
        return url


def source_refs(db: Database) -> list[SourceRef]:
    """Every source, in the order they were added."""
    with db.session() as session:
        return [to_ref(row) for row in session.scalars(select(Source).order_by(Source.id))]


def list_sources(db: Database) -> list[SourceHealth]:
    """Every source and how its fetches went, in the order they were added."""
    with db.session() as session:
        return [to_health(row) for row in session.scalars(select(Source).order_by(Source.id))]


def get_source(db: Database, source_id: int) -> SourceHealth:
    with db.session() as session:
        return to_health(session.get_one(Source, source_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOutcome:
    """How one fetch of a source went, as its health records it."""

    status: int | None
    error: str | None = None
    found: int = 0
    # The validators for the next conditional GET; only a fetch with a new body has them.
    new_body: bool = False
    etag: str | None = None
    last_modified: str | None = None


def record_fetch(db: Database, source_id: int, outcome: FetchOutcome, now: datetime) -> None:
    """A failure counts towards `failing`; a success resets the count."""
    with db.session() as session:
        row = session.get_one(Source, source_id)
        row.last_fetch_at = now
        row.last_status = outcome.status
        if outcome.error:
            row.consecutive_failures += 1
            row.last_error = outcome.error.splitlines()[0][:1000]
            return
        row.last_success_at = now
        row.consecutive_failures = 0
        row.last_error = None
        if outcome.new_body:
            row.etag, row.last_modified = outcome.etag, outcome.last_modified
            row.items_found = outcome.found
