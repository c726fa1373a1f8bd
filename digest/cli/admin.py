"""Commands for setting up and running: init, demo, db, status, capture, scheduler."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digest.cli.app import App, echo_json, pass_app, progress_bar, when
from digest.cli.lazy import Lazy, LazyGroup
from digest.errors import ConfigError
from digest.model import IssueStatus
from digest.settings import DEFAULT_CONFIG_NAME, starter_file

if TYPE_CHECKING:
    from digest.daemon.schedule import JobSchedule
    from digest.db.bounces import IssueBounces
    from digest.db.jobs import JobRunView


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
    """Write a commented starter settings file with a fresh secret key.

    The file is checked as the daemon's start-up checks it (with any DIGEST_* variables
    set), the crontab lines and time zones included, before it takes the place of `path`."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite it)")
    from digest.daemon.schedule import validate_schedule
    from digest.settings import load_settings

    draft = path.with_name(f".{path.name}.new")
    # Readable by its owner only from the first byte: it holds the signing key.
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(starter_file())
    try:
        validate_schedule(load_settings(draft))
    except ConfigError as e:
        draft.unlink()
        raise ConfigError(str(e).replace(str(draft.resolve()), str(path))) from None
    draft.replace(path)
    # The database is made and migrated by the first command that opens it
    # (database.auto_upgrade), so there is no `db upgrade` step to run.
    click.echo(
        f"wrote {path}: edit [newsletter] and [smtp]; the database is set up by the first "
        "command that uses it (try `digest status`)"
    )


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
    from digest.compose.draft import plural

    items = ", ".join(
        plural(n, kind, "news" if kind == "news" else None)
        for kind, n in sorted(summary.items.items())
    )
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


