"""Editors' items: typed on the command line or imported from a YAML or CSV file, and the
editor's decisions on queued items (reject, restore)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from digest.collect.parse import entry_from_text
from digest.db.engine import Database
from digest.db.items import reject_item, restore_item, store_entries
from digest.errors import ItemError
from digest.model import Entry, ItemKind, ItemState, ParseOptions, SourceKind
from digest.settings import Settings
from digest.text import parse_datetime

KIND_TO_SOURCE = {
    ItemKind.NEWS: SourceKind.NEWS,
    ItemKind.EVENT: SourceKind.EVENTS,
    ItemKind.CALL: SourceKind.CALLS,
}
FIELDS = ("kind", "title", "url", "summary", "date", "end", "deadline", "location")


@dataclass(frozen=True, slots=True, kw_only=True)
class EditorItem:
    """One item as an editor writes it; dates are text in the editor's own format."""

    kind: ItemKind
    title: str
    url: str
    summary: str = ""
    date: str = ""  # news: published; event: start
    end: str = ""  # event end
    deadline: str = ""  # call deadline
    location: str = ""


def editor_item(values: Mapping[str, Any]) -> EditorItem:
    """Check one item's fields; ItemError says what is wrong."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ItemError(
            f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}"
        )
    text = {k: "" if values.get(k) is None else str(values.get(k)).strip() for k in FIELDS}
    try:
        kind = ItemKind(text["kind"])
    except ValueError:
        raise ItemError(f"kind must be news, event or call, not {text['kind']!r}") from None
    if not text["title"]:
        raise ItemError("title is missing")
    parts = urlsplit(text["url"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ItemError(f"url must be an http(s) link, not {text['url']!r}")
    for name in ("date", "end", "deadline"):
        if text[name] and parse_datetime(text[name]) is None:
            raise ItemError(f"{name} {text[name]!r} is not a date")
    return EditorItem(
        kind=kind,
        title=text["title"],
        url=text["url"],
        summary=text["summary"],
        date=text["date"],
        end=text["end"],
        deadline=text["deadline"],
        location=text["location"],
    )


def to_entry(item: EditorItem, settings: Settings) -> Entry:
    """The same normalizing as feed entries: plain titles, sanitized summaries, UTC dates,
    and a flag for the editor when an event or call has no date. Editors write dates day
    first, in the newsletter's time zone."""
    dayfirst, timezone = True, settings.newsletter.timezone
    summary_chars = settings.compose.summary_chars
    options = ParseOptions(
        kind=KIND_TO_SOURCE[item.kind],
        summary_chars=summary_chars,
        dayfirst=dayfirst,
        timezone=timezone,
    )
    is_news = item.kind is ItemKind.NEWS
    published = parse_datetime(item.date, dayfirst=dayfirst, tz=timezone) if is_news else None
    return entry_from_text(
        options,
        title=item.title,
        link=item.url,
        body=item.summary,
        published_at=published,
        start=item.date or None,
        end=item.end or None,
        location=item.location or None,
        deadline=item.deadline or None,
    )


@dataclass(slots=True)
class ImportReport:
    new: int = 0
    updated: int = 0
    flagged: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def read_items(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line or position, fields) for each item of a .yaml/.yml or .csv file."""
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            with path.open(encoding="utf-8") as handle:
                document = yaml.safe_load(handle)
            if isinstance(document, dict) and "items" in document:
                document = document["items"]
            if not isinstance(document, list):
                raise ItemError(f"{path}: expected a list of items")
            for number, value in enumerate(document, start=1):
                yield number, value if isinstance(value, dict) else {"title": value}
        elif path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                for row in reader:
                    yield reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}
        else:
            raise ItemError(f"{path}: use a .yaml, .yml or .csv file")
    except OSError as e:
        raise ItemError(f"{path}: cannot be read: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ItemError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from e
    except (UnicodeDecodeError, csv.Error) as e:
        raise ItemError(f"{path}: cannot be read as UTF-8 CSV: {e}") from e


def add_items(db: Database, entries: list[Entry], now: datetime) -> tuple[int, int]:
    """Queue editors' entries as a source's are (no source): returns (new, updated)."""
    return store_entries(db, None, entries, now)


def import_items(db: Database, path: Path, now: datetime, settings: Settings) -> ImportReport:
    """All good items of the file in one transaction; each bad one reported with its place."""
    report = ImportReport()
    entries = []
    label = "line" if path.suffix.lower() == ".csv" else "item"
    for position, values in read_items(path):
        try:
            entry = to_entry(editor_item(values), settings)
        except ItemError as e:
            report.bad.append(f"{path}:{label} {position}: {e}")
            continue
        if entry.needs_review:
            report.flagged.append(f"{path}:{label} {position}: {entry.title}: {entry.needs_review}")
        entries.append(entry)
    report.new, report.updated = add_items(db, entries, now)
    return report


def set_state(db: Database, item_id: int, state: ItemState, now: datetime) -> str:
    """Reject or restore an item; returns a line for the editor."""
    if state is ItemState.REJECTED:
        rejected = reject_item(db, item_id, now)
        if rejected.draft_number is not None:
            return (
                f"rejected item {item_id}; it was in draft #{rejected.draft_number}: run "
                "`digest issue compose` to refresh the draft"
            )
        return f"rejected item {item_id}: {rejected.item.title}"
    restored = restore_item(db, item_id, now)
    return f"restored item {item_id} to the queue: {restored.title}"
