"""The editor's desk on the preview page: what can be changed in the draft, and the changes.

Beside each item of the draft, pin, exclude, move up or down, and its title and summary for
this issue; the intro and the spotlight; the queued items that are not in the draft, to add
(pin); a proof copy to newsletter.proof_addresses. Every change is a call to the same
library functions as the `digest issue` commands (digest.compose.editing, digest.send.proof),
so the page can do nothing the command line cannot.

A change is a POST of a form that carries the server's random token; `refusal` says why a
request is refused before anything is done (a wrong token, another site's Origin).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from digest.compose.editing import UNSET, edit_item, set_intro, set_spotlight
from digest.compose.view import SECTION_ORDER
from digest.db.engine import Database
from digest.db.issues import issue_edits, latest_issue, placed_items
from digest.db.items import get_item, list_items
from digest.errors import DigestError, ItemError
from digest.model import SPOTLIGHT_KINDS, Spotlight, StoredIssue
from digest.queue import OPEN_STATES
from digest.send.proof import proof_recipients, send_proofs
from digest.send.wiring import Relay
from digest.settings import Settings

__all__ = [
    "ACTIONS",
    "SPOTLIGHT_KINDS",
    "Desk",
    "DeskItem",
    "WaitingItem",
    "apply_action",
    "desk_of",
    "new_token",
    "refusal",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskItem:
    """One item of the draft as the desk shows it, with the editor's decisions."""

    item_id: int
    section: str
    position: int  # 1-based, in its section
    last: bool  # the last of its section: no "down"
    title: str
    summary: str
    pinned: bool
    edited: bool  # title or summary overridden for this issue


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingItem:
    """A queued item that is not in the draft: left out by the limits, or excluded."""

    item_id: int
    kind: str
    title: str
    excluded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Desk:
    items: tuple[DeskItem, ...]
    waiting: tuple[WaitingItem, ...]
    intro: str
    spotlight: Spotlight | None
    proof_to: tuple[str, ...]  # newsletter.proof_addresses


def desk_of(db: Database, settings: Settings, issue: StoredIssue) -> Desk:
    """The desk for the draft `issue`: its items in order, the queued ones left out."""
    edits = issue_edits(db, issue.id)
    placed = sorted(
        placed_items(db, issue.id), key=lambda p: (SECTION_ORDER.get(p.section, 9), p.position)
    )
    counts: dict[str, int] = {}
    for p in placed:
        counts[p.section] = counts.get(p.section, 0) + 1
    items = []
    for p in placed:
        edit = edits.get(p.item.id)
        shown = p.item.edited(edit)
        items.append(
            DeskItem(
                item_id=p.item.id,
                section=p.section,
                position=p.position + 1,
                last=p.position + 1 >= counts[p.section],
                title=shown.title,
                summary=shown.summary,
                pinned=bool(edit and edit.pinned),
                edited=bool(edit and (edit.title or edit.summary)),
            )
        )
    in_draft = {p.item.id for p in placed}
    waiting = tuple(
        WaitingItem(
            item_id=item.id,
            kind=str(item.kind),
            title=item.title,
            excluded=bool((e := edits.get(item.id)) and e.excluded),
        )
        for item in list_items(db)
        if item.state in OPEN_STATES and item.id not in in_draft
    )
    return Desk(
        items=tuple(items),
        waiting=waiting,
        intro=issue.intro,
        spotlight=issue.spotlight,
        proof_to=tuple(settings.newsletter.proof_addresses),
    )


def new_token() -> str:
    """The per-server secret every form carries (a page of another site cannot read it)."""
    return secrets.token_urlsafe(32)


def refusal(
    *,
    token: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
) -> str:
    """Why a POST to the desk is refused, or "" when it may go on: the form's token must be
    the server's, an Origin header must name this very host (Host is checked before), and a
    browser must not say the request comes from another site."""
    if not secrets.compare_digest(form.get("token", "").encode(), token.encode()):
        return "the form's token is missing or stale: reload the page"
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        return f"a request from {origin!r} is not accepted"
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "a request from another site is not accepted"
    return ""


def _item(form: Mapping[str, str]) -> int:
    try:
        return int(form.get("item", ""))
    except ValueError:
        raise ItemError(f"not an item number: {form.get('item', '')!r}") from None


def _position(form: Mapping[str, str]) -> int:
    try:
        return int(form.get("position", ""))
    except ValueError:
        raise ItemError(f"not a position: {form.get('position', '')!r}") from None


