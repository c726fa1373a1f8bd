"""What is in an issue, for the editor: its items in order with the decisions about them."""

from __future__ import annotations

from dataclasses import dataclass

from digest.db.engine import Database
from digest.db.issues import issue_edits, latest_issue, placed_items
from digest.model import IssueStatus, ItemEdit, Spotlight
from digest.text import plain_text

SECTION_ORDER = {"news": 0, "events": 1, "calls": 2}


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
    status: IssueStatus
    subject: str
    intro: str
    spotlight: Spotlight | None
    lines: tuple[IssueLine, ...]
    excluded: tuple[int, ...]


def show_issue(db: Database, number: int | None = None) -> IssueView:
    """What is in issue `number` (default: the newest), with the editor's decisions."""
    issue = latest_issue(db, number)
    edits = issue_edits(db, issue.id)
    placed = sorted(
        placed_items(db, issue.id), key=lambda p: (SECTION_ORDER.get(p.section, 9), p.position)
    )
    lines = tuple(
        IssueLine(
            section=p.section,
            position=p.position + 1,
            item_id=p.item.id,
            title=_title(p.item.title, edits.get(p.item.id)),
            notes=_notes(edits.get(p.item.id)),
        )
        for p in placed
    )
    return IssueView(
        number=issue.number,
        status=issue.status,
        subject=issue.subject,
        intro=plain_text(issue.intro),
        spotlight=issue.spotlight,
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
