"""`digest issue send`, `issue status` and `issue retry`: thin over digest.send."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from digest.cli.app import App, echo_json, pass_app, progress_bar, when
from digest.model import DeliveryStatus, IssueStatus

if TYPE_CHECKING:
    from digest.send import SendReport


def _warn(line: str) -> None:
    click.echo(f"digest: warning: {line}", err=True)


@click.command("send")
@click.option("--number", "-n", type=int, help="Issue number (default: the newest).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count recipients and build one message; send nothing and change nothing.",
)
@click.option(
    "--test",
    "proof",
    is_flag=True,
    help="Send a proof copy to each --to address (default: newsletter.proof_addresses); "
    "the delivery ledger and the issue stay as they are.",
)
@click.option(
    "--to",
    "addresses",
    metavar="ADDRESS",
    multiple=True,
    help="Where --test sends a proof copy; repeat it, or separate addresses with commas.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Skip the checks before a first send (recipients, lint, placeholder sender).",
)
@pass_app
def issue_send(
    app: App,
    number: int | None,
    dry_run: bool,
    proof: bool,
    addresses: tuple[str, ...],
    force: bool,
) -> None:
    """Send the issue to every active subscriber who has not had it; safe to rerun.

    Sends what is due, waits at most smtp.wait_seconds for retries, then returns; run it
    again (or let the scheduler) to continue. Exit status: 0 all delivered, 1 error, 3
    finished with failures, 4 deliveries still deferred, 5 the relay could not be reached.
    With --test, send only proof copies: to each --to ADDRESS, or to the editors in
    newsletter.proof_addresses; exit status 1 if any copy was not accepted."""
    from digest.db.issues import latest_issue
    from digest.db.sending import send_counts
    from digest.send import send_issue
    from digest.send.proof import proof_recipients, send_proofs

    if addresses and not proof:
        raise click.UsageError("--to goes with --test")
    if proof:
        if dry_run:
            raise click.UsageError("--test sends proof copies; it cannot be a --dry-run")
        recipients = proof_recipients(addresses, app.settings.newsletter.proof_addresses)
        row = latest_issue(app.db, number)
        outcomes = send_proofs(row, app.settings, recipients, app.clock(), app.relay)
        for outcome in outcomes:
            if outcome.reply is not None:
                click.echo(
                    f"test copy of issue #{row.number} sent to {outcome.address}: "
                    f"{outcome.reply.line}"
                )
            else:
                click.echo(f"digest: error: {outcome.error}", err=True)
        if not all(o.ok for o in outcomes):
            sys.exit(1)
        return
    if dry_run:
        report = send_issue(
            app.db, app.settings, app.clock, relay=app.relay, number=number, dry_run=True
        )
        already = report.counts.get(DeliveryStatus.SENT, 0)
        failed = report.counts.get(DeliveryStatus.FAILED, 0)
        click.echo(
            f"dry run: issue #{report.number} ({report.status}) would go to {report.due} of "
            f"{report.recipients} active subscriber(s) ({already} already have it"
            + (f", {failed} failed: `digest issue retry {report.number}`" if failed else "")
            + f"); one message is {report.sample_size:,} bytes; nothing was sent"
        )
        return
    row = latest_issue(app.db, number)
    total = send_counts(app.db, row.id).due
    with progress_bar(total, f"sending #{row.number}") as advance:
        report = send_issue(
            app.db,
            app.settings,
            app.clock,
            relay=app.relay,
            number=row.number,
            force=force,
            progress=advance,
            notify=_warn,
        )
    _print_report(report)
    sys.exit(int(report.exit_status))


def _print_report(report: SendReport) -> None:
    from digest.send.policy import counts_line, group_replies

    if report.replayed:
        click.echo(
            f"recorded {report.replayed} answer(s) an earlier run kept in its journal", err=True
        )
    if report.resumed:
        click.echo(
            f"resumed: {report.resumed} delivery(ies) were on the wire when an earlier run "
            "stopped; they were sent again with their original Message-ID and may arrive twice",
            err=True,
        )
    failed = [row.reply for row in report.failures]
    for kind, count in group_replies(failed):
        click.echo(f"failed: {count} × {kind}", err=True)
    counts = counts_line(report.counts)
    head = f"issue #{report.number}: {counts or 'no deliveries'} in {report.seconds:.1f}s"
    if report.breaker:
        click.echo(
            f"{head}; stopped: the relay cannot be reached ({report.breaker}); nobody was "
            "charged an attempt, run again when it is back"
        )
    elif report.status is IssueStatus.SENT:
        failed_rows = report.counts.get(DeliveryStatus.FAILED, 0)
        click.echo(
            f"{head}; complete" + (f", {failed_rows} failed (reasons above)" if failed_rows else "")
        )
    elif report.next_due is not None:
        click.echo(
            f"{head}; {_waiting(report)} deferred, next attempt due {when(report.next_due)} UTC "
            "(run again, or let the scheduler continue)"
        )
    else:
        click.echo(f"{head}; not finished (run again to continue)")


def _waiting(report: SendReport) -> int:
    waiting = (DeliveryStatus.DEFERRED, DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return sum(report.counts.get(s, 0) for s in waiting)


@click.command("status")
@click.argument("number", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def issue_status_command(app: App, number: int | None, as_json: bool) -> None:
    """How the send of issue NUMBER (default: the newest) stands: deliveries per state, rate,
    time left, the next retry and the latest failures; works while a send runs."""
    from digest.send.watch import issue_status

    status = issue_status(app.db, app.clock(), number)
    if as_json:
        echo_json(status.as_dict())
        return
    for line in status.lines():
        click.echo(line)


@click.command("retry")
@click.argument("number", type=int)
@click.option(
    "--all", "everything", is_flag=True, help="Every failed delivery, not only temporary ones."
)
@pass_app
def issue_retry(app: App, number: int, everything: bool) -> None:
    """Put failed deliveries of issue NUMBER back in the queue: those that failed for a
    temporary cause (after a relay outage), or with --all every failed one. Delivered ones
    are never touched; `digest issue send -n NUMBER` then sends them."""
    from digest.send.watch import retry_failed

    count = retry_failed(app.db, number, app.clock(), everything=everything)
    click.echo(
        f"issue #{number}: {count} failed delivery(ies) back in the queue; "
        f"run `digest issue send -n {number}` to send them"
    )
