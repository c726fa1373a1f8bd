"""Importing subscribers from CSV: streamed, bad rows reported by line, nobody re-activated."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.db.engine import Database
from digest.db.subscriber_import import NewSubscriber, import_batches
from digest.errors import SubscriberError
from subscribers.addresses import clean_name, normalize_address

EMAIL_COLUMNS = ("email", "e-mail", "email address", "mail", "address")
NAME_COLUMNS = ("name", "full name", "first name", "firstname")
BATCH = 1000


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    already: int = 0
    duplicates: int = 0
    suppressed: int = 0
    reactivated: int = 0
    bad: list[BadRow] = field(default_factory=list)


def _rows(
    path: Path, email_column: str | None = None, name_column: str | None = None
) -> Iterator[tuple[int, str, str]]:
    """(line number, address, name) for each data row; the header row names the columns,
    found by their usual names unless the operator maps them."""
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as e:
        raise SubscriberError(f"{path}: cannot be read: {e.strerror}") from e
    with handle:
        try:
            sample = handle.read(8192)
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t|")
        except csv.Error:
            dialect = csv.excel
        except UnicodeDecodeError as e:
            raise SubscriberError(
                f"{path}:{_first_bad_line(path)}: not UTF-8 text ({e.reason})"
            ) from e
        handle.seek(0)
        reader = csv.reader(handle, dialect)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
            emails = (email_column.strip().lower(),) if email_column else EMAIL_COLUMNS
            names = (name_column.strip().lower(),) if name_column else NAME_COLUMNS
            email_col = next((header.index(c) for c in emails if c in header), None)
            if email_col is None:
                raise SubscriberError(
                    f"{path}:1: no email column in the header (expected one of: "
                    f"{', '.join(emails)}; map another with --email-column)"
                )
            name_col = next((header.index(c) for c in names if c in header), None)
            if name_column and name_col is None:
                raise SubscriberError(f"{path}:1: no column {name_column!r} in the header")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                address = row[email_col] if email_col < len(row) else ""
                name = row[name_col] if name_col is not None and name_col < len(row) else ""
                yield line, address, name
        except UnicodeDecodeError as e:
            raise SubscriberError(
                f"{path}:{_first_bad_line(path)}: not UTF-8 text ({e.reason})"
            ) from e
        except csv.Error as e:
            raise SubscriberError(f"{path}:{reader.line_num}: {e}") from e


def _first_bad_line(path: Path) -> int:
    """The number of the first line that is not UTF-8.

    The text reader decodes ahead in chunks, so its position when decoding fails can be
    a hundred lines before the bad byte; the file is scanned again to name the right line.
    """
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def import_csv(
    db: Database,
    path: Path,
    now: datetime,
    *,
    origin: str = "import",
    keys: Sequence[str] = (),
    reactivate: bool = False,
    email_column: str | None = None,
    name_column: str | None = None,
) -> ImportReport:
    """Add the file's valid addresses in one transaction, in batches (memory stays flat).

    Existing subscribers are left as they are, so an unsubscribed, bounced or complained
    address is never re-activated, unless the operator passes `reactivate`; a forgotten
    address (suppressed under one of `keys`) is never added at all.
    """
    report = ImportReport()

    def batches() -> Iterator[list[NewSubscriber]]:
        seen: set[str] = set()
        batch: list[NewSubscriber] = []
        for line, raw, name in _rows(path, email_column, name_column):
            try:
                email = normalize_address(raw)
            except SubscriberError as e:
                report.bad.append(BadRow(line, str(e)))
                continue
            if email in seen:
                report.duplicates += 1
                continue
            seen.add(email)
            batch.append(NewSubscriber(email=email, name=clean_name(name)))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        yield batch

    counts = import_batches(
        db,
        batches(),
        now,
        origin=origin,
        source=f"{origin} {path.name}",
        keys=keys,
        reactivate=reactivate,
    )
    report.added, report.already = counts.added, counts.already
    report.suppressed, report.reactivated = counts.suppressed, counts.reactivated
    return report
