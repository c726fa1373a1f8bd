"""Composing the draft: the next issue from the queue, or the current draft refreshed, with
the editor's decisions applied, rendered and stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from digest.compose.plan import plan_issue
from digest.db.engine import Database
from digest.db.issues import drafting
from digest.errors import ComposeError
from digest.model import IssuePlan, RenderedIssue
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
    with drafting(db, now) as draft:
        plan = plan_issue(
            draft.queued,
            number=draft.number,
            now=now,
            cfg=settings.compose,
            edits=draft.edits,
            intro=draft.intro,
            spotlight=draft.spotlight,
        )
        if plan.size < settings.compose.min_items:
            raise ComposeError(
                f"issue #{plan.number} not composed: {plan.size} item(s) ready, the minimum "
                f"is {settings.compose.min_items} (collect first, or lower compose.min_items)"
            )
        from digest.render import render_issue  # MJML and premailer: only when composing

        rendered = render_issue(plan, settings)
        issue_id = draft.save(plan, rendered)
    return ComposedIssue(
        id=issue_id,
        number=plan.number,
        plan=plan,
        rendered=rendered,
        refreshed=draft.created_at != now,
    )
