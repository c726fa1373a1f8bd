"""Issues in the database: find one and read it back as a `StoredIssue` or its plan, write the
draft as it is composed and the editor's decisions on it, list the sent ones.
The weekly time an issue is for and its approval gate are in digest.db.weeks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.items import to_queued
from digest.db.schema import Issue, IssueEdit, IssueItem, Item
from digest.errors import ComposeError
from digest.model import (
    ArchivedIssue,
    IssuePlan,
    IssueStatus,
    ItemEdit,
    ItemState,
    PlacedItem,
    Placeholders,
    QueuedItem,
    RenderedIssue,
    Spotlight,
    StoredIssue,
)

# The web version of an issue is public from its first message on (its "view in browser"
# link is in every message); the archive's index and feed list finished issues only.
PUBLIC_STATUSES = (IssueStatus.SENDING, IssueStatus.SENT)


def to_stored(row: Issue) -> StoredIssue:
    return StoredIssue(
        id=row.id,
        number=row.number,
        status=IssueStatus(row.status),
        subject=row.subject,
        preheader=row.preheader,
        html=row.html,
        text=row.text,
        intro=row.intro,
        spotlight=_spotlight(row),
        created_at=row.created_at,
        composed_at=row.composed_at,
        send_started_at=row.send_started_at,
        sent_at=row.sent_at,
        placeholders=Placeholders(row.placeholder_key),
    )


def _spotlight(row: Issue) -> Spotlight | None:
    if not row.spotlight_kind:
        return None
    return Spotlight(
        kind=row.spotlight_kind,
        title=row.spotlight_title,
        text=row.spotlight_text,
        by=row.spotlight_by,
        url=row.spotlight_url,
    )


def _to_edit(row: IssueEdit) -> ItemEdit:
    return ItemEdit(
        item_id=row.item_id,
        pinned=row.pinned,
        excluded=row.excluded,
        position=row.position,
        title=row.title,
        summary=row.summary,
    )


def _numbered(number: int | None) -> Select[Issue]:
    """The query for issue `number`, else for the newest issue."""
    query = select(Issue)
    query = (
        query.where(Issue.number == number)
        if number is not None
        else query.order_by(Issue.number.desc())
    )
    return query.limit(1)


def find_issue(db: Database, number: int | None = None) -> StoredIssue | None:
    """The issue with `number`, else the newest one; None when there is none."""
    with db.session() as session:
        row = session.scalars(_numbered(number)).first()
        return None if row is None else to_stored(row)


def latest_issue(db: Database, number: int | None = None) -> StoredIssue:
    """The issue with `number`, else the newest one; ComposeError when there is none."""
    issue = find_issue(db, number)
    if issue is None:
        raise ComposeError(
            f"there is no issue #{number}"
            if number is not None
            else "there is no issue yet: run `digest issue compose`"
        )
    return issue


def _draft_row(session: Session) -> Issue | None:
    return session.scalars(select(Issue).where(Issue.status == IssueStatus.DRAFT)).first()


def find_draft(db: Database) -> StoredIssue | None:
    """The draft, the one issue that is composed and not sent; None when there is none."""
    with db.session() as session:
        row = _draft_row(session)
        return None if row is None else to_stored(row)


def the_draft(db: Database) -> StoredIssue:
    """The draft; ComposeError when there is none."""
    draft = find_draft(db)
    if draft is None:
        raise ComposeError("there is no draft: run `digest issue compose` first")
    return draft


def sending_numbers(db: Database) -> list[int]:
    """Numbers of the issues still `sending`, oldest first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Issue.number)
                .where(Issue.status == IssueStatus.SENDING)
                .order_by(Issue.number)
            )
        )


def _edits(session: Session, issue_id: int) -> dict[int, ItemEdit]:
    return {
        row.item_id: _to_edit(row)
        for row in session.scalars(select(IssueEdit).where(IssueEdit.issue_id == issue_id))
    }


def issue_edits(db: Database, issue_id: int) -> dict[int, ItemEdit]:
    """The editor's decisions about the items of one issue, by item id."""
    with db.session() as session:
        return _edits(session, issue_id)


def _placed(session: Session, issue_id: int) -> list[PlacedItem]:
    rows = session.execute(
        select(IssueItem.section, IssueItem.position, Item)
        .join(Item, Item.id == IssueItem.item_id)
        .where(IssueItem.issue_id == issue_id)
        .order_by(IssueItem.position)
    ).all()
    return [
        PlacedItem(section=section, position=position, item=to_queued(item))
        for section, position, item in rows
    ]


def placed_items(db: Database, issue_id: int) -> list[PlacedItem]:
    """The items of one issue as stored (without the editor's overrides), by position."""
    with db.session() as session:
        return _placed(session, issue_id)


def stored_plan(db: Database, issue: StoredIssue) -> IssuePlan:
    """The plan an issue was composed from, read back: its items in order, with the
    editor's overrides, intro and spotlight."""
    with db.session() as session:
        edits = _edits(session, issue.id)
        placed = _placed(session, issue.id)
    sections: dict[str, list[QueuedItem]] = {"news": [], "events": [], "calls": []}
    for entry in placed:
        sections[entry.section].append(entry.item.edited(edits.get(entry.item.id)))
    return IssuePlan(
        number=issue.number,
        date=issue.composed_at,
        news=tuple(sections["news"]),
        events=tuple(sections["events"]),
        calls=tuple(sections["calls"]),
        intro=issue.intro,
        spotlight=issue.spotlight,
    )


