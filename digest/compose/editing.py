"""The editor's decisions on the draft: pin, exclude, move, retitle, an intro, a spotlight.

Each change is stored with the draft and the draft is composed again at once, so what the
preview shows is always what would be sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from digest.compose.draft import ComposedIssue, compose_issue
from digest.db.engine import Database
from digest.db.issues import issue_edits, save_intro, save_item_edit, save_spotlight, the_draft
from digest.db.items import get_item
from digest.errors import ItemError
from digest.model import SPOTLIGHT_KINDS, ItemEdit, Spotlight
from digest.queue import OPEN_STATES
from digest.settings import Settings
from digest.text import cut_at_word, plain_text, sanitize_summary, visible

UNSET: Any = object()


def decide_edit(
    current: ItemEdit,
    *,
    summary_chars: int,
    pinned: bool | None = None,
    excluded: bool | None = None,
    position: int | None = UNSET,
    title: str | None = UNSET,
    summary: str | None = UNSET,
) -> ItemEdit:
    """The editor's decision about one item after a change: None for pinned or excluded
    keeps them, UNSET keeps the others, None removes an override; titles become plain
    text and summaries sanitized HTML."""
    changes: dict[str, Any] = {}
    if pinned is not None:
        changes["pinned"] = pinned
    if excluded is not None:
        changes["excluded"] = excluded
    if position is not UNSET:
        if position is not None and position < 1:
            raise ItemError("positions start at 1")
        changes["position"] = position
    if title is not UNSET:
        changes["title"] = plain_text(title) if title else None
    if summary is not UNSET:
        changes["summary"] = sanitize_summary(summary, summary_chars) if summary else None
    return dataclasses.replace(current, **changes)


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
    draft = the_draft(db)
    item = get_item(db, item_id)
    if pinned and item.state not in OPEN_STATES:
        raise ItemError(f"item {item_id} is {item.state}; only queued items can be pinned")
    current = issue_edits(db, draft.id).get(item_id, ItemEdit(item_id=item_id))
    edit = decide_edit(
        current,
        summary_chars=settings.compose.summary_chars,
        pinned=pinned,
        excluded=excluded,
        position=position,
        title=title,
        summary=summary,
    )
    save_item_edit(db, draft.id, edit)
    return compose_issue(db, settings, clock)


def set_intro(
    db: Database, settings: Settings, clock: Callable[[], datetime], text: str
) -> ComposedIssue:
    """The editorial introduction at the top of the draft, in Markdown (stored as written,
    sanitized each time it is rendered)."""
    draft = the_draft(db)
    save_intro(db, draft.id, intro_source(text))
    return compose_issue(db, settings, clock)


INTRO_CHARS = 4000


def intro_source(text: str) -> str:
    """The intro's Markdown as stored: no control or invisible characters, at most
    INTRO_CHARS characters (cut at a word)."""
    source = visible(text.replace("\r\n", "\n")).strip()
    return cut_at_word(source, INTRO_CHARS) if len(source) > INTRO_CHARS else source


def checked_spotlight(spotlight: Spotlight) -> Spotlight:
    """The spotlight as stored: a known kind, some words, an http(s) link, plain text;
    ItemError says what is wrong."""
    if spotlight.kind not in SPOTLIGHT_KINDS:
        raise ItemError(f"spotlight kind must be one of {', '.join(SPOTLIGHT_KINDS)}")
    if not spotlight.text.strip() and not spotlight.title.strip():
        raise ItemError("a spotlight needs a title or a text")
    if spotlight.url and urlsplit(spotlight.url).scheme not in ("http", "https"):
        raise ItemError(f"spotlight url must be http(s), not {spotlight.url!r}")
    return Spotlight(
        kind=spotlight.kind,
        title=plain_text(spotlight.title),
        text=plain_text(spotlight.text),
        by=plain_text(spotlight.by),
        url=spotlight.url.strip(),
    )


def set_spotlight(
    db: Database, settings: Settings, clock: Callable[[], datetime], spotlight: Spotlight | None
) -> ComposedIssue:
    """A quote, an interview or a link block in the draft; None removes it."""
    checked = checked_spotlight(spotlight) if spotlight is not None else None
    draft = the_draft(db)
    save_spotlight(db, draft.id, checked)
    return compose_issue(db, settings, clock)
