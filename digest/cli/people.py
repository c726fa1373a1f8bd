"""Commands for subscribers."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.app import App, echo_json, pass_app, when
from subscribers.importer import import_csv
from subscribers.store import list_subscribers

STATUSES = ["pending", "active", "unsubscribed", "bounced", "complained", "suppressed"]


@click.group()
def subscribers() -> None:
    """Import and list subscribers."""


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_app
def subscribers_import(app: App, file: Path) -> None:
    """Add the addresses in a CSV file with an `email` column (and optionally `name`).

    Bad rows are reported with their line number and skipped; addresses already known keep
    their status, so nobody who left is subscribed again.
    """
    report = import_csv(app.db, file, app.clock())
    for bad in report.bad:
        click.echo(f"{file}:{bad.line}: skipped: {bad.reason}", err=True)
    click.echo(
        f"imported {report.added} new subscriber(s); {report.already} already known, "
        f"{report.duplicates} duplicate row(s), {len(report.bad)} bad row(s)"
    )


@subscribers.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--limit", type=int, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def subscribers_list(app: App, status: str | None, limit: int | None, as_json: bool) -> None:
    """List subscribers."""
    with app.db.session() as session:
        rows = list_subscribers(session, status, limit)
    if as_json:
        echo_json(
            [
                {
                    "id": s.id,
                    "email": s.email,
                    "name": s.name,
                    "status": s.status,
                    "created_at": s.created_at,
                }
                for s in rows
            ]
        )
        return
    for s in rows:
        click.echo(
            f"{s.id:>6}  {s.status:<12}  {when(s.created_at)}  {s.email}"
            + (f"  ({s.name})" if s.name else "")
        )
    if not rows:
        click.echo("no subscribers")
