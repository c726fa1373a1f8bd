"""`digest db copy URL`: move the whole database to another one (SQLite to PostgreSQL)."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app


@click.command("copy")
@click.argument("target_url")
@pass_app
def db_copy(app: App, target_url: str) -> None:
    """Copy every table into the new database at TARGET_URL (made with the migrations).

    The target must be empty; the copy is one transaction, so a failure leaves nothing behind.
    Stop the scheduler and `digest serve` first, then point database.url at the target.
    """
    from digest.db.copy import copy_database
    from digest.db.engine import Database

    target = Database(target_url, auto_upgrade=True)
    try:
        counts = copy_database(app.db, target)
    finally:
        target.dispose()
    total = sum(counts.values())
    click.echo(f"copied {total} row(s) in {len(counts)} tables from {app.db.url} to {target.url}")
    click.echo("now set database.url to the new database and restart the services")
