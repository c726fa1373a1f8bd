"""Keys the application makes once and keeps in the database (`app_keys`), apart from the
operator's settings: a key here must outlive every rotation of `security.secret_key`."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import AppKey
from digest.errors import StorageError

# Hashes the addresses of forgotten people (the suppression list).
SUPPRESSION = "suppression"


def read(session: Session, name: str) -> str | None:
    """The key called `name`, or None while it was never needed."""
    row = session.get(AppKey, name)
    return None if row is None else row.value


def ensure(db: Database, name: str, now: datetime) -> str:
    """The key called `name`, made now (32 random bytes) if it does not exist yet.

    Made in a transaction of its own: when two processes make it at once, the second insert
    breaks the primary key and that process reads the first one's key.
    """
    try:
        with db.session() as session:
            existing = read(session, name)
            if existing is not None:
                return existing
            value = secrets.token_urlsafe(32)
            session.add(AppKey(name=name, value=value, created_at=now))
            return value
    except StorageError as e:
        if not isinstance(e.__cause__, IntegrityError):
            raise
    with db.session() as session:
        made = read(session, name)
        if made is None:
            raise StorageError(f"the application key {name!r} could not be made")
        return made
