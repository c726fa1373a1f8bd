"""`digest bounces`: classify returned mail, ingest it, and report bounce and complaint
rates; each command's module is imported when it runs."""

from __future__ import annotations

import click

from digest.cli.lazy import Lazy, LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "classify": Lazy(
            "digest.cli.bounce_classify:bounces_classify",
            "Classify raw messages (files, or - for standard input) and print one JSON line "
            "per message; nothing is stored.",
        ),
        "ingest": Lazy(
            "digest.cli.bounce_ingest:bounces_ingest",
            "Read bounces and complaints from the configured IMAP mailbox and Maildir, or "
            "from mbox files, Maildirs or standard input, and apply them to subscribers.",
        ),
        "list": Lazy(
            "digest.cli.bounce_reports:bounces_list",
            "List received bounces and complaints, newest first.",
        ),
        "show": Lazy(
            "digest.cli.bounce_reports:bounces_show",
            "Show one received message: its classification, what was done and the evidence.",
        ),
        "stats": Lazy(
            "digest.cli.bounce_reports:bounces_stats",
            "Delivered, hard, soft and complaint counts and rates per issue, with a warning "
            "when a rate puts the sender's reputation at risk.",
        ),
    },
)
def bounces() -> None:
    """Bounces and complaints: classify, ingest, report."""