class DraftWriter:
    """The draft being composed, in one transaction: what composing starts from (the
    queue with the draft's items back in it, the editor's decisions) and `save`."""

    def __init__(self, session: Session, now: datetime) -> None:
        self._session, self.now = session, now
        self._row = _draft_row(session)
        if self._row is not None:
            # Refreshing: the draft's items go back to the queue and are chosen again.
            ids = select(IssueItem.item_id).where(IssueItem.issue_id == self._row.id)
            session.execute(
                update(Item).where(Item.id.in_(ids)).values(state=ItemState.QUEUED, updated_at=now)
            )
            session.execute(delete(IssueItem).where(IssueItem.issue_id == self._row.id))
            self.number = self._row.number
            self.created_at = self._row.created_at
        else:
            self.number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
            self.created_at = now
        self.queued = [
            to_queued(i)
            for i in session.scalars(select(Item).where(Item.state == ItemState.QUEUED))
        ]
        draft = self._row
        self.edits = _edits(session, draft.id) if draft is not None else {}
        self.intro = draft.intro if draft is not None else ""
        self.spotlight = _spotlight(draft) if draft is not None else None

    def save(self, plan: IssuePlan, rendered: RenderedIssue) -> int:
        """Store the rendered draft and its items (now `in_issue`); returns the issue's id."""
        session, now = self._session, self.now
        draft = self._row
        if draft is None:
            draft = Issue(
                number=plan.number,
                created_at=now,
                status=IssueStatus.DRAFT,
                subject="",
                composed_at=now,
            )
            session.add(draft)
            self._row = draft
        draft.subject, draft.preheader = rendered.subject, rendered.preheader
        draft.html, draft.text, draft.composed_at = rendered.html, rendered.text, now
        draft.placeholder_key = rendered.placeholders.key
        session.flush()
        for section, items in plan.sections.items():
            for position, item in enumerate(items):
                session.add(
                    IssueItem(
                        issue_id=draft.id, item_id=item.id, section=section, position=position
                    )
                )
        chosen = [i.id for items in plan.sections.values() for i in items]
        session.execute(
            update(Item).where(Item.id.in_(chosen)).values(state=ItemState.IN_ISSUE, updated_at=now)
        )
        return draft.id


@contextmanager
def drafting(db: Database, now: datetime) -> Iterator[DraftWriter]:
    """The draft to compose (the existing one, refreshed, or the next number); committed
    when the block ends, rolled back (the queue untouched) when it raises."""
    with db.session() as session:
        yield DraftWriter(session, now)


def save_item_edit(db: Database, issue_id: int, edit: ItemEdit) -> None:
    """Store the editor's decision about one item of an issue (replacing an earlier one)."""
    with db.session() as session:
        row = session.get(IssueEdit, (issue_id, edit.item_id))
        if row is None:
            row = IssueEdit(issue_id=issue_id, item_id=edit.item_id)
            session.add(row)
        row.pinned, row.excluded, row.position = edit.pinned, edit.excluded, edit.position
        row.title, row.summary = edit.title, edit.summary


def save_intro(db: Database, issue_id: int, intro: str) -> None:
    with db.session() as session:
        session.get_one(Issue, issue_id).intro = intro


def save_spotlight(db: Database, issue_id: int, spotlight: Spotlight | None) -> None:
    """The issue's spotlight block; None removes it."""
    with db.session() as session:
        row = session.get_one(Issue, issue_id)
        row.spotlight_kind = spotlight.kind if spotlight else ""
        row.spotlight_title = spotlight.title if spotlight else ""
        row.spotlight_text = spotlight.text if spotlight else ""
        row.spotlight_by = spotlight.by if spotlight else ""
        row.spotlight_url = spotlight.url if spotlight else ""


def sent_issues(db: Database) -> list[ArchivedIssue]:
    """Every sent issue, newest first."""
    with db.session() as session:
        rows = session.scalars(
            select(Issue).where(Issue.status == IssueStatus.SENT).order_by(Issue.number.desc())
        )
        return [
            ArchivedIssue(
                number=row.number,
                subject=row.subject,
                preheader=row.preheader,
                sent_at=row.sent_at or row.send_started_at or row.composed_at,
            )
            for row in rows
        ]


def public_html(db: Database, number: int) -> tuple[str, Placeholders] | None:
    """The stored HTML of issue `number` once it is going out, and the markers it holds;
    None for a draft or no issue."""
    with db.session() as session:
        row = session.scalars(
            select(Issue).where(Issue.number == number, Issue.status.in_(PUBLIC_STATUSES))
        ).first()
        return (row.html, Placeholders(row.placeholder_key)) if row is not None else None


def preview_inputs(db: Database, number: int | None) -> str:
    """A text that changes when the queue, issue `number` (else the newest) or its edits
    change: what the editor's preview compares to know when to compose again."""
    with db.session() as session:
        items = session.execute(
            select(func.count(Item.id), func.max(Item.id), func.max(Item.updated_at))
        ).one()
        parts = [repr(tuple(items))]
        issue = session.scalars(_numbered(number)).first()
        if issue is not None:
            parts.append(
                repr(
                    (
                        issue.id,
                        issue.number,
                        issue.status,
                        issue.composed_at,
                        issue.subject,
                        issue.preheader,
                        issue.html,
                        issue.text,
                    )
                )
            )
            edits = session.execute(
                select(
                    IssueEdit.item_id,
                    IssueEdit.pinned,
                    IssueEdit.excluded,
                    IssueEdit.position,
                    IssueEdit.title,
                    IssueEdit.summary,
                )
                .where(IssueEdit.issue_id == issue.id)
                .order_by(IssueEdit.item_id)
            ).all()
            parts.append(repr([tuple(e) for e in edits]))
    return "".join(parts)
