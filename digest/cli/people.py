"""Commands for subscribers: add, remove, list, show, import, export, forget."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from digest.cli.app import App, echo_json, pass_app, when
from digest.model import SubscriberStatus

STATUS = click.Choice([s.value for s in SubscriberStatus])


def _status(value: str | None) -> SubscriberStatus | None:
    return SubscriberStatus(value) if value else None


@click.group()
def subscribers() -> None:
    """Add, import, list, export and forget subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--language", default="", help="Language code, e.g. en.")
@click.option(
    "--force",
    is_flag=True,
    help="Subscribe again someone who left, bounced or complained (only with their new consent).",
)
@pass_app
def subscribers_add(app: App, email: str, name: str, language: str, force: bool) -> None:
    """Add EMAIL as an active subscriber."""
    from subscribers.lifecycle import add_subscriber

    person = add_subscriber(
        app.db,
        app.settings.signing_keys,
        email,
        app.clock(),
        name=name,
        language=language,
        origin="cli",
        force=force,
    )
    click.echo(f"subscribed {person.email}")


@subscribers.command("remove")
@click.argument("email")
@pass_app
def subscribers_remove(app: App, email: str) -> None:
    """Unsubscribe EMAIL (the record stays, so no import subscribes them again)."""
    from subscribers.lifecycle import unsubscribe

    person = unsubscribe(app.db, email, app.clock())
    click.echo(f"unsubscribed {person.email}")


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--force",
    is_flag=True,
    help="Also re-activate addresses that unsubscribed, bounced or complained.",
)
@click.option("--email-column", help="Header of the address column (default: email, e-mail…).")
@click.option("--name-column", help="Header of the name column (default: name, full name…).")
@pass_app
def subscribers_import(
    app: App, file: Path, force: bool, email_column: str | None, name_column: str | None
) -> None:
    """Add the addresses in a CSV file with an `email` column (and optionally `name`).

    Bad rows are reported with their line number and skipped; addresses already known keep
    their status, so nobody who left is subscribed again (unless --force); forgotten
    addresses are never added.
    """
    from subscribers.importer import import_csv

    report = import_csv(
        app.db,
        file,
        app.clock(),
        keys=app.settings.signing_keys,
        reactivate=force,
        email_column=email_column,
        name_column=name_column,
    )
    for bad in report.bad:
        click.echo(f"{file}:{bad.line}: skipped: {bad.reason}", err=True)
    click.echo(
        f"imported {report.added} new subscriber(s); {report.already} already known"
        + (f" ({report.reactivated} re-activated)" if force else "")
        + f", {report.suppressed} forgotten, {report.duplicates} duplicate row(s), "
        f"{len(report.bad)} bad row(s)"
    )


@subscribers.command("list")
@click.option("--status", type=STATUS, help="Only this status.")
@click.option("--limit", type=int, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def subscribers_list(app: App, status: str | None, limit: int | None, as_json: bool) -> None:
    """List subscribers."""
    from digest.db.subscribers import list_subscribers

    rows = list_subscribers(app.db, _status(status), limit)
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


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def subscribers_show(app: App, email: str, as_json: bool) -> None:
    """Everything stored about EMAIL: status, preferences, consent, deliveries, bounces."""
    from subscribers.lifecycle import show

    record = asdict(show(app.db, email))
    if as_json:
        echo_json(record)
        return
    for key, value in record.items():
        click.echo(f"{key:<16} {value}")


@subscribers.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--status", type=STATUS, help="Only this status.")
@pass_app
def subscribers_export(app: App, file: Path, status: str | None) -> None:
    """Write subscribers to a CSV file (safe to open in a spreadsheet)."""
    from subscribers.lifecycle import export_csv

    count = export_csv(app.db, file, _status(status))
    click.echo(f"exported {count} subscriber(s) to {file}")


@subscribers.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def subscribers_forget(app: App, email: str, yes: bool) -> None:
    """Erase everything about EMAIL, keeping only a keyed hash so it is never added again."""
    from subscribers.lifecycle import forget

    if not yes:
        click.confirm(f"Erase all data of {email}?", abort=True)
    forget(app.db, email, app.clock())
    click.echo(f"forgot {email}: only a keyed hash remains, on the suppression list")
