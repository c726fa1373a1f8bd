"""`digest issue`: compose, preview, edit and send issues; each command's module is
imported when it runs."""

from __future__ import annotations

import click

from digest.cli.lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "compose": "digest.cli.issue_commands:issue_compose",
        "preview": "digest.cli.issue_commands:issue_preview",
        "pin": "digest.cli.issue_commands:issue_pin",
        "unpin": "digest.cli.issue_commands:issue_unpin",
        "exclude": "digest.cli.issue_commands:issue_exclude",
        "include": "digest.cli.issue_commands:issue_include",
        "move": "digest.cli.issue_commands:issue_move",
        "edit": "digest.cli.issue_commands:issue_edit",
        "intro": "digest.cli.issue_commands:issue_intro",
        "spotlight": "digest.cli.issue_commands:issue_spotlight",
        "show": "digest.cli.issue_commands:issue_show",
        "lint": "digest.cli.lint:issue_lint",
        "send": "digest.cli.sending:issue_send",
        "status": "digest.cli.sending:issue_status_command",
        "retry": "digest.cli.sending:issue_retry",
    },
)
def issue() -> None:
    """Compose, preview and send issues."""
