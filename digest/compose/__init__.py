"""The compose stage: choose the items of an issue (plan), compose or refresh the draft from
the queue, and the editor's decisions on it."""

from __future__ import annotations

from digest.compose.draft import ComposedIssue, compose_issue

__all__ = ["ComposedIssue", "compose_issue"]
