"""Sources in the database: registered, edited, disabled or removed, listed with their health,
and how each fetch went recorded; rows read back as `SourceRef` and `SourceHealth`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import Item, Source
from digest.errors import CollectError
from digest.model import ItemState, SourceHealth, SourceKind, SourceRef
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
    """Every enabled source (the ones to collect), in the order they were added."""
    with db.session() as session:
        rows = session.scalars(select(Source).where(Source.enabled).order_by(Source.id))
        return [to_ref(row) for row in rows]


def disabled_ids(db: Database) -> set[int]:
    """The ids of the sources an operator disabled."""
    with db.session() as session:
        return set(session.scalars(select(Source.id).where(~Source.enabled)))


def _find(session: Session, key: str) -> Source:
    """The source with id or URL `key` (in any spelling); CollectError when there is none."""
    if key.isdigit():
        row = session.get(Source, int(key))
        if row is not None:
            return row
    else:
        wanted = _same_feed(key)
        for row in session.scalars(select(Source)):
            if row.url == key or _same_feed(row.url) == wanted:
                return row
    raise CollectError(f"no source {key} (see `digest sources list`)")


def find_source(db: Database, key: str) -> SourceHealth:
    """The source with id or URL `key`; CollectError when there is none."""
    with db.session() as session:
        return to_health(_find(session, key))


def set_enabled(db: Database, key: str, enabled: bool) -> SourceRef:
    """Enable or disable the source with id or URL `key`."""
    with db.session() as session:
        row = _find(session, key)
        row.enabled = enabled
        return to_ref(row)


def update_source(
    db: Database,
    key: str,
    *,
    name: str | None = None,
    kind: SourceKind | None = None,
    dayfirst: bool | None = None,
    timezone: str | None = None,
) -> SourceRef:
    """Change what is given of a source's name, kind, day order and time zone. A changed
    reading (kind, day order, zone) forgets the validators, so the next collect re-reads the
    whole feed."""
    with db.session() as session:
        row = _find(session, key)
        reread = False
        if name is not None:
            row.name = name
        if kind is not None and kind != row.kind:
            row.kind, reread = kind, True
        if dayfirst is not None and dayfirst != row.dayfirst:
            row.dayfirst, reread = dayfirst, True
        if timezone is not None and timezone != row.timezone:
            row.timezone, reread = timezone, True
        if reread:
            row.etag = row.last_modified = None
        return to_ref(row)


def remove_source(db: Database, key: str, now: datetime) -> tuple[SourceRef, int]:
    """Delete a source. Its items still waiting in the queue are rejected (`items restore`
    brings one back); items in a draft or already published stay, without a source.
    Returns the source and how many queued items were rejected."""
    with db.session() as session:
        row = _find(session, key)
        ref = to_ref(row)
        result = session.execute(
            update(Item)
            .where(Item.source_id == row.id, Item.state == ItemState.QUEUED)
            .values(state=ItemState.REJECTED, updated_at=now)
        )
        rejected = getattr(result, "rowcount", 0)
        session.execute(update(Item).where(Item.source_id == row.id).values(source_id=None))
        session.delete(row)
        return ref, int(rejected or 0)


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
