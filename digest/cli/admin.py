"""Commands for setting up and running: init, demo, db, status, capture, scheduler."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.app import App, echo_json, pass_app, progress_bar
from digest.cli.lazy import Lazy, LazyGroup
from digest.errors import ConfigError
from digest.model import IssueStatus
from digest.settings import DEFAULT_CONFIG_NAME, starter_file

if TYPE_CHECKING:
    from digest.db.bounces import IssueBounces


@click.command()
@click.option(
    "--path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG_NAME,
    show_default=True,
    help="Where to write it.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter settings file with a fresh secret key."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite it)")
    # Readable by its owner only from the first byte: it holds the signing key.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(starter_file())
    click.echo(f"wrote {path}: edit [newsletter] and [smtp], then run `digest db upgrade`")


@click.command()
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    default="digest-demo",
    show_default=True,
    help="Folder for the demo's database, settings, Maildir and preview.",
)
@click.option(
    "--subscribers",
    "count",
    type=click.IntRange(1, 1_000_000),
    default=5000,
    show_default=True,
    help="How many demo subscribers to send to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def demo(app: App, workspace: Path, count: int, as_json: bool) -> None:
    """Run the whole weekly job on embedded defaults: no configuration, loopback only.

    Serves sample feeds on 127.0.0.1, collects them, composes issue #1 from the MJML
    templates, and sends it over SMTP to demo subscribers at example.com, captured by an
    embedded SMTP server into a Maildir.
    """

    started = time.perf_counter()
    with progress_bar(count, "sending", enabled=not as_json) as advance:
        from digest.demo import run_demo

        summary = run_demo(workspace, count, app.clock, advance)
    if as_json:
        echo_json(summary.as_dict())
        return
    items = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.items.items()))
    click.echo(
        f"\nDemo finished in {time.perf_counter() - started:.1f}s\n"
        f"  collected      {items}\n"
        f"  issue #{summary.issue_number}       {summary.issue_bytes:,} bytes of HTML\n"
        f"  sent           {summary.accepted} of {summary.subscribers} messages accepted"
        f" by the SMTP capture ({summary.failed} failed)\n"
        f"  workspace      {summary.workspace}\n"
        f"  preview        {summary.preview_html}\n"
        f"  one message    {summary.sample_message}\n"
        f"\nExplore it: digest --config {summary.settings_file} items list"
    )


@click.group(
    "db",
    cls=LazyGroup,
    lazy={
        "copy": Lazy(
            "digest.cli.db_copy:db_copy",
            "Copy every table into the new database at TARGET_URL (made with the migrations).",
        )
    },
)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Apply pending schema migrations."""
    from digest.db.engine import make_engine, upgrade

    engine = make_engine(app.settings.database_url)
    before, after = upgrade(engine)
    engine.dispose()
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"upgraded database from {before or 'empty'} to {after}")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this version needs."""
    from digest.db.engine import current_revision, head_revision, make_engine

    engine = make_engine(app.settings.database_url)
    click.echo(f"database: {current_revision(engine) or 'empty'}; needed: {head_revision()}")
    engine.dispose()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Sources, queue, subscribers and the latest issue at a glance."""
    from digest.collect.sources import health
    from digest.db.sources import list_sources
    from digest.db.status import latest_bounces, status_report

    settings = app.settings
    report = status_report(app.db)
    bounced = latest_bounces(app.db)
    queue, people, issue = report.items, report.subscribers, report.latest_issue
    deliveries = report.deliveries
    why = ""
    if issue is not None and issue.status is IssueStatus.SENDING:
        from digest.send.watch import issue_status

        why = issue_status(app.db, app.clock(), issue.number).why
    sources = list_sources(app.db)
    healths = [health(s) for s in sources]
    by_health = {h: healths.count(h) for h in sorted(set(healths))}
    data = {
        "settings": str(settings.source or "(built-in defaults)"),
        "database": app.db.url,
        "sources": by_health,
        "items": queue,
        "subscribers": people,
        "latest_issue": (
            {
                "number": issue.number,
                "status": issue.status,
                "subject": issue.subject,
                "deliveries": deliveries,
                "not_sent_because": why or None,
            }
            if issue
            else None
        ),
        "bounces": _bounce_data(bounced),
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f"settings     {data['settings']}\ndatabase     {data['database']}")
    click.echo(f"sources      {len(sources)} ({_pairs(by_health)})")
    click.echo(f"items        {_pairs(queue) or 'none'}")
    click.echo(f"subscribers  {_pairs(people) or 'none'}")
    if issue:
        click.echo(
            f"latest issue #{issue.number} {issue.status}: {issue.subject}"
            + (f"\n             deliveries: {_pairs(deliveries)}" if deliveries else "")
            + (f"\n             not sent yet: {why}" if why else "")
        )
    else:
        click.echo("latest issue none yet")
    if bounced is not None:
        from digest.bounces.policy import rate_warnings
        from digest.cli.bounce_reports import rates_line

        click.echo(f"bounces      {rates_line(bounced)}")
        for line in rate_warnings(
            bounced.number,
            hard_rate=bounced.hard_rate,
            complaint_rate=bounced.complaint_rate,
            rules=settings.bounces,
        ):
            click.echo(f"warning: {line}", err=True)


def _bounce_data(bounced: IssueBounces | None) -> dict[str, object] | None:
    if bounced is None:
        return None
    return {
        "issue": bounced.number,
        "mailed": bounced.mailed,
        "hard": bounced.hard,
        "soft": bounced.soft,
        "complaints": bounced.complaints,
        "hard_rate": round(bounced.hard_rate, 6),
        "complaint_rate": round(bounced.complaint_rate, 6),
    }


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


@click.command()
@click.option("--port", type=int, default=8025, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--maildir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where messages go (default: DATA_DIR/maildir).",
)
@pass_app
def capture(app: App, port: int, maildir: Path | None) -> None:
    """Run the embedded SMTP capture server on 127.0.0.1 until Ctrl-C."""
    folder = maildir or app.settings.data_dir / "maildir"
    from digest.send.capture import CaptureServer

    with CaptureServer(folder, port=port) as server:
        click.echo(f"capturing SMTP on 127.0.0.1:{server.port} into {folder} (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo(f"\nstopped; {server.handler.received} message(s) captured")


@click.command("scheduler")
@pass_app
def scheduler_command(app: App) -> None:
    """Run the scheduler daemon: collect on schedule.collect_cron, and collect, compose and
    send on schedule.send_cron."""
    import scheduler

    scheduler.run(app.settings)
