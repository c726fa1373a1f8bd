"""Commands for composing, previewing and sending an issue."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from click._termui_impl import ProgressBar

from digest.cli.app import App, pass_app
from digest.issues import compose_issue, latest_issue
from digest.preview import write_preview
from digest.send import Progress, send_issue
from subscribers.store import active_count


@contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr (shown only on a terminal); yields the `advance` callback."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    bar: ProgressBar[int] = click.progressbar(
        length=total, label=label, file=sys.stderr, show_pos=True
    )
    with bar:
        yield bar.update


@click.group()
def issue() -> None:
    """Compose, preview and send issues."""


@issue.command("compose")
@pass_app
def issue_compose(app: App) -> None:
    """Make the draft of the next issue from the queue, or refresh the current draft."""
    composed = compose_issue(app.db, app.settings, app.clock)
    plan = composed.plan
    verb = "refreshed" if composed.refreshed else "composed"
    click.echo(
        f"{verb} issue #{composed.number}: {len(plan.news)} news, {len(plan.events)} "
        f"events, {len(plan.calls)} calls; {len(composed.rendered.html.encode()):,} "
        f"bytes of HTML; subject: {composed.rendered.subject}"
    )


@issue.command("preview")
@click.option("--number", "-n", type=int, help="Issue number (default: the newest).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for issue.html, issue.txt and issue.eml (default: DATA_DIR/preview).",
)
@pass_app
def issue_preview(app: App, number: int | None, out: Path | None) -> None:
    """Write the issue as a subscriber receives it: HTML, text and a complete .eml."""
    row = latest_issue(app.db, number)
    files = write_preview(row, app.settings, out or app.settings.data_dir / "preview", app.clock())
    click.echo(
        f"issue #{row.number} ({row.status}): {files.html}\n"
        f"text: {files.text}\nmessage: {files.eml}"
    )


@issue.command("send")
@click.option("--number", "-n", type=int, help="Issue number (default: the newest).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count recipients and build one message; send nothing and change nothing.",
)
@pass_app
def issue_send(app: App, number: int | None, dry_run: bool) -> None:
    """Send the issue to every active subscriber who has not had it; safe to rerun."""
    if dry_run:
        report = send_issue(app.db, app.settings, app.clock, number=number, dry_run=True)
        already = report.counts.get("sent", 0)
        click.echo(
            f"dry run: issue #{report.number} would go to {report.recipients - already} "
            f"of {report.recipients} active subscriber(s) ({already} already have it); "
            f"one message is {report.sample_size:,} bytes; nothing was sent"
        )
        return
    row = latest_issue(app.db, number)
    with app.db.session() as session:
        total = active_count(session)
    with progress_bar(total, f"sending #{row.number}") as advance:
        report = send_issue(app.db, app.settings, app.clock, number=row.number, progress=advance)
    if report.resumed:
        click.echo(
            f"resumed: {report.resumed} delivery(ies) interrupted by an earlier run "
            "were sent again with their original Message-ID",
            err=True,
        )
    for failure in report.failures[:20]:
        click.echo(f"failed: {failure}", err=True)
    if len(report.failures) > 20:
        click.echo(f"... and {len(report.failures) - 20} more failures", err=True)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    state = "complete" if report.finished else "not finished (run again to continue)"
    click.echo(f"issue #{report.number}: {counts} in {report.seconds:.1f}s; {state}")
    if not report.finished:
        raise SystemExit(1)
