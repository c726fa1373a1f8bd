"""`digest issue`: compose, preview, edit and send issues; each command's module is
imported when it runs."""

from __future__ import annotations

import click

from digest.cli.lazy import Lazy, LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "compose": Lazy(
            "digest.cli.issue_commands:issue_compose",
            "Make the draft of the next issue from the queue, or refresh the current draft.",
        ),
        "preview": Lazy(
            "digest.cli.issue_commands:issue_preview",
            "Show the issue exactly as a subscriber receives it, on a local page that follows "
            "template and queue changes; with --out, write the HTML, text and a complete .eml.",
        ),
        "pin": Lazy(
            "digest.cli.issue_commands:issue_pin",
            "Keep ITEM in the draft even past its section's limit.",
        ),
        "unpin": Lazy(
            "digest.cli.issue_commands:issue_unpin", "Let ITEM compete for its place again."
        ),
        "exclude": Lazy(
            "digest.cli.issue_commands:issue_exclude",
            "Leave ITEM out of this issue (it stays queued for the next one).",
        ),
        "include": Lazy("digest.cli.issue_commands:issue_include", "Undo `exclude`."),
        "move": Lazy("digest.cli.issue_commands:issue_move", "Put ITEM at a place in its section."),
        "edit": Lazy(
            "digest.cli.issue_commands:issue_edit",
            "Override ITEM's title or summary in this issue only.",
        ),
        "intro": Lazy(
            "digest.cli.issue_commands:issue_intro",
            "Set the editorial introduction at the top of the draft.",
        ),
        "spotlight": Lazy(
            "digest.cli.issue_commands:issue_spotlight",
            'Add a quote, an interview or an "at a glance" link block to the draft.',
        ),
        "show": Lazy(
            "digest.cli.issue_commands:issue_show",
            "Print what is in issue NUMBER (default: the newest).",
        ),
        "lint": Lazy(
            "digest.cli.lint:issue_lint",
            "Check the issue as a subscriber receives it: size against Gmail's clipping, alt "
            "text, links, empty sections, HTML and CSS that major email clients lack "
            "(caniemail.com data).",
        ),
        "send": Lazy(
            "digest.cli.sending:issue_send",
            "Send the issue to every active subscriber who has not had it; safe to rerun.",
        ),
        "status": Lazy(
            "digest.cli.sending:issue_status_command",
            "How the send of issue NUMBER (default: the newest) stands: deliveries per state, "
            "rate, time left, the next retry and the latest failures; works while a send runs.",
        ),
        "hold": Lazy(
            "digest.cli.gate:issue_hold",
            "Keep draft NUMBER from going out with the weekly send; it stays a draft.",
        ),
        "approve": Lazy(
            "digest.cli.gate:issue_approve",
            "Approve draft NUMBER for the weekly send (needed with schedule.require_approval).",
        ),
        "retry": Lazy(
            "digest.cli.sending:issue_retry",
            "Put failed deliveries of issue NUMBER back in the queue: those that failed for a "
            "temporary cause (after a relay outage), or with --all every failed one.",
        ),
    },
)
def issue() -> None:
    """Compose, preview and send issues."""