STATUS_ATTENTION = 2


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Sources, queue, subscribers and the latest issue at a glance.

    Also whether a scheduler daemon holds the lock, each job's next and last run, the sends
    in progress and recent failures; and a health check. Exit status:

    \b
      0  all is well
      1  the settings (a crontab line, a time zone) or the database cannot be read
      2  something needs attention, one `attention:` line each on standard error:
         a failing source, an issue stuck in `sending` (no progress for an hour and
         no sender), a complaint rate over bounces.complaint_warn_rate, or a
         scheduler that stopped within the last day and is not running
    """
    from digest.cli import one_line
    from digest.collect.sources import health
    from digest.daemon.schedule import job_schedules
    from digest.db.sources import list_sources
    from digest.db.status import latest_bounces, status_report

    settings = app.settings
    # The schedule is checked as `digest init` and the daemon's start-up check it: a bad
    # crontab line is one error line naming its setting.
    schedules = job_schedules(settings)
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
    failing = [
        f"{s.source.name or s.source.url} ({s.consecutive_failures} failures in a row: "
        f"{one_line(s.last_error or 'no error recorded')})"
        for s, h in zip(sources, healths, strict=True)
        if h == "failing"
    ]
    daemon = _daemon_facts(app, schedules, failing, bounced)
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
        **daemon,
    }
    if as_json:
        echo_json(data)
    else:
        _print_status(data, len(sources), issue is not None, bounced)
        if bounced is not None:
            from digest.bounces.policy import rate_warnings

            for line in rate_warnings(
                bounced.number,
                hard_rate=bounced.hard_rate,
                complaint_rate=bounced.complaint_rate,
                rules=settings.bounces,
            ):
                click.echo(f"warning: {line}", err=True)
    reasons = daemon["attention"]
    assert isinstance(reasons, list)
    for reason in reasons:
        click.echo(f"attention: {reason}", err=True)
    if reasons:
        raise SystemExit(STATUS_ATTENTION)


def _daemon_facts(
    app: App, schedules: list[JobSchedule], failing: list[str], bounced: IssueBounces | None
) -> dict[str, object]:
    """The scheduler's part of the status: who holds the lock, each job's next and last run,
    recent failures, the sends in progress, and what needs attention."""
    from digest.daemon.health import attention
    from digest.daemon.lock import is_running
    from digest.db.daemon import read_holder
    from digest.db.jobs import last_runs
    from digest.db.status import last_failed_run, sending_progress

    now = app.clock()
    running = is_running(app.db, app.settings)
    last_holder = read_holder(app.db)
    runs = last_runs(app.db)
    sends = sending_progress(app.db)
    failed = last_failed_run(app.db)
    jobs = []
    for schedule in schedules:
        run = runs.get(schedule.job)
        jobs.append(
            {
                "job": str(schedule.job),
                "title": schedule.title,
                "setting": schedule.setting,
                "schedule": schedule.expression,
                "next_run": schedule.trigger.get_next_fire_time(None, now),
                "last_run": _run_data(run) if run else None,
            }
        )
    reasons = attention(
        now=now,
        failing_sources=failing,
        sends=sends,
        complaint=(bounced.number, bounced.complaint_rate) if bounced else None,
        complaint_warn_rate=app.settings.bounces.complaint_warn_rate,
        running=running,
        last_holder=last_holder,
    )
    return {
        "daemon": {
            "running": running is not None,
            "holder": running.as_dict() if running else None,
            "last_holder": last_holder.as_dict() if last_holder else None,
            "timezone": app.settings.schedule.timezone,
        },
        "jobs": jobs,
        "sending": [dataclasses.asdict(send) for send in sends],
        "failures": {
            "sources": failing,
            "last_failed_job": _run_data(failed) if failed else None,
        },
        "attention": reasons,
    }


def _run_data(run: JobRunView) -> dict[str, object]:
    return {
        "job": run.job,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": str(run.outcome),
        "line": run.line,
    }


def _print_status(
    data: dict[str, Any], source_count: int, has_issue: bool, bounced: IssueBounces | None
) -> None:
    click.echo(f"settings     {data['settings']}\ndatabase     {data['database']}")
    counts = f" ({_pairs(data['sources'])})" if source_count else ""
    click.echo(f"sources      {source_count or 'none'}{counts}")
    click.echo(f"items        {_pairs(data['items']) or 'none'}")
    click.echo(f"subscribers  {_pairs(data['subscribers']) or 'none'}")
    issue = data["latest_issue"]
    if has_issue:
        click.echo(
            f"latest issue #{issue['number']} {issue['status']}: {issue['subject']}"
            + (
                f"\n             deliveries: {_pairs(issue['deliveries'])}"
                if issue["deliveries"]
                else ""
            )
            + (
                f"\n             not sent yet: {issue['not_sent_because']}"
                if issue["not_sent_because"]
                else ""
            )
        )
    else:
        click.echo("latest issue none yet")
    if bounced is not None:
        from digest.cli.bounce_reports import rates_line

        click.echo(f"bounces      {rates_line(bounced)}")
    daemon = data["daemon"]
    holder, last = daemon["holder"], daemon["last_holder"]
    if holder:
        line = f"running on {holder['host']} (pid {holder['pid']}) since {when(holder['since'])}"
    elif last:
        line = f"not running (last seen {when(last['heartbeat_at'])} on {last['host']})"
    else:
        line = "not running (never started on this database)"
    click.echo(f"scheduler    {line}")
    zone = daemon["timezone"]
    for job in data["jobs"]:
        last_run = job["last_run"]
        done = (
            f"last {when(last_run['started_at'])} {last_run['outcome']}"
            + (f": {last_run['line']}" if last_run["line"] else "")
            if last_run
            else "never run"
        )
        click.echo(
            f"  {job['job']:<13}next {_local(job['next_run'], zone)}  ({job['schedule']}); {done}"
        )
    failed = data["failures"]["last_failed_job"]
    if failed:
        click.echo(
            f"last failure {failed['job']} at {when(failed['started_at'])}: {failed['line']}"
        )


def _local(value: datetime | None, zone: str) -> str:
    """A job's next run in the schedule's time zone, as its crontab line reads."""
    if value is None:
        return "never"
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


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
@click.option(
    "--once",
    is_flag=True,
    help="Run every job that is due now (unfinished sends, retries, a missed week within "
    "schedule.catch_up_hours, ...) and exit: 1 when a job failed. For cron or a systemd timer.",
)
@pass_app
def scheduler_command(app: App, once: bool) -> None:
    """Run the scheduler daemon: collect, send the weekly issue, retry deferred deliveries,
    ingest bounces and keep house, each on its schedule setting.

    It also continues unfinished sends and retries (schedule.retry_cron), ingests bounces
    (schedule.bounce_cron, with a bounce mailbox), does housekeeping
    (schedule.housekeeping_cron) and, with schedule.proof_hours_before, mails a proof to
    schedule.editors ahead of each send. A weekly send missed while it was down runs at
    start-up within schedule.catch_up_hours, and is skipped (said so) after.
    """
    import scheduler

    if once:
        sys.exit(scheduler.once(app.settings, app.clock))
    scheduler.run(app.settings)
