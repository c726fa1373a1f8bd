"""The daemon's view of issues: the weekly time (schedule.send_cron) each is made for, one
issue a week at most (a unique column), and the approval gate: held, approved, proof sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import Issue
from digest.errors import ComposeError
from digest.model import IssueStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekIssue:
    """An issue as the daemon's weekly job and approval gate see it."""

    id: int
    number: int
    status: IssueStatus
    week_slot: datetime | None  # the weekly send time it was made for
    held_at: datetime | None
    approved_at: datetime | None
    proof_sent_at: datetime | None


def _week_issue(row: Issue) -> WeekIssue:
    return WeekIssue(
        id=row.id,
        number=row.number,
        status=IssueStatus(row.status),
        week_slot=row.week_slot,
        held_at=row.held_at,
        approved_at=row.approved_at,
        proof_sent_at=row.proof_sent_at,
    )


def issue_for_week(db: Database, slot: datetime) -> WeekIssue | None:
    """The issue of the weekly time `slot`: the one made for it, else one an operator began
    sending by hand since then (`digest issue send`), which is that week's issue too; None
    when there is neither."""
    with db.session() as session:
        row = session.scalars(select(Issue).where(Issue.week_slot == slot)).first()
        if row is None:
            row = session.scalars(
                select(Issue)
                .where(Issue.week_slot.is_(None), Issue.send_started_at >= slot)
                .order_by(Issue.number.desc())
            ).first()
        return None if row is None else _week_issue(row)


def week_issue(db: Database, number: int | None = None) -> WeekIssue:
    """Issue `number` (default: the newest) with its gate; ComposeError when there is none."""
    with db.session() as session:
        query = select(Issue).order_by(Issue.number.desc())
        if number is not None:
            query = select(Issue).where(Issue.number == number)
        row = session.scalars(query.limit(1)).first()
        if row is None:
            raise ComposeError(
                f"there is no issue #{number}" if number is not None else "there is no issue yet"
            )
        return _week_issue(row)


def draft_for_week(db: Database) -> WeekIssue | None:
    """The draft with its gate; None when there is none."""
    with db.session() as session:
        row = session.scalars(select(Issue).where(Issue.status == IssueStatus.DRAFT)).first()
        return None if row is None else _week_issue(row)


class NotADraft(ComposeError):
    """The issue to claim for a week began sending meanwhile."""


def claim_week(db: Database, issue_id: int, slot: datetime) -> WeekIssue:
    """Make the draft `issue_id` the issue of the weekly time `slot`. The unique week_slot
    column is the guarantee: when another issue has that week already, the database
    refuses (StorageError) and this draft stays unclaimed; a draft moved from an older week
    needs a new proof."""
    with db.session() as session:
        row = session.get_one(Issue, issue_id)
        if row.status != IssueStatus.DRAFT:
            raise NotADraft(f"issue #{row.number} is {row.status}, not a draft")
        if row.week_slot != slot:
            row.week_slot, row.proof_sent_at = slot, None
        session.flush()
        return _week_issue(row)


def _gate_row(session: Session, number: int) -> Issue:
    row = session.scalars(select(Issue).where(Issue.number == number)).first()
    if row is None:
        raise ComposeError(f"there is no issue #{number}")
    if row.status != IssueStatus.DRAFT:
        raise ComposeError(
            f"issue #{number} is {row.status} already: only a draft can be held or approved"
        )
    return row


def set_held(db: Database, number: int, now: datetime | None) -> WeekIssue:
    """Hold draft `number` back from the weekly send (None: release it)."""
    with db.session() as session:
        row = _gate_row(session, number)
        row.held_at = now
        return _week_issue(row)


def set_approved(db: Database, number: int, now: datetime | None) -> WeekIssue:
    """Approve draft `number` for the weekly send (None: withdraw the approval)."""
    with db.session() as session:
        row = _gate_row(session, number)
        row.approved_at = now
        return _week_issue(row)


def mark_proof_sent(db: Database, issue_id: int, now: datetime) -> None:
    with db.session() as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(proof_sent_at=now))
