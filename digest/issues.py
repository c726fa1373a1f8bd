"""Issues in the database: compose or refresh the draft, read one back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from digest.compose import apply_edit, plan_issue
from digest.db.engine import Database
from digest.db.schema import Issue, IssueEdit, IssueItem, Item
from digest.errors import ComposeError
from digest.model import IssuePlan, ItemEdit, ItemState, QueuedItem, RenderedIssue, Spotlight
from digest.queue import to_queued
from digest.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposedIssue:
    id: int
    number: int
    plan: IssuePlan
    rendered: RenderedIssue
    refreshed: bool


def compose_issue(db: Database, settings: Settings, clock: Callable[[], datetime]) -> ComposedIssue:
    """Make the draft of the next issue, or refresh the existing draft from the queue."""
    now = clock()
    with db.session() as session:
        draft = session.scalars(select(Issue).where(Issue.status == "draft")).first()
        if draft is not None:
            # Refreshing: the draft's items go back to the queue and are chosen again.
            ids = select(IssueItem.item_id).where(IssueItem.issue_id == draft.id)
            session.execute(
                update(Item).where(Item.id.in_(ids)).values(state=ItemState.QUEUED, updated_at=now)
            )
            session.execute(delete(IssueItem).where(IssueItem.issue_id == draft.id))
            number = draft.number
        else:
            number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
        queued = [
            to_queued(i)
            for i in session.scalars(select(Item).where(Item.state == ItemState.QUEUED))
        ]
        edits = draft_edits(session, draft.id) if draft is not None else {}
        plan = plan_issue(
            queued,
            number=number,
            now=now,
            cfg=settings.compose,
            edits=edits,
            intro=draft.intro if draft is not None else "",
            spotlight=spotlight_of(draft) if draft is not None else None,
        )
        if plan.size < settings.compose.min_items:
            raise ComposeError(
                f"issue #{number} not composed: {plan.size} item(s) ready, the minimum is "
                f"{settings.compose.min_items} (collect first, or lower compose.min_items)"
            )
        from digest.render import render_issue  # MJML and premailer: only when composing

        rendered = render_issue(plan, settings)
        if draft is None:
            draft = Issue(
                number=number, created_at=now, status="draft", subject="", composed_at=now
            )
            session.add(draft)
        draft.subject, draft.preheader = rendered.subject, rendered.preheader
        draft.html, draft.text, draft.composed_at = rendered.html, rendered.text, now
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
        return ComposedIssue(
            id=draft.id,
            number=number,
            plan=plan,
            rendered=rendered,
            refreshed=draft.created_at != now,
        )


def stored_plan(session: Session, issue: Issue) -> IssuePlan:
    """The plan an issue was composed from, read back: its items in order, with the
    editor's overrides, intro and spotlight."""
    edits = draft_edits(session, issue.id)
    rows = session.execute(
        select(IssueItem.section, Item)
        .join(Item, Item.id == IssueItem.item_id)
        .where(IssueItem.issue_id == issue.id)
        .order_by(IssueItem.position)
    ).all()
    sections: dict[str, list[QueuedItem]] = {"news": [], "events": [], "calls": []}
    for section, item in rows:
        sections[section].append(apply_edit(to_queued(item), edits.get(item.id)))
    return IssuePlan(
        number=issue.number,
        date=issue.composed_at,
        news=tuple(sections["news"]),
        events=tuple(sections["events"]),
        calls=tuple(sections["calls"]),
        intro=issue.intro,
        spotlight=spotlight_of(issue),
    )


def draft_edits(session: Session, issue_id: int) -> dict[int, ItemEdit]:
    return {
        e.item_id: ItemEdit(
            item_id=e.item_id,
            pinned=e.pinned,
            excluded=e.excluded,
            position=e.position,
            title=e.title,
            summary=e.summary,
        )
        for e in session.scalars(select(IssueEdit).where(IssueEdit.issue_id == issue_id))
    }


def spotlight_of(issue: Issue) -> Spotlight | None:
    if not issue.spotlight_kind:
        return None
    return Spotlight(
        kind=issue.spotlight_kind,
        title=issue.spotlight_title,
        text=issue.spotlight_text,
        by=issue.spotlight_by,
        url=issue.spotlight_url,
    )


def latest_issue(db: Database, number: int | None = None) -> Issue:
    """The issue with `number`, else the newest one; ComposeError when there is none."""
    with db.session() as session:
        query = select(Issue)
        query = (
            query.where(Issue.number == number)
            if number is not None
            else query.order_by(Issue.number.desc())
        )
        issue = session.scalars(query).first()
    if issue is None:
        raise ComposeError(
            f"there is no issue #{number}"
            if number is not None
            else "there is no issue yet: run `digest issue compose`"
        )
    return issue
