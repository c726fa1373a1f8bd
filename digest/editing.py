"""The editor's controls on the draft: pin, exclude, move, retitle, an intro, a spotlight.

Each change is stored with the draft and the draft is composed again at once, so what the
preview shows is always what would be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from digest.collect.clean import plain_text, sanitize_summary
from digest.db.engine import Database
from digest.db.schema import Issue, IssueEdit, IssueItem, Item
from digest.errors import ComposeError, ItemError
from digest.issues import ComposedIssue, compose_issue, draft_edits, latest_issue, spotlight_of
from digest.model import ItemEdit, ItemState, Spotlight
from digest.settings import Settings

SPOTLIGHT_KINDS = ("quote", "interview", "link")
UNSET: Any = object()


def _draft(db: Database) -> Issue:
    with db.session() as session:
        draft = session.scalars(select(Issue).where(Issue.status == "draft")).first()
    if draft is None:
        raise ComposeError("there is no draft: run `digest issue compose` first")
    return draft


def edit_item(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    item_id: int,
    *,
    pinned: bool | None = None,
    excluded: bool | None = None,
    position: int | None = UNSET,
    title: str | None = UNSET,
    summary: str | None = UNSET,
) -> ComposedIssue:
    """Change the editor's decision about one item in the draft, then refresh the draft.
    `None` for title, summary or position removes that override."""
    draft = _draft(db)
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise ItemError(f"there is no item {item_id}")
        if pinned and item.state not in (ItemState.QUEUED, ItemState.IN_ISSUE):
            raise ItemError(f"item {item_id} is {item.state}; only queued items can be pinned")
        edit = session.get(IssueEdit, (draft.id, item_id))
        if edit is None:
            edit = IssueEdit(issue_id=draft.id, item_id=item_id, pinned=False, excluded=False)
            session.add(edit)
        if pinned is not None:
            edit.pinned = pinned
        if excluded is not None:
            edit.excluded = excluded
        if position is not UNSET:
            if position is not None and position < 1:
                raise ItemError("positions start at 1")
            edit.position = position
        if title is not UNSET:
            edit.title = plain_text(title) if title else None
        if summary is not UNSET:
            edit.summary = (
                sanitize_summary(summary, settings.compose.summary_chars) if summary else None
            )
    return compose_issue(db, settings, clock)


def set_intro(
    db: Database, settings: Settings, clock: Callable[[], datetime], text: str
) -> ComposedIssue:
    """The editorial introduction at the top of the draft (simple HTML allowed)."""
    draft = _draft(db)
    with db.session() as session:
        row = session.get_one(Issue, draft.id)
        row.intro = sanitize_summary(text, 2000) if text.strip() else ""
    return compose_issue(db, settings, clock)


def set_spotlight(
    db: Database, settings: Settings, clock: Callable[[], datetime], spotlight: Spotlight | None
) -> ComposedIssue:
    """A quote, an interview or a link block in the draft; None removes it."""
    if spotlight is not None:
        if spotlight.kind not in SPOTLIGHT_KINDS:
            raise ItemError(f"spotlight kind must be one of {', '.join(SPOTLIGHT_KINDS)}")
        if not spotlight.text.strip() and not spotlight.title.strip():
            raise ItemError("a spotlight needs a title or a text")
        if spotlight.url and urlsplit(spotlight.url).scheme not in ("http", "https"):
            raise ItemError(f"spotlight url must be http(s), not {spotlight.url!r}")
    draft = _draft(db)
    with db.session() as session:
        row = session.get_one(Issue, draft.id)
        row.spotlight_kind = spotlight.kind if spotlight else ""
        row.spotlight_title = plain_text(spotlight.title) if spotlight else ""
        row.spotlight_text = plain_text(spotlight.text) if spotlight else ""
        row.spotlight_by = plain_text(spotlight.by) if spotlight else ""
        row.spotlight_url = spotlight.url.strip() if spotlight else ""
    return compose_issue(db, settings, clock)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueLine:
    section: str
    position: int
    item_id: int
    title: str
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueView:
    number: int
    status: str
    subject: str
    intro: str
    spotlight: Spotlight | None
    lines: tuple[IssueLine, ...]
    excluded: tuple[int, ...]


def show_issue(db: Database, number: int | None = None) -> IssueView:
    """What is in issue `number` (default: the newest), with the editor's decisions."""
    issue = latest_issue(db, number)
    with db.session() as session:
        edits = draft_edits(session, issue.id)
        rows = session.execute(
            select(IssueItem.section, IssueItem.position, Item.id, Item.title)
            .join(Item, Item.id == IssueItem.item_id)
            .where(IssueItem.issue_id == issue.id)
            .order_by(IssueItem.section, IssueItem.position)
        ).all()
    order = {"news": 0, "events": 1, "calls": 2}
    lines = tuple(
        IssueLine(
            section=r.section,
            position=r.position + 1,
            item_id=r.id,
            title=_title(r.title, edits.get(r.id)),
            notes=_notes(edits.get(r.id)),
        )
        for r in sorted(rows, key=lambda r: (order.get(r.section, 9), r.position))
    )
    return IssueView(
        number=issue.number,
        status=issue.status,
        subject=issue.subject,
        intro=plain_text(issue.intro),
        spotlight=spotlight_of(issue),
        lines=lines,
        excluded=tuple(i for i, e in edits.items() if e.excluded),
    )


def _title(title: str, edit: ItemEdit | None) -> str:
    return edit.title if edit is not None and edit.title else title


def _notes(edit: ItemEdit | None) -> tuple[str, ...]:
    if edit is None:
        return ()
    notes = [
        name
        for name, on in (
            ("pinned", edit.pinned),
            ("title edited", bool(edit.title)),
            ("summary edited", bool(edit.summary)),
            (f"placed at {edit.position}", edit.position is not None),
        )
        if on
    ]
    return tuple(notes)
