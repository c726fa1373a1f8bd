"""Composing the draft: the next issue from the queue, or the current draft refreshed, with
the editor's decisions applied, rendered and stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from digest.compose.plan import plan_issue
from digest.db.engine import Database
from digest.db.issues import drafting
from digest.db.items import flagged_items
from digest.errors import ComposeError
from digest.model import IssuePlan, RenderedIssue, StoredItem
from digest.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposedIssue:
    id: int
    number: int
    plan: IssuePlan
    rendered: RenderedIssue
    refreshed: bool
    # Queued items flagged for review (no date or deadline read), so left out of the issue.
    flagged: tuple[StoredItem, ...] = field(default=())


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 call', '2 calls', '1 news', '0 events'."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


def counts_line(plan: IssuePlan) -> str:
    """'3 news, 1 event, 2 calls': what an issue holds."""
    return ", ".join(
        (
            plural(len(plan.news), "news", "news"),
            plural(len(plan.events), "event"),
            plural(len(plan.calls), "call"),
        )
    )


def flagged_lines(flagged: tuple[StoredItem, ...]) -> list[str]:
    """One line per item left out for review, for the editor."""
    return [f"  item {i.id} ({i.kind}): {i.title}: {i.needs_review}" for i in flagged]


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
        flagged=tuple(flagged_items(db)),
        id=issue_id,
        number=plan.number,
        plan=plan,
        rendered=rendered,
        refreshed=draft.created_at != now,
    )