def _own_or_none(value: str, own: str) -> str | None:
    """The override to store: none when the field holds the item's own text."""
    value = value.strip()
    return None if not value or value == own.strip() else value


@dataclass(frozen=True, slots=True)
class Editor:
    """What every desk action works with: the database, the settings, the clock, the relay."""

    db: Database
    settings: Settings
    clock: Callable[[], datetime]
    relay: Relay


Action = Callable[[Editor, Mapping[str, str]], str]


def _toggle(verb: str, *, pinned: bool | None = None, excluded: bool | None = None) -> Action:
    def act(editor: Editor, form: Mapping[str, str]) -> str:
        item_id = _item(form)
        edit_item(
            editor.db, editor.settings, editor.clock, item_id, pinned=pinned, excluded=excluded
        )
        return f"item {item_id} {verb}"

    return act


def _move(step: int) -> Action:
    def act(editor: Editor, form: Mapping[str, str]) -> str:
        item_id, position = _item(form), _position(form) + step
        edit_item(editor.db, editor.settings, editor.clock, item_id, position=max(position, 1))
        return f"item {item_id} moved to place {max(position, 1)}"

    return act


def _edit(editor: Editor, form: Mapping[str, str]) -> str:
    item_id = _item(form)
    own = get_item(editor.db, item_id)
    edit_item(
        editor.db,
        editor.settings,
        editor.clock,
        item_id,
        title=_own_or_none(form.get("title", ""), own.title) if "title" in form else UNSET,
        summary=_own_or_none(form.get("summary", ""), own.summary) if "summary" in form else UNSET,
    )
    return f"item {item_id} edited"


def _reset(editor: Editor, form: Mapping[str, str]) -> str:
    item_id = _item(form)
    edit_item(
        editor.db, editor.settings, editor.clock, item_id, title=None, summary=None, position=None
    )
    return f"item {item_id}: its own title, summary and place again"


def _intro(editor: Editor, form: Mapping[str, str]) -> str:
    text = form.get("intro", "")
    set_intro(editor.db, editor.settings, editor.clock, text)
    return "intro saved" if text.strip() else "intro removed"


def _spotlight(editor: Editor, form: Mapping[str, str]) -> str:
    spotlight = Spotlight(
        kind=form.get("kind", "quote"),
        title=form.get("title", ""),
        text=form.get("text", ""),
        by=form.get("by", ""),
        url=form.get("url", ""),
    )
    set_spotlight(editor.db, editor.settings, editor.clock, spotlight)
    return "spotlight saved"


def _clear_spotlight(editor: Editor, form: Mapping[str, str]) -> str:
    set_spotlight(editor.db, editor.settings, editor.clock, None)
    return "spotlight removed"


def _proof(editor: Editor, form: Mapping[str, str]) -> str:
    recipients = proof_recipients((), editor.settings.newsletter.proof_addresses)
    issue = latest_issue(editor.db)
    outcomes = send_proofs(issue, editor.settings, recipients, editor.clock(), editor.relay)
    sent = [o.address for o in outcomes if o.ok]
    failed = [o.error for o in outcomes if not o.ok]
    said = f"proof of issue #{issue.number} sent to {', '.join(sent)}" if sent else ""
    if failed:
        raise ItemError("; ".join([said, *failed] if said else failed))
    return said


ACTIONS: dict[str, Action] = {
    "pin": _toggle("pinned", pinned=True, excluded=False),
    "add": _toggle("added to the draft (pinned)", pinned=True, excluded=False),
    "unpin": _toggle("unpinned", pinned=False),
    "exclude": _toggle("left out of this issue", excluded=True, pinned=False),
    "include": _toggle("may be in this issue again", excluded=False),
    "up": _move(-1),
    "down": _move(+1),
    "edit": _edit,
    "reset": _reset,
    "intro": _intro,
    "spotlight": _spotlight,
    "clear-spotlight": _clear_spotlight,
    "proof": _proof,
}


def apply_action(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    relay: Relay,
    form: Mapping[str, str],
) -> tuple[bool, str]:
    """Do what the form asks; (done, a line for the editor)."""
    action = ACTIONS.get(form.get("action", ""))
    if action is None:
        return False, f"unknown action {form.get('action', '')!r}"
    try:
        return True, action(Editor(db, settings, clock, relay), form)
    except DigestError as e:
        return False, " ".join(str(e).split())
